//! The model the boards serve and its sizes (`firmware/serial_model.rs`: the multi-head
//! fixture, or `FEWSHOT_SERIAL_MODEL` and `FEWSHOT_SERIAL_SIZES`).
use std::path::PathBuf;

#[path = "../../firmware/serial_model.rs"]
mod serial_model;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    serial_model::write_serial_model(&dir.join("../.."));
}
