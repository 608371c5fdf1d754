//! Profiling template (copy to `firmware/src/bin/zz_prof.rs`; never commit it there): the code
//! between `zz_mark(1)` and `zz_mark(2)` is what `seg.py` counts. Here: one keyword int8
//! trunk inference.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use fewshot_firmware::fixtures::keyword as fx;
use fewshot_runtime::Model;

/// The marker `seg.py` looks for (by name).
#[no_mangle]
#[inline(never)]
pub extern "C" fn zz_mark(i: u32) -> u32 {
    black_box(i)
}

#[entry]
fn main() -> ! {
    let mut failures = 0;
    let mut x = [0.0f32; 1960];
    let mut s = 12345u32;
    for v in x.iter_mut() {
        s = s.wrapping_mul(1664525).wrapping_add(1013904223);
        *v = ((s >> 8) as f32 / 16_777_216.0) * 6.0 - 3.0;
    }
    let mut scratch = [0.0f32; fewshot_firmware::sizes::keyword::SCRATCH];
    let mut out = [0.0f32; 64];
    if let Ok(model) = Model::from_bytes(fx::MODEL) {
        let f = model.feature_len().min(out.len());
        zz_mark(1);
        let r = model
            .network()
            .features(black_box(&x), &mut scratch, &mut out[..f]);
        zz_mark(2);
        failures += r.is_err() as i32;
    } else {
        failures += 1;
    }
    black_box(&out);
    fewshot_firmware::exit(failures)
}
