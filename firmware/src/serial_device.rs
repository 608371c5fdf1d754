//! [`SerialDevice`]: the protocol's device for the head `serial_sizes.rs` describes, for the
//! QEMU `serial` firmware, the real boards (`boards/shared`), the host test
//! `protocol/tests/window.rs` and the `serial` fuzz target (the last three include this file by
//! path, beside `serial_sizes.rs`: its parent module has both).

use super::serial_sizes as sizes;

/// The device serving head [`sizes::HEAD`] of the model `serial_sizes.rs` is for (the
/// multi-head fixture's, or in the `serial` firmware the one chosen at build time: up to
/// [`sizes::K_MAX`] support samples, its class bank), its slots on the flash `F`: the `Device`
/// that `trainer inspect --rust --device` writes.
pub type SerialDevice<'m, F> = sizes::Device<'m, F>;
