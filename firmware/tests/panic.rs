//! A panic must end the run with status 101, never hang (expected/panic.txt).
#![no_std]
#![no_main]

use fewshot_firmware as fw;

#[fewshot_firmware::entry]
fn main() -> ! {
    fw::init("panic");
    let v: [u32; 2] = [1, 2];
    let i = core::hint::black_box(5usize);
    // An out-of-bounds index: the panic handler must exit 101.
    let x = v[i];
    defmt::error!("unreachable {=u32}", x);
    fw::exit(0)
}
