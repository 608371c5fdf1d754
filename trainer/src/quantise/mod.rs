//! Post-training int8 quantisation of a trained f32 trunk, with TFLite Micro semantics (the
//! runtime's `math::int8`): per-output-channel symmetric int8 weights (`s_w[c] = max |w| / 127`),
//! per-tensor asymmetric int8 activations whose ranges are calibrated on rows of the training
//! classes, int32 biases `round(b / (s_in s_w[c]))`, Q31 multipliers and shifts
//! `s_in s_w[c] / s_out`. ReLU and identity activations are quantised (a ReLU is the clamp at
//! the output zero point); tanh and sigmoid are refused. Pools keep their input's scale and
//! zero point.
//!
//! The host forward ([`QuantTrunk::features`]) calls the runtime's int8 kernels, so the host
//! computes the device's integers; its int8 output is dequantised to the f32 features the
//! adaptable head starts from. [`export`] writes the quantised trunk as the runtime's int8 stem.

mod calibrate;
pub mod export;
mod layer;
pub mod report;

pub use calibrate::{calibration_rows, Ranges};
pub use layer::{QLayer, QWeights};

use crate::net::Arch;
use anyhow::{bail, Result};
use runtime::math::int8::{dequantize, quantize, QuantParams};

/// Scale and zero point covering `[lo, hi]` (widened to contain 0, as TFLite requires: real 0
/// must be exact, it is the padding and the ReLU floor).
pub fn params_for(lo: f64, hi: f64) -> QuantParams {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = ((hi - lo) / 255.0).max(1e-8);
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
    QuantParams {
        scale: scale as f32,
        zero_point: zp,
    }
}

/// A quantised trunk: its first layers kept in f32 (none by default), the parameters of the
/// map it quantises, its int8 layers, the output's parameters.
#[derive(Clone, Debug)]
pub struct QuantTrunk {
    /// The layers before the quantise step (convolutions and pools only) and their f32
    /// parameters: the trunk cut after them, which the host runs.
    f32_prefix: (Arch, Vec<f32>),
    /// The quantised map: the input's, or the last f32 layer's output's.
    pub input: QuantParams,
    /// The int8 layers: the trunk's layers after the f32 ones.
    pub layers: Vec<QLayer>,
    pub output: QuantParams,
    pub inputs: usize,
    pub features: usize,
}

impl QuantTrunk {
    /// Quantises `arch` (every layer) with `params`, its activation ranges measured on the
    /// normalised calibration rows `calib` (`rows x arch.inputs`).
    pub fn new(arch: &Arch, params: &[f64], calib: &[f32], ranges: Ranges) -> Result<Self> {
        Self::with_f32_layers(arch, params, calib, ranges, 0)
    }

    /// As [`QuantTrunk::new`], its first `f32_layers` layers kept in f32 (convolutions and
    /// pools: a thin first layer, whose outputs each see a few inputs, costs more in int8 than
    /// in f32 on the device), the map after them quantised.
    pub fn with_f32_layers(
        arch: &Arch,
        params: &[f64],
        calib: &[f32],
        ranges: Ranges,
        f32_layers: usize,
    ) -> Result<Self> {
        if params.len() < arch.n_params() {
            bail!(
                "{} parameters for a trunk of {}",
                params.len(),
                arch.n_params()
            );
        }
        if f32_layers >= arch.layers.len() {
            bail!(
                "--f32-layers {f32_layers}: the trunk has {} layers, and at least one must be int8",
                arch.layers.len()
            );
        }
        if let Some((l, s)) = arch.layers[..f32_layers]
            .iter()
            .enumerate()
            .find(|(_, s)| matches!(s.op, crate::net::Op::Dense | crate::net::Op::Flatten))
        {
            bail!(
                "--f32-layers {f32_layers}: layer {l} is a {} layer; only convolutions and pools run in f32 before the int8 ones",
                s.op.name()
            );
        }
        let bounds = calibrate::measure(arch, params, calib, ranges)?;
        let (lo, hi) = bounds[f32_layers];
        let input = params_for(lo, hi);
        let mut layers = Vec::new();
        let mut cur = input;
        for (l, spec) in arch.layers.iter().enumerate().skip(f32_layers) {
            let (lo, hi) = bounds[l + 1];
            let p = &params[arch.w_off(l)..arch.end_off(l)];
            let q = QLayer::new(l, spec, p, cur, params_for(lo, hi))?;
            cur = q.output();
            layers.push(q);
        }
        let prefix = Arch {
            layers: arch.layers[..f32_layers].to_vec(),
            n_trunk: f32_layers,
            ..arch.clone()
        };
        let prefix_params = params[..prefix.n_params()]
            .iter()
            .map(|&v| v as f32)
            .collect();
        Ok(QuantTrunk {
            f32_prefix: (prefix, prefix_params),
            input,
            layers,
            output: cur,
            inputs: arch.inputs,
            features: arch.outputs(),
        })
    }

    /// The layers kept in f32 before the quantise step.
    pub fn f32_layers(&self) -> usize {
        self.f32_prefix.0.layers.len()
    }

    /// The trunk's f32 features of one normalised sample: its f32 layers (the trainer's
    /// forward), then the runtime's int8 kernels.
    pub fn features(&self, x: &[f32], out: &mut [f32]) -> Result<()> {
        let mut fwd = crate::net::Fwd::default();
        let quantised = match self.f32_layers() {
            0 => x,
            n => {
                let (prefix, p) = &self.f32_prefix;
                crate::net::forward(prefix, p, x, 1, &mut fwd, 0);
                &fwd.ys[n]
            }
        };
        let mut a = vec![0i8; quantised.len()];
        quantize(quantised, self.input, &mut a)?;
        let mut scratch = Vec::new();
        for l in &self.layers {
            a = l.run(&a, &mut scratch)?;
        }
        dequantize(&a, self.output, out)?;
        Ok(())
    }

    /// Bytes of the trunk's tensors as the model file stores them: the f32 layers' weights and
    /// biases, then the int8 ones' weights four to a word and per channel an int32 bias,
    /// multiplier and shift and an f32 weight scale (what `inspect` counts for an int8 stem).
    pub fn bytes(&self) -> usize {
        4 * self.f32_prefix.1.len() + self.layers.iter().map(QLayer::bytes).sum::<usize>()
    }
}

/// Bytes of the f32 trunk's weights and biases.
pub fn f32_bytes(arch: &Arch) -> usize {
    4 * arch.n_params()
}

/// Which queries of every episode the prototype head (and its inner steps in f32, as on the
/// device) classifies right with the int8 trunk's features, in query order.
pub fn episode_hits(
    q: &QuantTrunk,
    arch: &Arch,
    eps: &[crate::classify::episodes::Episode],
    spec: &crate::classify::proto::ProtoSpec,
) -> Result<Vec<Vec<bool>>> {
    use crate::classify::proto::{head_hits, EpisodeData};
    use rayon::prelude::*;
    eps.par_iter()
        .map(|ep| {
            let d = EpisodeData::<f32>::new(arch, ep, None);
            let mut f = vec![0.0f32; (d.ns + d.nq) * q.features];
            for (x, o) in
                d.x.chunks_exact(q.inputs)
                    .zip(f.chunks_exact_mut(q.features))
            {
                q.features(x, o)?;
            }
            Ok(head_hits(&f, &d, q.features, spec))
        })
        .collect()
}
