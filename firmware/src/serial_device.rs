//! [`SerialDevice`]: the protocol's device for the head `serial_sizes.rs` describes, for the
//! QEMU `serial` firmware, the real boards (`boards/shared`), the host test
//! `protocol/tests/window.rs` and the `serial` fuzz target (the last three include this file by
//! path, beside `serial_sizes.rs`: its parent module has both).

use super::serial_sizes as sizes;
use fewshot_protocol::device::Device;

/// The device serving head [`sizes::HEAD`] of the multi-head fixture (up to [`sizes::K_MAX`]
/// support samples, its class bank), its slots on the flash `F`.
pub type SerialDevice<'m, F> = Device<
    'm,
    F,
    { sizes::PARAMS },
    { sizes::SCRATCH },
    { sizes::LOSS_LOG },
    { sizes::K_MAX },
    { sizes::INPUTS },
    1,
    { sizes::BANK },
    { sizes::BANK_SCRATCH },
>;
