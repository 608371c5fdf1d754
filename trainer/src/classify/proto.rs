//! Episode losses on a shared trunk: the prototype head (ProtoNet when it takes no inner step,
//! first-order Proto-MAML when it does) and a fixed multi-task classification head.
//!
//! The prototype head is exactly the runtime's: `W_c = 2 s mu_c`, `b_c = -s |mu_c|^2`, `mu_c`
//! the class mean of the trunk features of the support set, then `steps` inner steps
//! `theta <- theta - alpha clamp(grad, -clip, clip)` of the support cross-entropy on (W, b) with
//! the features fixed. The query cross-entropy's gradient reaches the trunk through the query
//! features and, through the prototypes, through the support features; the inner steps are
//! treated first-order (their Jacobian is the identity), which is exact when `steps = 0`.

#![allow(clippy::needless_range_loop)] // index loops mirror the maths

use super::deploy::argmax;
use crate::meta::clamp;
use crate::net::{backward_from, forward, softmax, Arch, Bwd, Fwd};
use crate::real::Real;

/// The prototype head's adaptation, as the device runs it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProtoSpec {
    pub scale: f64,
    pub steps: usize,
    pub alpha: f64,
    pub clip: f64,
}

impl ProtoSpec {
    /// The step counts a report shows: 0 (the prototype start) and the device's, once each.
    pub fn step_counts(&self) -> Vec<usize> {
        if self.steps == 0 {
            vec![0]
        } else {
            vec![0, self.steps]
        }
    }
}

/// An episode in the compute type: normalised rows (support, query, then the rows of other
/// classes an open-set episode scores), labels.
#[derive(Clone, Debug)]
pub struct EpisodeData<T> {
    pub ways: usize,
    pub ns: usize,
    pub nq: usize,
    /// Rows of classes outside the episode after the queries (open-set training; else 0).
    pub nu: usize,
    pub x: Vec<T>,
    pub sl: Vec<usize>,
    pub ql: Vec<usize>,
    /// Labels of the multi-task head for every row (support then query), if it is trained.
    pub global: Vec<usize>,
}

impl<T: Real> EpisodeData<T> {
    pub fn new(trunk: &Arch, ep: &super::episodes::Episode, global: Option<&[usize]>) -> Self {
        let mut raw = ep.support_x.clone();
        raw.extend_from_slice(&ep.query_x);
        let g = |w: &usize| global.map_or(0, |g| g.get(ep.pool_class[*w]).copied().unwrap_or(0));
        EpisodeData {
            ways: ep.ways,
            ns: ep.support_y.len(),
            nq: ep.query_y.len(),
            nu: 0,
            x: trunk.normalise(&raw),
            sl: ep.support_y.clone(),
            ql: ep.query_y.clone(),
            global: if global.is_some() {
                ep.support_y.iter().chain(&ep.query_y).map(g).collect()
            } else {
                Vec::new()
            },
        }
    }

    /// The episode with rows of other classes (`raw`: data rows as the pool shows them) after
    /// its queries: the "none of them" rows of open-set training.
    pub fn with_unknown(mut self, trunk: &Arch, raw: &[f64]) -> Self {
        let x: Vec<T> = trunk.normalise(raw);
        self.nu = x.len() / trunk.inputs.max(1);
        self.x.extend(x);
        self
    }
}

/// Losses of one episode and the query accuracy of the prototype head.
#[derive(Clone, Copy, Debug, Default)]
pub struct EpisodeLoss<T> {
    pub proto: T,
    pub aux: T,
    /// Known queries whose nearest prototype is their class's (the "none" logit aside).
    pub correct: usize,
    /// d proto / d log(tau), the open-set threshold's gradient (0 without one).
    pub threshold_grad: T,
}

/// `z = f W^T + b` for `rows` feature rows of width `d`, `m` outputs.
pub fn logits<T: Real>(f: &[T], rows: usize, d: usize, w: &[T], b: &[T], z: &mut Vec<T>) {
    let m = b.len();
    z.clear();
    z.resize(rows * m, T::zero());
    for r in 0..rows {
        let fr = &f[r * d..(r + 1) * d];
        for c in 0..m {
            let wc = &w[c * d..(c + 1) * d];
            z[r * m + c] = b[c] + fr.iter().zip(wc).map(|(a, b)| *a * *b).sum::<T>();
        }
    }
}

