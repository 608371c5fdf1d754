#![no_std]
#![no_main]
use fewshot_firmware as fw;
#[cortex_m_rt::entry]
fn main() -> ! {
    fw::init("bench");
    fw::finish(0)
}
