//! The demo that `cargo qemu` runs.
//!
//! Until the runtime's model format lands, this exercises the whole chain
//! (build, link budget, QEMU, defmt decoding, exit status, bit-exact output
//! on M4F and M3) with a small self-contained computation: a 1-40-40-1 ReLU
//! MLP with deterministic weights, whose output layer is adapted on a
//! sinusoid task by a few gradient steps; it logs the query MSE before and
//! after and the bit pattern of every query output.
#![no_std]
#![no_main]
// Index loops mirror the matrix formulas of this stand-in computation.
#![allow(clippy::needless_range_loop)]

use cortex_m_rt::entry;
use fewshot_firmware as fw;

use fewshot_firmware::standin::{head_step, mse, target, Lcg, Mlp, H};

const K: usize = 10;
const Q: usize = 8;

#[entry]
fn main() -> ! {
    fw::init("demo (inline MLP, runtime pending)");
    let mut m = Mlp::new(0x5eed);
    let mut r = Lcg(7);
    let mut sx = [0.0f32; K];
    let mut sy = [0.0f32; K];
    for i in 0..K {
        sx[i] = r.uniform();
        sy[i] = target(sx[i]);
    }
    let mut qx = [0.0f32; Q];
    let mut qy = [0.0f32; Q];
    for i in 0..Q {
        qx[i] = r.uniform();
        qy[i] = target(qx[i]);
    }
    let before = mse(&m, &qx, &qy);
    // Head-only adaptation: features once, then gradient steps on the head.
    let mut feats = [[0.0f32; H]; K];
    for i in 0..K {
        feats[i] = m.features(sx[i]);
    }
    let lr = 0.05;
    for step in 0..5u32 {
        let loss = head_step(&mut m, &feats, &sy, lr);
        defmt::info!("step {=u32}: support loss {=f32}", step, loss);
    }
    let after = mse(&m, &qx, &qy);
    defmt::info!("query MSE before {=f32} after {=f32}", before, after);
    for (i, x) in qx.iter().enumerate() {
        let y = m.head(&m.features(*x));
        defmt::info!("query {=usize}: y bits {=u32:#010x}", i, y.to_bits());
    }
    fw::finish(if after < before { 0 } else { 1 })
}
