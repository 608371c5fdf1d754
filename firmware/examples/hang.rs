//! Never exits: `cargo run --release --example hang` must fail after the
//! runner's timeout (`QEMU_TIMEOUT=2`), not block. A manual check of the
//! guard; not run by CI (it would cost the timeout).
#![no_std]
#![no_main]

use fewshot_firmware as fw;

#[cortex_m_rt::entry]
fn main() -> ! {
    fw::init("hang");
    loop {
        cortex_m::asm::nop();
    }
}
