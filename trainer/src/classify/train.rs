//! Meta-training of a trunk with a prototype head (ProtoNet / Proto-MAML) and a multi-task head,
//! Adam, validation on held-out rows of the meta-training classes (model selection and the
//! device's prototype scale and rate), a progress bar with per-head metrics.

use super::config::{ClsConfig, LossWeight};
use super::data::{ClassSplit, Dataset};
use super::episodes::{Augment, Episode, Pool};
use super::proto::{episode_accuracy, episode_grad, EpisodeData, ProtoSpec, Scratch};
use crate::net::{Activation, Arch, Fwd, HeadKind, LayerSpec};
use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};

/// Data, split and episode pools of a run.
pub struct Setup {
    pub ds: Dataset,
    pub split: ClassSplit,
    pub train: Pool,
    pub val: Pool,
    pub test: Pool,
}

impl Setup {
    pub fn new(cfg: &ClsConfig) -> Result<Self> {
        let ds = Dataset::load(&cfg.data)?;
        Self::with_data(cfg, ds)
    }
    pub fn with_data(cfg: &ClsConfig, ds: Dataset) -> Result<Self> {
        let split = ClassSplit::new(
            &ds,
            &cfg.train_classes,
            &cfg.test_classes,
            cfg.val_fraction,
            cfg.split_seed,
        )?;
        let aug = Augment { shift: cfg.shift };
        let mut train = Pool::new(&ds, &split.train, cfg.rotations, aug)?;
        let mut val = Pool::new(&ds, &split.val, cfg.rotations, Augment::default())?;
        if !cfg.val_rotations.is_empty() {
            train
                .classes
                .retain(|c| !cfg.val_rotations.contains(&c.rot));
            val.classes.retain(|c| cfg.val_rotations.contains(&c.rot));
        }
        if !cfg.val_digits.is_empty() {
            // Whole meta-training digits held out of training: validation on all their rows
            // (with their rotations), which measures transfer to digits the trunk never saw.
            train.classes.retain(|c| !cfg.val_digits.contains(&c.class));
            let held: Vec<(usize, Vec<usize>)> = split
                .train
                .iter()
                .zip(&split.val)
                .filter(|((c, _), _)| cfg.val_digits.contains(c))
                .map(|((c, t), (_, v))| {
                    let mut r = t.clone();
                    r.extend_from_slice(v);
                    r.sort_unstable();
                    (*c, r)
                })
                .collect();
            if held.len() != cfg.val_digits.len() {
                bail!(
                    "val_digits {:?} must be meta-training classes",
                    cfg.val_digits
                );
            }
            val = Pool::new(&ds, &held, cfg.rotations, Augment::default())?;
        }
        let test = Pool::new(&ds, &split.test, false, Augment::default())?;
        Ok(Setup {
            ds,
            split,
            train,
            val,
            test,
        })
    }
}

/// The trunk: `inputs -> hidden...`, every layer ReLU (its output is the feature vector).
pub fn trunk_arch(inputs: usize, hidden: &[usize], input_scale: f64) -> Arch {
    let mut layers = Vec::new();
    let mut prev = inputs;
    for &h in hidden {
        layers.push(LayerSpec {
            inputs: prev,
            outputs: h,
            act: Activation::Relu,
        });
        prev = h;
    }
    Arch {
        inputs,
        shift: vec![0.0; inputs],
        scale: vec![input_scale; inputs],
        n_trunk: layers.len(),
        layers,
        head: HeadKind::Regression,
    }
}

/// Initial trunk: the identity where a layer is square (a small positive bias keeps ReLUs of
/// zero pixels trainable without changing distances), He-style otherwise.
pub fn init_trunk(arch: &Arch, identity: bool, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut p = arch.init_params(rng);
    if identity {
        for (l, s) in arch.layers.iter().enumerate() {
            if s.inputs == s.outputs {
                let (w, b) = (arch.w_off(l), arch.b_off(l));
                p[w..b].fill(0.0);
                for i in 0..s.outputs {
                    p[w + i * s.inputs + i] = 1.0;
                }
                p[b..b + s.outputs].fill(if l == 0 { 0.01 } else { 0.0 });
            }
        }
    }
    p
}

