//! A HardFault must end the run with status 102, never hang
//! (expected/hardfault.txt).
#![no_std]
#![no_main]

use fewshot_firmware as fw;

#[fewshot_firmware::entry]
fn main() -> ! {
    fw::init("hardfault");
    // Reading from an address that maps to nothing on mps2 faults.
    let bad = core::hint::black_box(0xF000_0000usize) as *const u32;
    // SAFETY: none; the fault is the point of this test.
    let x = unsafe { core::ptr::read_volatile(bad) };
    defmt::error!("unreachable {=u32}", x);
    fw::exit(0)
}
