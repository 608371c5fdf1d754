//! Test helpers: a seeded RNG, random models, and a straightforward f64 reference of the
//! runtime's maths (exact `exp`/`tanh`, no micromath).
#![allow(dead_code)]

pub mod sim_flash;

use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
use fewshot_runtime::{Activation, AdaptScope, HeadKind};

/// xorshift64*: deterministic, dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.range(-scale, scale)).collect()
    }
}

pub fn dense(rng: &mut Rng, inputs: usize, outputs: usize, act: Activation) -> Dense {
    let scale = (2.0 / inputs as f32).sqrt();
    Dense::new(
        inputs,
        outputs,
        act,
        rng.vec(inputs * outputs, scale),
        rng.vec(outputs, 0.3),
    )
}

/// A random model: trunk widths, one head with the given layers' widths, kind and scope.
pub fn random_model(
    rng: &mut Rng,
    input: usize,
    trunk: &[(usize, Activation)],
    head: &[(usize, Activation)],
    classification: bool,
    adapt: Option<AdaptDef>,
) -> ModelDef {
    let mut def = ModelDef::new("random", input);
    def.normalisation = Some((
        rng.vec(input, 0.5),
        (0..input).map(|_| rng.range(0.5, 1.5)).collect(),
    ));
    let mut width = input;
    for &(w, act) in trunk {
        def = def.trunk(dense(rng, width, w, act));
        width = w;
    }
    let mut layers = Vec::new();
    for &(w, act) in head {
        layers.push(dense(rng, width, w, act));
        width = w;
    }
    let mut h = if classification {
        HeadDef::classification(7, "head", layers)
    } else {
        HeadDef::regression(7, "head", layers)
    };
    h.adapt = adapt;
    def.head(h)
}

pub fn adapt_def(scope: AdaptScope, rate: RateDef) -> AdaptDef {
    AdaptDef::new(scope, 1, rate, 1.0e6)
}

// ---------- f64 reference ----------

pub fn act64(act: Activation, z: f64) -> f64 {
    match act {
        Activation::Identity => z,
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
    }
}

/// inputs, outputs, activation, W, b.
pub type RefLayer = (usize, usize, Activation, Vec<f64>, Vec<f64>);

/// The f64 chain (trunk then head `h`) of a definition.
#[derive(Clone)]
pub struct RefNet {
    pub shift: Vec<f64>,
    pub scale: Vec<f64>,
    pub layers: Vec<RefLayer>,
    pub classification: bool,
}

impl RefNet {
    pub fn new(def: &ModelDef, head: usize) -> Self {
        let (shift, scale) = match &def.normalisation {
            Some((s, c)) => (
                s.iter().map(|&v| v as f64).collect(),
                c.iter().map(|&v| v as f64).collect(),
            ),
            None => (vec![0.0; def.input_len], vec![1.0; def.input_len]),
        };
        let layers = def
            .trunk
            .iter()
            .chain(def.heads[head].layers.iter())
            .map(|d| {
                (
                    d.inputs,
                    d.outputs,
                    d.activation,
                    d.weights.iter().map(|&v| v as f64).collect(),
                    d.bias.iter().map(|&v| v as f64).collect(),
                )
            })
            .collect();
        RefNet {
            shift,
            scale,
            layers,
            classification: matches!(def.heads[head].kind, HeadKind::Classification { .. }),
        }
    }

    pub fn forward(&self, x: &[f32]) -> Vec<f64> {
        let mut a: Vec<f64> = x
            .iter()
            .zip(&self.shift)
            .zip(&self.scale)
            .map(|((&x, s), c)| (x as f64 - s) * c)
            .collect();
        for (i, o, act, w, b) in &self.layers {
            a = (0..*o)
                .map(|r| {
                    act64(
                        *act,
                        b[r] + (0..*i).map(|j| w[r * i + j] * a[j]).sum::<f64>(),
                    )
                })
                .collect();
        }
        a
    }

    /// Outputs as the runtime reports them (softmax for classification).
    pub fn predict(&self, x: &[f32]) -> Vec<f64> {
        let z = self.forward(x);
        if !self.classification {
            return z;
        }
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    /// Support loss: MSE over all outputs, or mean cross-entropy.
    pub fn loss(&self, inputs: &[f32], d: usize, values: &[f32], labels: &[u16]) -> f64 {
        let k = inputs.len() / d;
        let mut total = 0.0;
        for s in 0..k {
            let z = self.forward(&inputs[s * d..(s + 1) * d]);
            if self.classification {
                let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                total += lse - z[labels[s] as usize];
            } else {
                let o = z.len();
                for (j, y) in z.iter().enumerate() {
                    let e = y - values[s * o + j] as f64;
                    total += e * e / o as f64;
                }
            }
        }
        total / k as f64
    }

    /// The parameters the runtime adapts, in the state's order: `(layer, is_bias, index)`.
    pub fn adapted(&self, first: usize, biases_only: bool) -> Vec<(usize, bool, usize)> {
        let mut v = Vec::new();
        for l in first..self.layers.len() {
            let (_, o, _, w, _) = &self.layers[l];
            if !biases_only {
                v.extend((0..w.len()).map(|i| (l, false, i)));
            }
            v.extend((0..*o).map(|i| (l, true, i)));
        }
        v
    }

    pub fn param_mut(&mut self, p: (usize, bool, usize)) -> &mut f64 {
        let layer = &mut self.layers[p.0];
        if p.1 {
            &mut layer.4[p.2]
        } else {
            &mut layer.3[p.2]
        }
    }
}
