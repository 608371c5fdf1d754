//! The network (trunk + one head chain): dense layers with exactly the runtime's semantics, and
//! convolution, pooling and flatten layers for series and image trunks (see [`layer`]), with its
//! batched maths: forward, backward (gradient of the head loss) and the exact Hessian-vector
//! product (Pearlmutter's R-op, forward-over-reverse) used by second-order meta-gradients.
//!
//! Parameters live in one flat vector; layer `l` holds its weights (a dense layer's `W`
//! row-major `[outputs][inputs]`) then its biases. Samples are rows: a batch of K inputs is a
//! row-major `K x inputs` matrix, each row channel-major for series and images.

#![allow(clippy::needless_range_loop)] // index loops mirror the maths

pub mod avg_pool;
pub mod conv;
mod dense;
pub mod layer;
pub mod max_pool;
pub mod trunk;
pub mod window;

use crate::real::Real;
pub use layer::{Op, Shape};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Identity,
    Relu,
    Tanh,
    Sigmoid,
}

impl Activation {
    /// act'(z) written in terms of the output y = act(z).
    #[inline]
    pub fn d1<T: Real>(self, y: T) -> T {
        match self {
            Activation::Identity => T::one(),
            Activation::Relu => {
                if y > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
            Activation::Tanh => T::one() - y * y,
            Activation::Sigmoid => y * (T::one() - y),
        }
    }
    /// act''(z) in terms of y.
    #[inline]
    pub fn d2<T: Real>(self, y: T) -> T {
        let two = T::from_f64(2.0);
        match self {
            Activation::Identity | Activation::Relu => T::zero(),
            Activation::Tanh => -two * y * (T::one() - y * y),
            Activation::Sigmoid => y * (T::one() - y) * (T::one() - two * y),
        }
    }
    #[inline]
    pub fn apply<T: Real>(self, z: T) -> T {
        match self {
            Activation::Identity => z,
            Activation::Relu => {
                if z > T::zero() {
                    z
                } else {
                    T::zero()
                }
            }
            Activation::Tanh => z.tanh(),
            Activation::Sigmoid => T::one() / (T::one() + (-z).exp()),
        }
    }
    fn has_curvature(self) -> bool {
        matches!(self, Activation::Tanh | Activation::Sigmoid)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadKind {
    /// MSE over `outputs` values.
    Regression,
    /// Softmax cross-entropy over `outputs` classes.
    Classification,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSpec {
    pub inputs: usize,
    pub outputs: usize,
    pub act: Activation,
    /// What the layer computes before its activation (absent: dense).
    #[serde(default)]
    pub op: Op,
}

/// Architecture: input normalisation, trunk layers then the head's layers (one chain).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arch {
    pub inputs: usize,
    pub shift: Vec<f64>,
    pub scale: Vec<f64>,
    pub layers: Vec<LayerSpec>,
    /// The first `n_trunk` layers are the trunk, the rest the head.
    pub n_trunk: usize,
    pub head: HeadKind,
    /// Each sample standardised per channel before `shift` and `scale` (the runtime's
    /// `InputTransform::StandardiseChannels`).
    #[serde(default)]
    pub window: Option<WindowStandardise>,
}

/// A sample's `channels` equal blocks, each standardised by its own mean and variance:
/// `(x - mean) / sqrt(var + eps)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowStandardise {
    pub channels: usize,
    pub eps: f64,
}

impl WindowStandardise {
    /// `rows` (row-major, `width` features each) with every row's channels standardised.
    pub fn apply(&self, rows: &[f64], width: usize) -> Vec<f64> {
        let len = (width / self.channels.max(1)).max(1);
        let mut out = Vec::with_capacity(rows.len());
        for block in rows.chunks(len) {
            let n = block.len() as f64;
            let m = block.iter().sum::<f64>() / n;
            let v = block.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
            let inv = 1.0 / (v + self.eps).sqrt();
            out.extend(block.iter().map(|x| (x - m) * inv));
        }
        out
    }
}

impl Arch {
    /// `inputs -> hidden... (act) -> outputs (identity)`: the hidden layers form the trunk, the
    /// last layer is the head.
    pub fn mlp(
        inputs: usize,
        hidden: &[usize],
        outputs: usize,
        act: Activation,
        head: HeadKind,
    ) -> Self {
        let mut trunk = Vec::with_capacity(hidden.len());
        let mut prev = inputs;
        for &h in hidden {
            trunk.push(LayerSpec::dense(prev, h, act));
            prev = h;
        }
        Self::with_trunk(inputs, trunk, &[], outputs, act, head)
    }

    /// `trunk` (its first layer reading `inputs` values), then dense `hidden` layers of
    /// activation `act` and an identity output layer of `outputs`; the trunk is `trunk` only.
    pub fn with_trunk(
        inputs: usize,
        trunk: Vec<LayerSpec>,
        hidden: &[usize],
        outputs: usize,
        act: Activation,
        head: HeadKind,
    ) -> Self {
        let n_trunk = trunk.len();
        let mut layers = trunk;
        for &h in hidden {
            let prev = layers.last().map_or(inputs, |l| l.outputs);
            layers.push(LayerSpec::dense(prev, h, act));
        }
        let prev = layers.last().map_or(inputs, |l| l.outputs);
        layers.push(LayerSpec::dense(prev, outputs, Activation::Identity));
        Arch {
            inputs,
            shift: vec![0.0; inputs],
            scale: vec![1.0; inputs],
            n_trunk,
            layers,
            head,
            window: None,
        }
    }
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(self.inputs, |l| l.outputs)
    }
    /// Offset of layer `l`'s weight matrix in the flat parameter vector.
    pub fn w_off(&self, l: usize) -> usize {
        self.layers[..l].iter().map(LayerSpec::n_params).sum()
    }
    /// Offset of layer `l`'s bias.
    pub fn b_off(&self, l: usize) -> usize {
        self.w_off(l) + self.layers[l].n_weights()
    }
    /// Offset just past layer `l`'s bias.
    pub fn end_off(&self, l: usize) -> usize {
        self.b_off(l) + self.layers[l].n_bias()
    }
    /// True when every layer is dense (what the runtime's format holds).
    pub fn is_dense(&self) -> bool {
        self.layers.iter().all(LayerSpec::is_dense)
    }
    pub fn n_params(&self) -> usize {
        self.w_off(self.layers.len())
    }
    /// Normalise raw inputs (row-major `rows x inputs`) as the runtime does.
    pub fn normalise<T: Real>(&self, raw: &[f64]) -> Vec<T> {
        let mut out = Vec::new();
        self.normalise_into(raw, &mut out);
        out
    }
    /// [`Arch::normalise`] into `out` (its contents replaced).
    pub fn normalise_into<T: Real>(&self, raw: &[f64], out: &mut Vec<T>) {
        let n = self.inputs.max(1);
        let windowed;
        let raw = match &self.window {
            Some(w) => {
                windowed = w.apply(raw, n);
                &windowed[..]
            }
            None => raw,
        };
        out.clear();
        out.extend(
            raw.iter()
                .enumerate()
                .map(|(i, &x)| T::from_f64((x - self.shift[i % n]) * self.scale[i % n])),
        );
    }
    /// He-style initialisation (deterministic from the rng).
    pub fn init_params<R: rand::Rng>(&self, rng: &mut R) -> Vec<f64> {
        let mut p = vec![0.0; self.n_params()];
        for (l, s) in self.layers.iter().enumerate() {
            let o = self.w_off(l);
            let bound = (6.0 / s.fan_in().max(1) as f64).sqrt()
                * if s.act == Activation::Relu { 1.0 } else { 0.7 };
            for w in &mut p[o..o + s.n_weights()] {
                *w = rng.random_range(-bound..bound) * 0.8;
            }
        }
        p
    }
}

/// Training targets of one batch.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a, T> {
    /// Row-major `K x outputs`.
    Reg(&'a [T]),
    /// One class per row.
    Cls(&'a [usize]),
}

/// Forward cache: `ys[0]` is the input batch, `ys[l + 1]` the output of layer `l`.
#[derive(Clone, Debug, Default)]
pub struct Fwd<T> {
    pub k: usize,
    pub ys: Vec<Vec<T>>,
}

/// Backward cache: per layer, dL/dy (layer output) and dL/dz (pre-activation), `K x outputs`.
#[derive(Clone, Debug, Default)]
pub struct Bwd<T> {
    pub gy: Vec<Vec<T>>,
    pub gz: Vec<Vec<T>>,
}

/// out = g (.) act'(y), with the activation matched once per slice (keeps the loop vectorisable).
#[inline]
pub fn times_d1<T: Real>(act: Activation, g: &[T], y: &[T], out: &mut [T]) {
    let it = out.iter_mut().zip(g.iter().zip(y));
    match act {
        Activation::Identity => out.copy_from_slice(g),
        Activation::Relu => {
            for (o, (&g, &y)) in it {
                *o = if y > T::zero() { g } else { T::zero() };
            }
        }
        Activation::Tanh => {
            for (o, (&g, &y)) in it {
                *o = g * (T::one() - y * y);
            }
        }
        Activation::Sigmoid => {
            for (o, (&g, &y)) in it {
                *o = g * y * (T::one() - y);
            }
        }
    }
}

/// In-place activation of a slice.
#[inline]
pub fn apply_act<T: Real>(act: Activation, v: &mut [T]) {
    match act {
        Activation::Identity => {}
        Activation::Relu => {
            for x in v.iter_mut() {
                *x = if *x > T::zero() { *x } else { T::zero() };
            }
        }
        _ => {
            for x in v.iter_mut() {
                *x = act.apply(*x);
            }
        }
    }
}

/// Sets the length to `n`. Every caller overwrites all `n` entries before reading them, so a
/// buffer that already has the length keeps its stale values instead of being zero-filled.
fn resize<T: Real>(v: &mut Vec<T>, n: usize) {
    if v.len() != n {
        v.clear();
        v.resize(n, T::zero());
    }
}

/// Forward pass of a batch of `k` rows. Layers below `from` are taken from the cache (they must
/// already hold the outputs for these parameters: useful when only upper layers changed).
pub fn forward<T: Real>(arch: &Arch, p: &[T], x: &[T], k: usize, fwd: &mut Fwd<T>, from: usize) {
    let nl = arch.layers.len();
    fwd.ys.resize_with(nl + 1, Vec::new);
    if from == 0 || fwd.k != k {
        fwd.ys[0].clear();
        fwd.ys[0].extend_from_slice(&x[..k * arch.inputs]);
    }
    let from = if fwd.k != k { 0 } else { from };
    fwd.k = k;
    for l in from..nl {
        let s = &arch.layers[l];
        let (w, b) = (arch.w_off(l), arch.b_off(l));
        let (lo, hi) = fwd.ys.split_at_mut(l + 1);
        let (xin, out) = (&lo[l], &mut hi[0]);
        resize(out, k * s.outputs);
        s.fill_bias(k, &p[b..b + s.n_bias()], out);
        s.linear(k, xin, xin, &p[w..b], true, out);
        apply_act(s.act, out);
    }
}

/// Loss of the final output and dL/dy (same shape as the output), written into `gy`.
pub fn loss_and_dy<T: Real>(
    head: HeadKind,
    y: &[T],
    m: usize,
    t: Targets<T>,
    gy: &mut Vec<T>,
) -> T {
    let k = y.len() / m.max(1);
    resize(gy, y.len());
    match (head, t) {
        (HeadKind::Regression, Targets::Reg(t)) => {
            let norm = T::one() / T::from_f64((k * m) as f64);
            let two = T::from_f64(2.0) * norm;
            let mut loss = T::zero();
            for i in 0..y.len() {
                let d = y[i] - t[i];
                loss += d * d;
                gy[i] = two * d;
            }
            loss * norm
        }
        (HeadKind::Classification, Targets::Cls(labels)) => {
            let inv_k = T::one() / T::from_f64(k as f64);
            let mut loss = T::zero();
            for r in 0..k {
                let row = &y[r * m..(r + 1) * m];
                let g = &mut gy[r * m..(r + 1) * m];
                softmax(row, g);
                let lab = labels[r];
                loss -= g[lab].max(T::min_positive_value()).ln();
                g[lab] -= T::one();
                for v in g.iter_mut() {
                    *v *= inv_k;
                }
            }
            loss * inv_k
        }
        // A regression head with class labels (or the reverse) is a caller bug: no gradient.
        _ => T::nan(),
    }
}

/// Softmax with max subtraction.
pub fn softmax<T: Real>(z: &[T], out: &mut [T]) {
    let mx = z.iter().copied().fold(T::neg_infinity(), T::max);
    let mut s = T::zero();
    for (o, &v) in out.iter_mut().zip(z) {
        *o = (v - mx).exp();
        s += *o;
    }
    for o in out.iter_mut() {
        *o = *o / s;
    }
}

/// Backward pass: returns the loss and writes the gradient of layers `stop..` into `grad`
/// (other entries untouched). `bwd` keeps dL/dy and dL/dz of every layer `>= stop`.
pub fn backward<T: Real>(
    arch: &Arch,
    p: &[T],
    fwd: &Fwd<T>,
    t: Targets<T>,
    grad: &mut [T],
    stop: usize,
    bwd: &mut Bwd<T>,
) -> T {
    let nl = arch.layers.len();
    bwd.gy.resize_with(nl, Vec::new);
    bwd.gz.resize_with(nl, Vec::new);
    let loss = loss_and_dy(
        arch.head,
        &fwd.ys[nl],
        arch.outputs(),
        t,
        &mut bwd.gy[nl - 1],
    );
    backward_from(arch, p, fwd, grad, stop, bwd);
    loss
}

/// Backward pass from a given dL/dy of the last layer's output (`bwd.gy[last]`, `K x outputs`):
/// writes the gradient of layers `stop..` into `grad` (other entries untouched).
pub fn backward_from<T: Real>(
    arch: &Arch,
    p: &[T],
    fwd: &Fwd<T>,
    grad: &mut [T],
    stop: usize,
    bwd: &mut Bwd<T>,
) {
    backward_below(arch, p, fwd, grad, stop, arch.layers.len(), bwd);
}

/// Backward pass through layers `stop..top` from a given dL/dy of layer `top - 1`'s output
/// (`bwd.gy[top - 1]`): writes the gradient of those layers into `grad` (other entries untouched).
pub fn backward_below<T: Real>(
    arch: &Arch,
    p: &[T],
    fwd: &Fwd<T>,
    grad: &mut [T],
    stop: usize,
    top: usize,
    bwd: &mut Bwd<T>,
) {
    let nl = arch.layers.len();
    let k = fwd.k;
    bwd.gy.resize_with(nl, Vec::new);
    bwd.gz.resize_with(nl, Vec::new);
    for l in (stop..top).rev() {
        let s = &arch.layers[l];
        let (w, b) = (arch.w_off(l), arch.b_off(l));
        {
            let gz = &mut bwd.gz[l];
            resize(gz, k * s.outputs);
            times_d1(s.act, &bwd.gy[l], &fwd.ys[l + 1], gz);
        }
        let gz = &bwd.gz[l];
        s.weight_grad(k, &fwd.ys[l], gz, false, &mut grad[w..b]);
        s.bias_grad(gz, &mut grad[b..b + s.n_bias()]);
        if l > stop {
            let mut gy = std::mem::take(&mut bwd.gy[l - 1]);
            resize(&mut gy, k * s.inputs);
            s.linear_t(k, &fwd.ys[l], gz, &p[w..b], false, &mut gy);
            bwd.gy[l - 1] = gy;
        }
    }
}

/// Scratch for the R-op.
#[derive(Clone, Debug, Default)]
pub struct RScratch<T> {
    rz: Vec<Vec<T>>,
    ry: Vec<Vec<T>>,
    rgy: Vec<T>,
    rgz: Vec<T>,
    tmp: Vec<T>,
}

/// Exact Hessian-vector product `out = H(p) u` of the batch loss, for a direction `u` that is zero
/// on every layer below `first` (its entries there are ignored). Needs `fwd` and a `bwd` computed
/// with `stop = 0` at the same parameters. Writes every entry of `out`.
#[allow(clippy::too_many_arguments)]
pub fn hvp<T: Real>(
    arch: &Arch,
    p: &[T],
    u: &[T],
    first: usize,
    fwd: &Fwd<T>,
    bwd: &Bwd<T>,
    t: Targets<T>,
    out: &mut [T],
    sc: &mut RScratch<T>,
) {
    let nl = arch.layers.len();
    let k = fwd.k;
    sc.rz.resize_with(nl, Vec::new);
    sc.ry.resize_with(nl, Vec::new);
    // R-forward.
    for l in first..nl {
        let s = &arch.layers[l];
        let (w, b) = (arch.w_off(l), arch.b_off(l));
        let (lo, hi) = sc.ry.split_at_mut(l);
        let rz = &mut sc.rz[l];
        resize(rz, k * s.outputs);
        let x = &fwd.ys[l];
        s.fill_bias(k, &u[b..b + s.n_bias()], rz);
        if s.n_weights() > 0 {
            s.linear(k, x, x, &u[w..b], true, rz);
        }
        if l > first {
            s.linear(k, x, &lo[l - 1], &p[w..b], true, rz);
        }
        let ry = &mut hi[0];
        resize(ry, rz.len());
        times_d1(s.act, rz, &fwd.ys[l + 1], ry);
    }
    // R of the loss gradient at the output.
    let m = arch.outputs();
    let yl = &fwd.ys[nl];
    let ryl = &sc.ry[nl - 1];
    resize(&mut sc.rgy, yl.len());
    match (arch.head, t) {
        (HeadKind::Regression, _) => {
            let c = T::from_f64(2.0) / T::from_f64((k * m) as f64);
            for i in 0..yl.len() {
                sc.rgy[i] = c * ryl[i];
            }
        }
        (HeadKind::Classification, _) => {
            let inv_k = T::one() / T::from_f64(k as f64);
            let mut pr = vec![T::zero(); m];
            for r in 0..k {
                softmax(&yl[r * m..(r + 1) * m], &mut pr);
                let rr = &ryl[r * m..(r + 1) * m];
                let dot: T = pr.iter().zip(rr).map(|(a, b)| *a * *b).sum();
                for j in 0..m {
                    sc.rgy[r * m + j] = pr[j] * (rr[j] - dot) * inv_k;
                }
            }
        }
    }
    // R-backward.
    for l in (0..nl).rev() {
        let s = &arch.layers[l];
        let (w, b) = (arch.w_off(l), arch.b_off(l));
        let y = &fwd.ys[l + 1];
        resize(&mut sc.rgz, k * s.outputs);
        times_d1(s.act, &sc.rgy, y, &mut sc.rgz);
        if l >= first && s.act.has_curvature() {
            let (gy, rz) = (&bwd.gy[l], &sc.rz[l]);
            for i in 0..sc.rgz.len() {
                sc.rgz[i] += s.act.d2(y[i]) * rz[i] * gy[i];
            }
        }
        let gz = &bwd.gz[l];
        let x = &fwd.ys[l];
        // R(gW) = R(gz)^T x + gz^T R(x)
        s.weight_grad(k, x, &sc.rgz, false, &mut out[w..b]);
        if l > first {
            s.weight_grad(k, &sc.ry[l - 1], gz, true, &mut out[w..b]);
        }
        s.bias_grad(&sc.rgz, &mut out[b..b + s.n_bias()]);
        if l > 0 {
            // R(gy_{l-1}) = R(gz) W + gz R(W) (the routing of a max pool is fixed: no R term)
            resize(&mut sc.tmp, k * s.inputs);
            s.linear_t(k, x, &sc.rgz, &p[w..b], false, &mut sc.tmp);
            if l >= first && s.n_weights() > 0 {
                s.linear_t(k, x, gz, &u[w..b], true, &mut sc.tmp);
            }
            std::mem::swap(&mut sc.rgy, &mut sc.tmp);
        }
    }
}