/// Mean cross-entropy of logits `z` (`rows x m`); writes dL/dz into `g`; returns (loss, correct).
pub fn cross_entropy<T: Real>(z: &[T], m: usize, labels: &[usize], g: &mut Vec<T>) -> (T, usize) {
    let rows = labels.len();
    g.clear();
    g.resize(z.len(), T::zero());
    let inv = T::one() / T::from_f64(rows.max(1) as f64);
    let (mut loss, mut correct) = (T::zero(), 0);
    for r in 0..rows {
        let zr = &z[r * m..(r + 1) * m];
        if argmax(zr) == labels[r] {
            correct += 1;
        }
        let gr = &mut g[r * m..(r + 1) * m];
        softmax(zr, gr);
        loss -= gr[labels[r]].max(T::min_positive_value()).ln();
        gr[labels[r]] -= T::one();
        for v in gr.iter_mut() {
            *v *= inv;
        }
    }
    (loss * inv, correct)
}

/// The runtime's prototype initialisation: (W, b, class means, class counts).
pub fn prototypes<T: Real>(
    fs: &[T],
    labels: &[usize],
    ways: usize,
    d: usize,
    scale: T,
) -> (Vec<T>, Vec<T>, Vec<T>, Vec<usize>) {
    let mut mu = vec![T::zero(); ways * d];
    let mut n = vec![0usize; ways];
    for (r, &c) in labels.iter().enumerate() {
        n[c] += 1;
        for j in 0..d {
            mu[c * d + j] += fs[r * d + j];
        }
    }
    let two = T::from_f64(2.0);
    let mut w = vec![T::zero(); ways * d];
    let mut b = vec![T::zero(); ways];
    for c in 0..ways {
        let inv = T::one() / T::from_f64(n[c].max(1) as f64);
        let mut norm = T::zero();
        for j in 0..d {
            let m = mu[c * d + j] * inv;
            mu[c * d + j] = m;
            norm += m * m;
            w[c * d + j] = two * scale * m;
        }
        b[c] = -scale * norm;
    }
    (w, b, mu, n)
}

/// `steps` inner steps of the support cross-entropy on (W, b), features fixed.
pub fn inner_steps<T: Real>(
    fs: &[T],
    labels: &[usize],
    d: usize,
    spec: &ProtoSpec,
    w: &mut [T],
    b: &mut [T],
) {
    let m = b.len();
    let (alpha, clip) = (T::from_f64(spec.alpha), T::from_f64(spec.clip));
    let (mut z, mut g) = (Vec::new(), Vec::new());
    for _ in 0..spec.steps {
        logits(fs, labels.len(), d, w, b, &mut z);
        cross_entropy(&z, m, labels, &mut g);
        for c in 0..m {
            let mut gb = T::zero();
            for r in 0..labels.len() {
                gb += g[r * m + c];
            }
            for j in 0..d {
                let mut gw = T::zero();
                for r in 0..labels.len() {
                    gw += g[r * m + c] * fs[r * d + j];
                }
                w[c * d + j] -= alpha * clamp(gw, clip);
            }
            b[c] -= alpha * clamp(gb, clip);
        }
    }
}

/// Reusable buffers.
#[derive(Default)]
pub struct Scratch<T> {
    fwd: Fwd<T>,
    bwd: Bwd<T>,
    z: Vec<T>,
    g: Vec<T>,
}

