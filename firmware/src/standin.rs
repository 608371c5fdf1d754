//! A stand-in computation until the runtime's API lands: a 1-40-40-1 ReLU
//! MLP with deterministic weights and head-only gradient steps, written
//! inline. The demo and the benchmark use it to exercise the whole chain.
// Index loops mirror the matrix formulas.
#![allow(clippy::needless_range_loop)]

/// Hidden width.
pub const H: usize = 40;

/// Deterministic pseudo-random numbers in [-1, 1) (an LCG, no floats involved).
pub struct Lcg(pub u32);
impl Lcg {
    pub fn uniform(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        ((self.0 >> 8) as f32) / ((1u32 << 23) as f32) - 1.0
    }
}

pub struct Mlp {
    pub w1: [f32; H],
    pub b1: [f32; H],
    pub w2: [[f32; H]; H],
    pub b2: [f32; H],
    pub w3: [f32; H],
    pub b3: f32,
}

impl Mlp {
    pub fn new(seed: u32) -> Self {
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
            m.w1[i] = r.uniform();
            m.b1[i] = r.uniform();
            m.b2[i] = 0.1 * r.uniform();
            m.w3[i] = 0.2 * r.uniform();
            for j in 0..H {
                m.w2[i][j] = 0.3 * r.uniform();
            }
        }
        m
    }

    /// Features of the last hidden layer.
    pub fn features(&self, x: f32) -> [f32; H] {
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

    pub fn head(&self, f: &[f32; H]) -> f32 {
        let mut acc = self.b3;
        for i in 0..H {
            acc += self.w3[i] * f[i];
        }
        acc
    }
}

/// A cheap odd polynomial standing in for sin on [-1, 1] (no libm on device).
pub fn target(x: f32) -> f32 {
    x - x * x * x / 6.0 + x * x * x * x * x / 120.0
}

pub fn mse(m: &Mlp, xs: &[f32], ys: &[f32]) -> f32 {
    let mut s = 0.0;
    for (x, y) in xs.iter().zip(ys) {
        let d = m.head(&m.features(*x)) - y;
        s += d * d;
    }
    s / xs.len() as f32
}

/// One head-only gradient step on `feats`/`ys` (MSE); returns the loss
/// before the step.
pub fn head_step(m: &mut Mlp, feats: &[[f32; H]], ys: &[f32], lr: f32) -> f32 {
    let k = feats.len().max(1) as f32;
    let mut gw = [0.0f32; H];
    let mut gb = 0.0f32;
    let mut loss = 0.0f32;
    for (f, y) in feats.iter().zip(ys) {
        let d = m.head(f) - y;
        loss += d * d;
        for j in 0..H {
            gw[j] += 2.0 * d * f[j];
        }
        gb += 2.0 * d;
    }
    for j in 0..H {
        m.w3[j] -= lr * gw[j] / k;
    }
    m.b3 -= lr * gb / k;
    loss / k
}