/// (proto loss, aux loss, correct, queries, proto gradient, aux gradient) of one episode.
type EpisodeOut = (f64, f64, usize, usize, Vec<f32>, Vec<f32>);

/// One logged point of training.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CurvePoint {
    pub iter: u64,
    pub proto_loss: f64,
    pub aux_loss: f64,
    pub train_acc: f64,
    /// Validation accuracy (1-shot, 5-shot or the configured shots) at 0 device steps.
    pub val_acc: Vec<f64>,
}

/// A trained classifier: trunk, multi-task head and the device's prototype head spec.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trained {
    pub trunk: Arch,
    /// Trunk parameters then the multi-task head's W (`aux_classes x features`) and b.
    pub params: Vec<f64>,
    pub aux_classes: usize,
    pub ways: usize,
    pub device: ProtoSpec,
    pub best_iter: u64,
    pub best_val: f64,
    /// Shot counts of the validation accuracies in `curve`.
    #[serde(default)]
    pub val_shots: Vec<usize>,
    pub curve: Vec<CurvePoint>,
    /// (scale, alpha, validation accuracy per shot count) of every device setting tried.
    pub device_grid: Vec<(f64, f64, Vec<f64>)>,
    /// Power of the covariance metric in the trunk (0: the input metric).
    #[serde(default)]
    pub metric_power: f64,
    /// Names of the cross-validation's validation sets (the columns of `cv[..].acc`).
    #[serde(default)]
    pub cv_sets: Vec<String>,
    /// Leave-digits-out cross-validation of every (power, device setting) tried.
    #[serde(default)]
    pub cv: Vec<super::metric::CvRow>,
}

/// Fixed validation episodes (held-out rows of the meta-training classes), per shot count.
pub fn val_episodes(setup: &Setup, cfg: &ClsConfig) -> Result<Vec<Vec<Episode>>> {
    cfg.shots
        .iter()
        .map(|&k| {
            let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_0a11);
            rng.set_stream(k as u64);
            (0..cfg.val_episodes)
                .map(|_| setup.val.sample(&setup.ds, cfg.ways, k, 15, &mut rng))
                .collect()
        })
        .collect()
}

/// Query accuracy of the prototype head on each episode (f32, as the device computes).
pub fn episode_accuracies(
    trunk: &Arch,
    params: &[f64],
    eps: &[Episode],
    spec: &ProtoSpec,
) -> Vec<f64> {
    let p: Vec<f32> = params.iter().map(|&v| v as f32).collect();
    eps.par_iter()
        .map_init(Fwd::default, |fwd, ep| {
            let d = EpisodeData::<f32>::new(trunk, ep, None);
            episode_accuracy(trunk, &p, &d, spec, fwd) as f64 / ep.query_y.len().max(1) as f64
        })
        .collect()
}

/// Mean query accuracy of the prototype head over episodes (f32, as the device computes).
pub fn accuracy(trunk: &Arch, params: &[f64], eps: &[Episode], spec: &ProtoSpec) -> f64 {
    let p: Vec<f32> = params.iter().map(|&v| v as f32).collect();
    let correct: usize = eps
        .par_iter()
        .map_init(Fwd::default, |fwd, ep| {
            let d = EpisodeData::<f32>::new(trunk, ep, None);
            episode_accuracy(trunk, &p, &d, spec, fwd)
        })
        .sum();
    let total: usize = eps.iter().map(|e| e.query_y.len()).sum();
    correct as f64 / total.max(1) as f64
}