/// Losses of one episode with their gradients wrt `[trunk params, multi-task head W, b]`:
/// `g_proto` for the prototype head's query loss, `g_aux` for the multi-task head's loss on the
/// support and query rows (left zero when `aux_classes = 0`). Both are overwritten.
///
/// `log_threshold` (open-set training, with the episode's rows of other classes): every scored
/// row's softmax gains a "none of them" logit `s (|f|^2 - tau)`, `tau = exp(log_threshold)`,
/// beside the classes' `2 s mu_c . f - s |mu_c|^2`: the same comparison, up to the row's own
/// `s |f|^2`, as the device's `|f - mu_c|^2 > tau`. The rows of other classes are labelled
/// "none"; the known queries keep their class. The loss's gradient wrt `log_threshold` is
/// returned in [`EpisodeLoss::threshold_grad`].
#[allow(clippy::too_many_arguments)]
pub fn episode_grad<T: Real>(
    trunk: &Arch,
    aux_classes: usize,
    p: &[T],
    ep: &EpisodeData<T>,
    spec: &ProtoSpec,
    log_threshold: Option<T>,
    sc: &mut Scratch<T>,
    g_proto: &mut [T],
    g_aux: &mut [T],
) -> EpisodeLoss<T> {
    let d = trunk.outputs();
    let nt = trunk.n_params();
    // The scored rows: known queries, then (with a threshold) the rows of other classes.
    let nq = ep.nq + if log_threshold.is_some() { ep.nu } else { 0 };
    let rows = ep.ns + ep.nq + ep.nu;
    let nl = trunk.layers.len();
    forward(trunk, &p[..nt], &ep.x, rows, &mut sc.fwd, 0);
    let f = sc.fwd.ys[nl].clone();
    let (fs, rest) = f.split_at(ep.ns * d);
    let fq = &rest[..nq * d];
    let scale = T::from_f64(spec.scale);
    let (mut w, mut b, mu, n) = prototypes(fs, &ep.sl, ep.ways, d, scale);
    inner_steps(fs, &ep.sl, d, spec, &mut w, &mut b);
    logits(fq, nq, d, &w, &b, &mut sc.z);
    let correct = (0..ep.nq)
        .filter(|&r| argmax(&sc.z[r * ep.ways..(r + 1) * ep.ways]) == ep.ql[r])
        .count();
    let tau = log_threshold.map(|l| l.exp());
    let m = ep.ways + usize::from(tau.is_some());
    let mut labels = ep.ql.clone();
    if let Some(tau) = tau {
        none_column(&mut sc.z, fq, ep.ways, d, scale, tau);
        labels.resize(nq, ep.ways);
    }
    let (proto, _) = cross_entropy(&sc.z, m, &labels, &mut sc.g);
    // dL/dF for every row.
    let mut df = vec![T::zero(); rows * d];
    let mut dw = vec![T::zero(); ep.ways * d];
    let mut db = vec![T::zero(); ep.ways];
    let two_s = T::from_f64(2.0) * scale;
    let mut dtau = T::zero();
    for r in 0..nq {
        let dfr = &mut df[(ep.ns + r) * d..(ep.ns + r + 1) * d];
        let fr = &fq[r * d..(r + 1) * d];
        for c in 0..ep.ways {
            let gz = sc.g[r * m + c];
            db[c] += gz;
            for j in 0..d {
                dfr[j] += gz * w[c * d + j];
                dw[c * d + j] += gz * fr[j];
            }
        }
        if tau.is_some() {
            let gz = sc.g[r * m + ep.ways];
            dtau -= scale * gz;
            for j in 0..d {
                dfr[j] += gz * two_s * fr[j];
            }
        }
    }
    for (r, &c) in ep.sl.iter().enumerate() {
        let inv = T::one() / T::from_f64(n[c] as f64);
        for j in 0..d {
            let dmu = two_s * dw[c * d + j] - two_s * db[c] * mu[c * d + j];
            df[r * d + j] = dmu * inv;
        }
    }
    g_proto.fill(T::zero());
    trunk_backward(trunk, p, sc, &df, g_proto);
    g_aux.fill(T::zero());
    let aux = if aux_classes > 0 {
        aux_grad(trunk, aux_classes, p, ep, &f, sc, g_aux)
    } else {
        T::zero()
    };
    EpisodeLoss {
        proto,
        aux,
        correct,
        threshold_grad: tau.map_or(T::zero(), |t| dtau * t),
    }
}

/// Widens the `ways`-column logits `z` of the rows `f` by the "none of them" logit
/// `s (|f|^2 - tau)`.
fn none_column<T: Real>(z: &mut Vec<T>, f: &[T], ways: usize, d: usize, s: T, tau: T) {
    let rows = f.len() / d.max(1);
    let mut wide = Vec::with_capacity(rows * (ways + 1));
    for r in 0..rows {
        wide.extend_from_slice(&z[r * ways..(r + 1) * ways]);
        let norm: T = f[r * d..(r + 1) * d].iter().map(|v| *v * *v).sum();
        wide.push(s * (norm - tau));
    }
    *z = wide;
}

