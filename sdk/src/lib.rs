//! OutLayer guest SDK (skeleton; see issue 3).
wit_bindgen::generate!({
    path: "../wit",
    world: "outlayer:guest/command",
    generate_all,
});