pub fn train(cfg: &ClsConfig, setup: &Setup, stop: &AtomicBool, progress: bool) -> Result<Trained> {
    if cfg.ways < 2 || cfg.shots.is_empty() || cfg.shots.contains(&0) || cfg.query == 0 {
        bail!("ways must be >= 2, shots and query >= 1");
    }
    let d_in = setup.ds.d;
    let trunk = trunk_arch(d_in, &cfg.hidden, cfg.input_scale);
    let feat = trunk.outputs();
    let aux_classes = if cfg.aux {
        setup.train.classes.len()
    } else {
        0
    };
    let global: Vec<usize> = (0..setup.train.classes.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut params = init_trunk(&trunk, cfg.identity_init, &mut rng);
    if let (true, Some(side), Some(l0)) = (
        cfg.identity_init,
        setup.ds.square_side(),
        trunk.layers.first(),
    ) {
        if cfg.blur != 0.0 && l0.inputs == l0.outputs {
            let s = side as i64;
            for r in 0..s {
                for c in 0..s {
                    for (dr, dc) in [
                        (-1i64, -1i64),
                        (-1, 0),
                        (-1, 1),
                        (0, -1),
                        (0, 1),
                        (1, -1),
                        (1, 0),
                        (1, 1),
                    ] {
                        let (rr, cc) = (r + dr, c + dc);
                        if rr >= 0 && cc >= 0 && rr < s && cc < s {
                            let a = if dr != 0 && dc != 0 {
                                cfg.blur / 2.0
                            } else {
                                cfg.blur
                            };
                            params[((r * s + c) * s * s + rr * s + cc) as usize] = a;
                        }
                    }
                }
            }
        }
    }
    // The fixed input metric, chosen with the device settings by leave-digits-out
    // cross-validation on the meta-training classes.
    let mut cv = None;
    if cfg.identity_init && !cfg.metric_powers.is_empty() {
        let t0 = std::time::Instant::now();
        let folds = super::metric::folds(cfg, setup)?;
        let zero = ProtoSpec {
            steps: 0,
            alpha: 0.0,
            clip: cfg.device_clip,
            ..cfg.proto
        };
        let by_power =
            super::metric::cross_validate(setup, &trunk, &folds, &cfg.metric_powers, &[zero])?;
        // The best mean over the validation sets among the powers never below the input metric
        // (power 0, when it is a candidate) on any set, beyond one paired standard error.
        let base = by_power.iter().find(|r| r.power == 0.0);
        let best_p = by_power
            .iter()
            .filter(|r| base.is_none_or(|b| r.never_below(b)))
            .fold(None::<&super::metric::CvRow>, |b, r| match b {
                Some(b) if b.score >= r.score - 1e-12 => Some(b),
                _ => Some(r),
            })
            .map_or(0.0, |r| r.power);
        let mut devices = Vec::new();
        for &scale in &cfg.device_scales {
            for &alpha in cfg.device_alphas.iter().filter(|&&a| a > 0.0) {
                devices.push(ProtoSpec {
                    scale,
                    steps: cfg.device_steps,
                    alpha,
                    clip: cfg.device_clip,
                });
            }
        }
        let by_device = super::metric::cross_validate(setup, &trunk, &folds, &[best_p], &devices)?;
        if progress {
            let names = super::metric::set_names(cfg);
            eprintln!(
                "leave-{}-digits-out cross-validation over {:?} ({} folds, {} episodes per set; sets: {}), {:.1} s:",
                cfg.cv_holdout,
                cfg.train_classes,
                folds.len(),
                cfg.cv_episodes,
                names.join(", "),
                t0.elapsed().as_secs_f64()
            );
            for r in by_power.iter().chain(&by_device) {
                let below = base.is_some_and(|b| r.steps_free() && !r.never_below(b));
                eprintln!(
                    "  power {:<5} scale {:<5} rate {:<5} steps {}: {} | mean {:.2}{}",
                    r.power,
                    r.device.scale,
                    r.device.alpha,
                    r.device.steps,
                    r.acc
                        .iter()
                        .map(|a| format!("{:.2}", 100.0 * a))
                        .collect::<Vec<_>>()
                        .join(" "),
                    100.0 * r.score,
                    if below {
                        " (below the input metric)"
                    } else {
                        ""
                    }
                );
            }
        }
        if best_p != 0.0 {
            params = super::metric::fit_trunk(&setup.ds, &setup.train, &trunk, best_p)
                .ok_or_else(|| anyhow::anyhow!("metric_powers need square trunk layers"))?;
        }
        let mut rows = by_power;
        rows.extend(by_device);
        cv = Some((best_p, rows));
    }
    let anchor_ref = params.clone();
    let nt = params.len();
    params.resize(nt + aux_classes * (feat + 1), 0.0);
    let n = params.len();
    // Log-variances of the uncertainty weighting (proto, aux).
    let mut logvar = [0.0f64; 2];
    let (mut m, mut v) = (vec![0.0; n + 2], vec![0.0; n + 2]);
    let val = val_episodes(setup, cfg)?;
    let zero_steps = ProtoSpec {
        steps: 0,
        ..cfg.proto
    };
    let mut best = (f64::NEG_INFINITY, 0u64, params.clone());
    let mut curve = Vec::new();
    let bar = crate::train::progress_bar(progress, cfg.iterations, 0);
    let (mut lp, mut la, mut acc, mut cnt) = (0.0, 0.0, 0.0, 0usize);
    for it in 0..=cfg.iterations {
        if it % cfg.val_every.max(1) == 0 || it == cfg.iterations {
            let accs: Vec<f64> = val
                .iter()
                .map(|e| accuracy(&trunk, &params, e, &zero_steps))
                .collect();
            let score = accs.iter().sum::<f64>() / accs.len().max(1) as f64;
            if score > best.0 || (cfg.freeze_trunk && score >= best.0) {
                best = (score, it, params.clone());
            }
            let c = cnt.max(1) as f64;
            curve.push(CurvePoint {
                iter: it,
                proto_loss: lp / c,
                aux_loss: la / c,
                train_acc: acc / c,
                val_acc: accs.clone(),
            });
            bar.set_message(format!(
                "proto {:.3} aux {:.3} | val acc {} (best {:.3} @ {})",
                lp / c,
                la / c,
                accs.iter()
                    .map(|a| format!("{:.3}", a))
                    .collect::<Vec<_>>()
                    .join("/"),
                best.0,
                best.1
            ));
            (lp, la, acc, cnt) = (0.0, 0.0, 0.0, 0);
        }
        if it == cfg.iterations || stop.load(Ordering::SeqCst) {
            break;
        }
        // The meta-batch of iteration `it` is a pure function of (seed, it).
        let mut r = ChaCha8Rng::seed_from_u64(cfg.seed);
        r.set_stream(it + 1);
        let shots = cfg.shots[(it as usize) % cfg.shots.len()];
        let eps: Vec<Episode> = (0..cfg.meta_batch)
            .map(|_| {
                setup
                    .train
                    .sample(&setup.ds, cfg.ways, shots, cfg.query, &mut r)
            })
            .collect::<Result<_>>()?;
        let p32: Vec<f32> = params.iter().map(|&x| x as f32).collect();
        let outs: Vec<EpisodeOut> = eps
            .par_iter()
            .map(|ep| {
                let d = EpisodeData::<f32>::new(&trunk, ep, cfg.aux.then_some(&global[..]));
                let (mut gp, mut ga) = (vec![0.0f32; n], vec![0.0f32; n]);
                let l = episode_grad(
                    &trunk,
                    aux_classes,
                    &p32,
                    &d,
                    &cfg.proto,
                    &mut Scratch::default(),
                    &mut gp,
                    &mut ga,
                );
                (l.proto as f64, l.aux as f64, l.correct, d.nq, gp, ga)
            })
            .collect();
        let b = cfg.meta_batch as f64;
        let (mut gp, mut ga) = (vec![0.0f64; n], vec![0.0f64; n]);
        let (mut bl_p, mut bl_a) = (0.0, 0.0);
        for (p_l, a_l, c, q, g1, g2) in &outs {
            bl_p += p_l / b;
            bl_a += a_l / b;
            acc += *c as f64 / *q as f64;
            cnt += 1;
            for i in 0..n {
                gp[i] += g1[i] as f64 / b;
                ga[i] += g2[i] as f64 / b;
            }
        }
        lp += bl_p * cfg.meta_batch as f64;
        la += bl_a * cfg.meta_batch as f64;
        if !(bl_p.is_finite() && bl_a.is_finite()) {
            bail!("non-finite loss at iteration {it}");
        }
        let (wp, wa) = match cfg.aux_weight {
            LossWeight::Fixed(w) => (1.0, w),
            LossWeight::Uncertainty => ((-logvar[0]).exp(), (-logvar[1]).exp()),
        };
        let mut g: Vec<f64> = (0..n).map(|i| wp * gp[i] + wa * ga[i]).collect();
        for i in 0..nt {
            g[i] += cfg.anchor * (params[i] - anchor_ref[i]);
            if cfg.freeze_trunk {
                g[i] = 0.0;
            }
        }
        let gl = if cfg.aux_weight == LossWeight::Uncertainty {
            [
                1.0 - wp * bl_p,
                if aux_classes > 0 {
                    1.0 - wa * bl_a
                } else {
                    0.0
                },
            ]
        } else {
            [0.0, 0.0]
        };
        g.extend_from_slice(&gl);
        let t = (it + 1) as i32;
        let (b1, b2, eps_) = (0.9f64, 0.999f64, 1e-8);
        let lr = cfg.lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        for i in 0..n + 2 {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            let step = lr * m[i] / (v[i].sqrt() + eps_);
            if cfg.freeze_trunk && i < nt {
                continue;
            }
            if i < n {
                params[i] -= step;
            } else {
                logvar[i - n] -= step;
            }
        }
        bar.inc(1);
    }
    bar.finish();
    let (best_val, best_iter, params) = best;
    // The device's prototype scale and rate, chosen on validation episodes: the
    // cross-validation's when it ran (0-step rows: the prototype start, scale-free), else on
    // held-out rows of the meta-training classes.
    let mut grid = Vec::new();
    let mut chosen = (f64::NEG_INFINITY, cfg.proto);
    if let Some((p, rows)) = &cv {
        for r in rows.iter().filter(|r| r.power == *p) {
            if r.score > chosen.0 + 1e-9 {
                chosen = (r.score, r.device);
            }
        }
    }
    let held_out_rows_grid: &[f64] = if cv.is_none() {
        &cfg.device_scales
    } else {
        &[]
    };
    for &scale in held_out_rows_grid {
        for &alpha in &cfg.device_alphas {
            let spec = ProtoSpec {
                scale,
                steps: if alpha > 0.0 { cfg.device_steps } else { 0 },
                alpha,
                clip: cfg.device_clip,
            };
            let accs: Vec<f64> = val
                .iter()
                .map(|e| accuracy(&trunk, &params, e, &spec))
                .collect();
            let s = accs.iter().sum::<f64>() / accs.len().max(1) as f64;
            if s > chosen.0 + 1e-9 {
                chosen = (s, spec);
            }
            grid.push((scale, alpha, accs));
        }
    }
    Ok(Trained {
        trunk,
        params,
        aux_classes,
        ways: cfg.ways,
        device: ProtoSpec {
            steps: cfg.device_steps,
            ..chosen.1
        },
        best_iter,
        best_val,
        val_shots: cfg.shots.clone(),
        curve,
        device_grid: grid,
        metric_power: cv.as_ref().map_or(0.0, |c| c.0),
        cv_sets: if cv.is_some() {
            super::metric::set_names(cfg)
        } else {
            Vec::new()
        },
        cv: cv.map_or_else(Vec::new, |c| c.1),
    })
}