/// The multi-task head's loss on the support and query rows (features `f`), its gradient into
/// `g_aux` (trunk and head).
fn aux_grad<T: Real>(
    trunk: &Arch,
    aux_classes: usize,
    p: &[T],
    ep: &EpisodeData<T>,
    f: &[T],
    sc: &mut Scratch<T>,
    g_aux: &mut [T],
) -> T {
    let d = trunk.outputs();
    let nt = trunk.n_params();
    let labelled = ep.ns + ep.nq;
    let (wa, ba) = p[nt..].split_at(aux_classes * d);
    logits(&f[..labelled * d], labelled, d, wa, ba, &mut sc.z);
    let (l, _) = cross_entropy(&sc.z, aux_classes, &ep.global, &mut sc.g);
    let mut dfa = vec![T::zero(); (labelled + ep.nu) * d];
    let (gw, gb) = g_aux[nt..].split_at_mut(aux_classes * d);
    for r in 0..labelled {
        for c in 0..aux_classes {
            let gz = sc.g[r * aux_classes + c];
            gb[c] += gz;
            for j in 0..d {
                dfa[r * d + j] += gz * wa[c * d + j];
                gw[c * d + j] += gz * f[r * d + j];
            }
        }
    }
    trunk_backward(trunk, p, sc, &dfa, g_aux);
    l
}

fn trunk_backward<T: Real>(trunk: &Arch, p: &[T], sc: &mut Scratch<T>, df: &[T], g: &mut [T]) {
    let nl = trunk.layers.len();
    let nt = trunk.n_params();
    sc.bwd.gy.resize_with(nl, Vec::new);
    sc.bwd.gy[nl - 1].clear();
    sc.bwd.gy[nl - 1].extend_from_slice(df);
    backward_from(trunk, &p[..nt], &sc.fwd, &mut g[..nt], 0, &mut sc.bwd);
}

/// Query accuracy of the prototype head after its inner steps (no gradient), and the features.
pub fn episode_accuracy<T: Real>(
    trunk: &Arch,
    p: &[T],
    ep: &EpisodeData<T>,
    spec: &ProtoSpec,
    fwd: &mut Fwd<T>,
) -> usize {
    episode_hits(trunk, p, ep, spec, fwd)
        .iter()
        .filter(|&&h| h)
        .count()
}

/// Which queries of the episode the prototype head (and its inner steps) classifies right, in
/// query order.
pub fn episode_hits<T: Real>(
    trunk: &Arch,
    p: &[T],
    ep: &EpisodeData<T>,
    spec: &ProtoSpec,
    fwd: &mut Fwd<T>,
) -> Vec<bool> {
    let d = trunk.outputs();
    let nt = trunk.n_params();
    forward(trunk, &p[..nt], &ep.x, ep.ns + ep.nq, fwd, 0);
    head_hits(&fwd.ys[trunk.layers.len()], ep, d, spec)
}

/// Correct queries of the prototype head (and its inner steps) on the episode's features `f`
/// (support rows then query rows, `d` wide).
pub fn head_accuracy<T: Real>(f: &[T], ep: &EpisodeData<T>, d: usize, spec: &ProtoSpec) -> usize {
    head_hits(f, ep, d, spec).iter().filter(|&&h| h).count()
}

/// [`head_accuracy`] query by query: which queries the head classifies right, in order.
pub fn head_hits<T: Real>(f: &[T], ep: &EpisodeData<T>, d: usize, spec: &ProtoSpec) -> Vec<bool> {
    let (fs, fq) = f.split_at(ep.ns * d);
    let (mut w, mut b, _, _) = prototypes(fs, &ep.sl, ep.ways, d, T::from_f64(spec.scale));
    inner_steps(fs, &ep.sl, d, spec, &mut w, &mut b);
    let mut z = Vec::new();
    logits(fq, ep.nq, d, &w, &b, &mut z);
    z.chunks_exact(ep.ways.max(1))
        .zip(&ep.ql)
        .map(|(z, &y)| argmax(z) == y)
        .collect()
}
