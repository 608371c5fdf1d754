//! Arbitrary byte streams into the device side of the serial protocol (frames, requests,
//! samples, saves, signed updates), as the `serial` firmware receives them from its UART.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fewshot_fuzz::serial::serial(data);
});
