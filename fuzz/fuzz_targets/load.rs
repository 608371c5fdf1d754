//! Arbitrary bytes -> `signature::open` (a signed envelope under the firmware's test key) and
//! `Model::from_bytes`, as given and with the CRC trailer fixed up (so the
//! fuzzer reaches the header decoder and the validator, not only the CRC check); every model
//! that loads is run: inference on every head, adaptation of every adaptable head.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fewshot_fuzz::load(data);
});
