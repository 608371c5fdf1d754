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

const H: usize = 40;
const K: usize = 10;
const Q: usize = 8;

/// Deterministic pseudo-random numbers in [-1, 1) (an LCG, no floats involved).
struct Lcg(u32);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        ((self.0 >> 8) as f32) / ((1u32 << 23) as f32) - 1.0
    }
}

struct Mlp {
    w1: [f32; H],
    b1: [f32; H],
    w2: [[f32; H]; H],
    b2: [f32; H],
    w3: [f32; H],
    b3: f32,
}

impl Mlp {
    fn new(seed: u32) -> Self {
        let mut r = Lcg(seed);
        let mut m = Mlp {
            w1: [0.0; H],
            b1: [0.0; H],
            w2: [[0.0; H]; H],
            b2: [0.0; H],
            w3: [0.0; H],
            b3: 0.0,
        };
        for i in 0..H {
            m.w1[i] = r.next();
            m.b1[i] = r.next();
            m.b2[i] = 0.1 * r.next();
            m.w3[i] = 0.2 * r.next();
            for j in 0..H {
                m.w2[i][j] = 0.3 * r.next();
            }
        }
        m
    }

    /// Features of the last hidden layer.
    fn features(&self, x: f32) -> [f32; H] {
        let mut h1 = [0.0f32; H];
        for i in 0..H {
            h1[i] = (self.w1[i] * x + self.b1[i]).max(0.0);
        }
        let mut h2 = [0.0f32; H];
        for i in 0..H {
            let mut acc = self.b2[i];
            for j in 0..H {
                acc += self.w2[i][j] * h1[j];
            }
            h2[i] = acc.max(0.0);
        }
        h2
    }

    fn head(&self, f: &[f32; H]) -> f32 {
        let mut acc = self.b3;
        for i in 0..H {
            acc += self.w3[i] * f[i];
        }
        acc
    }
}

/// A cheap odd polynomial standing in for sin on [-1, 1] (no libm on device).
fn target(x: f32) -> f32 {
    x - x * x * x / 6.0 + x * x * x * x * x / 120.0
}

fn mse(m: &Mlp, xs: &[f32], ys: &[f32]) -> f32 {
    let mut s = 0.0;
    for (x, y) in xs.iter().zip(ys) {
        let d = m.head(&m.features(*x)) - y;
        s += d * d;
    }
    s / xs.len() as f32
}

#[entry]
fn main() -> ! {
    fw::init("demo (inline MLP, runtime pending)");
    let mut m = Mlp::new(0x5eed);
    let mut r = Lcg(7);
    let mut sx = [0.0f32; K];
    let mut sy = [0.0f32; K];
    for i in 0..K {
        sx[i] = r.next();
        sy[i] = target(sx[i]);
    }
    let mut qx = [0.0f32; Q];
    let mut qy = [0.0f32; Q];
    for i in 0..Q {
        qx[i] = r.next();
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
        let mut gw = [0.0f32; H];
        let mut gb = 0.0f32;
        let mut loss = 0.0f32;
        for i in 0..K {
            let d = m.head(&feats[i]) - sy[i];
            loss += d * d;
            for j in 0..H {
                gw[j] += 2.0 * d * feats[i][j];
            }
            gb += 2.0 * d;
        }
        for j in 0..H {
            m.w3[j] -= lr * gw[j] / K as f32;
        }
        m.b3 -= lr * gb / K as f32;
        defmt::info!("step {=u32}: support loss {=f32}", step, loss / K as f32);
    }
    let after = mse(&m, &qx, &qy);
    defmt::info!("query MSE before {=f32} after {=f32}", before, after);
    for (i, x) in qx.iter().enumerate() {
        let y = m.head(&m.features(*x));
        defmt::info!("query {=usize}: y bits {=u32:#010x}", i, y.to_bits());
    }
    fw::finish(if after < before { 0 } else { 1 })
}
