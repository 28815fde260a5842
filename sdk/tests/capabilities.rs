//! The SDK's own capability list (it depends on nothing but its WIT) names the same
//! capabilities, in the same order and spelling, as the wire model's `Capability::ALL`.

use outlayer_sdk::Capability;

#[test]
fn the_sdk_capabilities_are_the_protocol_capabilities() {
    let sdk: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
    let protocol: Vec<&str> = outlayer_protocol::Capability::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(sdk, protocol, "outlayer_sdk::Capability::ALL vs outlayer_protocol::Capability::ALL");
    for cap in Capability::ALL {
        let parsed: outlayer_protocol::Capability = cap.name().parse().expect("the protocol parses the SDK's name");
        assert_eq!(parsed.to_string(), cap.to_string());
    }
}
