//! A valid real model (the firmware fixtures), then fuzzed support sets, labels, K, step counts,
//! scratch and log sizes into `AdaptState::adapt`, and fuzzed inputs and buffers into
//! `Network::infer`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: fewshot_fuzz::AdaptInput| {
    fewshot_fuzz::adapt(&input);
});
