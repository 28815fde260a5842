//! Measurements and the operator allowlist file format.

use outlayer_attest::testdata::sample_measurements;
use outlayer_attest::*;

#[test]
fn allowlist_file_round_trips_and_accepts_upper_case() {
    let list = Allowlist(vec![sample_measurements()]);
    let json = list.to_json();
    assert!(json.contains(&format!("\"mrtd\": \"{}\"", sample_measurements().mrtd)), "{json}");
    assert_eq!(Allowlist::from_json(&json).unwrap(), list);
    assert_eq!(Allowlist::from_json(&json.to_uppercase().replace("MRTD", "mrtd").replace("RTMR", "rtmr")).unwrap(), list);
    assert!(list.contains(&sample_measurements()));
}

#[test]
fn bad_registers_are_named() {
    let ok = "ab".repeat(48);
    assert!(Measurements::from_hex(&ok, &ok, &ok, &ok, &ok).is_ok());
    let err = Measurements::from_hex(&ok, &ok, "00", &ok, &ok).unwrap_err();
    assert_eq!(err.register, "rtmr1");
    let err = Allowlist::from_json(r#"[{"mrtd":"00","rtmr0":"","rtmr1":"","rtmr2":"","rtmr3":""}]"#).unwrap_err();
    assert!(err.to_string().contains("48 bytes of hex"), "{err}");
    // A typo in a field name is an error, not a silently ignored register.
    let typo = format!(r#"[{{"mrtd":"{ok}","rtmr0":"{ok}","rtmr1":"{ok}","rtmr2":"{ok}","rtmr3":"{ok}","rtmr4":"{ok}"}}]"#);
    assert!(Allowlist::from_json(&typo).is_err());
}
