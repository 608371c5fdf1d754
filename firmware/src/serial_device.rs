//! [`SerialDevice`]: the protocol's device for the head `serial_sizes.rs` describes, for the
//! QEMU `serial` firmware, the real boards (`boards/shared`), the host test
//! `protocol/tests/window.rs` and the `serial` fuzz target (the last three include this file by
//! path, beside `serial_sizes.rs`: its parent module has both); [`start`], how the firmware and
//! the boards make it at boot, serving an installed update in place from their flash.

use super::serial_sizes as sizes;

/// The device serving head [`sizes::HEAD`] of the model `serial_sizes.rs` is for (the
/// multi-head fixture's, or in the `serial` firmware the one chosen at build time: up to
/// [`sizes::K_MAX`] support samples, its class bank), its slots on the flash `F`: the `Device`
/// that `trainer inspect --rust --device` writes.
pub type SerialDevice<'m, F> = sizes::Device<'m, F>;

use core::mem::MaybeUninit;
use fewshot_protocol::device::{Device, Layout};
use fewshot_protocol::Reply;
use fewshot_runtime::signature::PublicKey;
use fewshot_runtime::update::MappedFlash;
use fewshot_runtime::{Error, Model};

/// Where [`start`] puts what it keeps: the model served and the device, each a firmware's
/// `static` (`StaticCell`), so the linker counts them against the RAM.
pub struct Statics<F: 'static> {
    /// The model served.
    pub served: &'static mut MaybeUninit<Model<'static>>,
    /// The device, built in place ([`Device::init`]).
    pub device: &'static mut MaybeUninit<SerialDevice<'static, F>>,
}

/// At boot: the device for head [`sizes::HEAD`] on `flash` as `layout` places its records,
/// serving the signed update installed in its model slots when one verifies, loads and fits
/// these sizes (read in place: no RAM holds a copy), else `built_in` (`refused` is told why an
/// installed one was not taken). What was saved before the reset (the adapted state and the
/// class bank, if this model's) is restored (`Device::restore_saved`), and `restored` is given
/// both replies. Returns the model served and the device.
///
/// # Safety
/// `flash.mapped()` is memory that stays readable at the same address for the rest of the
/// program, wherever the handle `flash` is moved (a part's memory-mapped flash, or a `static`):
/// the device this returns is its only writer, and it refuses an update into the slot it
/// serves from.
pub unsafe fn start<F: MappedFlash>(
    mut flash: F,
    layout: &Layout,
    key: PublicKey,
    built_in: Model<'static>,
    statics: Statics<F>,
    refused: impl FnOnce(Error),
    restored: impl FnOnce(&Reply, &Reply),
) -> Result<
    (
        &'static Model<'static>,
        &'static mut SerialDevice<'static, F>,
    ),
    Error,
> {
    // SAFETY: the caller's contract; the device below is the flash's only writer.
    let installed =
        unsafe { SerialDevice::<'_, F>::installed(&mut flash, layout, key, sizes::HEAD) }
            .unwrap_or_else(|e| {
                refused(e);
                None
            });
    let model: &'static Model<'static> = statics.served.write(installed.unwrap_or(built_in));
    let device = Device::init(statics.device, model, sizes::HEAD, flash, layout, key)?;
    let (state, bank) = device.restore_saved();
    restored(&state, &bank);
    Ok((model, device))
}
