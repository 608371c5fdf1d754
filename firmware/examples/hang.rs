//! Never exits: `cargo run --release --example hang` must fail after the
//! runner's timeout (`QEMU_TIMEOUT=2`), not block. A manual check of the
//! guard; not run by CI (it would cost the timeout).
#![no_std]
#![no_main]

use fewshot_firmware as fw;

#[fw::entry]
fn main() -> ! {
    fw::init("hang");
    loop {
        core::hint::spin_loop();
    }
}
