//! [`SerialDevice`]: the protocol's device for the head `serial_sizes.rs` describes, for the
//! QEMU `serial` firmware, the real boards (`boards/shared`), the host test
//! `protocol/tests/window.rs` and the `serial` fuzz target (the last three include this file by
//! path, beside `serial_sizes.rs`: its parent module has both); [`start`], how the firmware and
//! the boards make it at boot.

use super::serial_sizes as sizes;

/// The device serving head [`sizes::HEAD`] of the model `serial_sizes.rs` is for (the
/// multi-head fixture's, or in the `serial` firmware the one chosen at build time: up to
/// [`sizes::K_MAX`] support samples, its class bank), its slots on the flash `F`: the `Device`
/// that `trainer inspect --rust --device` writes.
pub type SerialDevice<'m, F> = sizes::Device<'m, F>;

use core::mem::MaybeUninit;
use fewshot_protocol::device::{Device, Layout};
use fewshot_runtime::signature::PublicKey;
use fewshot_runtime::update::MappedFlash;
use fewshot_runtime::{Error, Model};

/// Words of RAM an installed model update is copied into: the largest update the device takes
/// ([`sizes::UPDATE_BYTES`]; a larger one is refused when it is offered).
pub const MODEL_RAM_WORDS: usize = sizes::UPDATE_BYTES.div_ceil(4);

/// Where [`start`] puts what it keeps: the copy of an installed update (at least
/// [`MODEL_RAM_WORDS`]), the model served and the device, each a firmware's `static`
/// (`StaticCell`), so the linker counts them against the RAM.
pub struct Statics<F: 'static> {
    /// The RAM an installed update is copied into (the device owns the flash).
    pub ram: &'static mut [u32],
    /// The model served.
    pub served: &'static mut MaybeUninit<Model<'static>>,
    /// The device, built in place ([`Device::init`]).
    pub device: &'static mut MaybeUninit<SerialDevice<'static, F>>,
}

/// At boot: the device for head [`sizes::HEAD`] on `flash` as `layout` places its records,
/// serving the signed update installed in its model slots when one verifies, loads and fits
/// these sizes, else `built_in` (`refused` is told why an installed one was not taken).
/// Returns the model served and the device.
pub fn start<F: MappedFlash>(
    mut flash: F,
    layout: &Layout,
    key: PublicKey,
    built_in: Model<'static>,
    statics: Statics<F>,
    refused: impl FnOnce(Error),
) -> Result<
    (
        &'static Model<'static>,
        &'static mut SerialDevice<'static, F>,
    ),
    Error,
> {
    let installed =
        SerialDevice::<'_, F>::installed(&mut flash, layout, key, statics.ram, sizes::HEAD)
            .unwrap_or_else(|e| {
                refused(e);
                None
            });
    let model: &'static Model<'static> = statics.served.write(installed.unwrap_or(built_in));
    let device = Device::init(statics.device, model, sizes::HEAD, flash, layout, key)?;
    Ok((model, device))
}
