//! Export of a trained classifier (trunk, the fixed multi-task head, the prototype head adapted on
//! the device) and evaluation as deployed: the bytes loaded by the runtime, the prototype head
//! adapted by the runtime's own inner loop, inference through `Heads::only`. Also the baselines
//! (nearest centroid on raw, standardised and the model's inputs; the trained trunk) on the same
//! episodes.

use super::episodes::Episode;
use super::matching::MatchingChoice;
use super::proto::ProtoSpec;
use super::setup::Normalisation;
use super::train::{trunk_hits, Trained};
use crate::eval::mean_ci;
use crate::export::f32s;
use crate::net::Arch;
use anyhow::{anyhow, bail, Context, Result};
use rayon::prelude::*;
use runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
use runtime::{AdaptState, Heads, Model, Support};
use serde::Serialize;

const STATE_CAP: usize = 1 << 14;

pub use crate::export::trunk_def;

/// `def` with the head the device adapts: a `ways`-way prototype head, or a matching head (unless
/// the choice is the plain one), with zero weights (the device sets them from the support set);
/// and the matching choice's warps as the model's input views.
pub fn with_device_head(
    def: ModelDef,
    id: u16,
    arch: &Arch,
    ways: usize,
    device: &ProtoSpec,
    matching: Option<&MatchingChoice>,
) -> Result<ModelDef> {
    let feat = arch.outputs();
    let steps = u16::try_from(device.steps).context("too many device steps")?;
    let adapt = AdaptDef::new(
        runtime::AdaptScope::HeadOnly,
        steps,
        RateDef::Scalar(device.alpha as f32),
        device.clip as f32,
    )
    .with_prototypes(device.scale as f32);
    let head = match matching.filter(|m| !m.is_plain()) {
        None => HeadDef::classification(
            id,
            "novel",
            vec![Dense::zeros(feat, ways, runtime::Activation::Identity)],
        ),
        Some(m) => {
            let classes = u16::try_from(ways).context("too many ways")?;
            let per_class = u16::try_from(m.per_class).context("too many prototypes")?;
            HeadDef::matching(
                id,
                "novel",
                classes,
                per_class,
                vec![Dense::zeros(
                    feat,
                    ways * m.per_class,
                    runtime::Activation::Identity,
                )],
            )
        }
    };
    let def = def.head(head.with_adapt(adapt));
    let warps = matching.map(MatchingChoice::warps).unwrap_or_default();
    if warps.is_empty() {
        return Ok(def);
    }
    let side = (1..=255u8)
        .find(|&s| usize::from(s) * usize::from(s) == arch.inputs)
        .ok_or_else(|| anyhow!("warps need a square image input, not {}", arch.inputs))?;
    Ok(def.views(side, side, warps))
}

pub fn model_def(name: &str, t: &Trained) -> Result<ModelDef> {
    with_heads(trunk_def(name, &t.trunk, &t.params)?, t)
}

/// `def` (a trunk of `t.trunk`'s features) with `t`'s heads: the multi-task head, if any, and
/// the head the device adapts.
pub fn with_heads(mut def: ModelDef, t: &Trained) -> Result<ModelDef> {
    let arch = &t.trunk;
    let feat = arch.outputs();
    let nt = arch.n_params();
    let mut id = 0;
    if t.aux_classes > 0 {
        let (w, b) = t.params[nt..].split_at(t.aux_classes * feat);
        def = def.head(HeadDef::classification(
            0,
            "base",
            vec![Dense::new(
                feat,
                t.aux_classes,
                runtime::Activation::Identity,
                f32s(w),
                f32s(b),
            )],
        ));
        id = 1;
    }
    with_device_head(def, id, arch, t.ways, &t.device, t.matching.as_ref())
}

/// Whether head `h` starts its adaptation from prototypes of the support set.
pub fn starts_from_prototypes(model: &Model<'_>, h: usize) -> bool {
    model
        .adapt_spec(h)
        .is_ok_and(|s| s.prototype_scale.is_some())
}

/// Whether head `h` has classes and adapts on the device (from prototypes or meta-learned rows).
pub fn adapts_classes(model: &Model<'_>, h: usize) -> bool {
    model.adapt_spec(h).is_ok() && model.head(h).is_ok_and(|x| x.kind.classes().is_some())
}

/// What a head meta-learned by gradient steps (no prototype start) gives at 0 steps: its
/// meta-learned rows, under labels each episode draws at random (`who`: the head, as named).
pub fn chance_note(who: &str) -> String {
    format!("({who} does not start from prototypes: at 0 steps it is its meta-learned rows, which the episode's labels, drawn at random, do not match: chance by construction)")
}

/// The first head that starts from prototypes.
pub fn prototype_head(model: &Model<'_>) -> Result<usize> {
    (0..model.heads().len())
        .find(|&h| starts_from_prototypes(model, h))
        .ok_or_else(|| anyhow!("the model has no prototype-initialised head"))
}

/// The head a classification evaluation adapts: the first that starts from prototypes, else
/// the first adaptable head with classes (a head whose rows were meta-learned, by MAML, ANIL,
/// Meta-SGD or MAML++, on episodes whose labels were drawn at random: its `classes` are the
/// episodes' ways, not classes of the data).
///
/// A model of several heads (a multi-task run's) is evaluated on one only when no other head
/// could be meant: several classification heads that adapt are refused, naming them.
pub fn classifying_head(model: &Model<'_>) -> Result<usize> {
    if let Ok(h) = prototype_head(model) {
        return Ok(h);
    }
    let adapting: Vec<usize> = (0..model.heads().len())
        .filter(|&h| adapts_classes(model, h))
        .collect();
    match adapting.as_slice() {
        [h] => Ok(*h),
        [] => bail!("the model has no classification head that adapts on the device (a fixed head's classes are its own: `train`'s table scores it on its held-out rows)"),
        many => bail!(
            "the model has {} classification heads that adapt ({}): `eval` takes a model with one",
            many.len(),
            many.iter()
                .map(|&h| format!("{h} {:?}", model.head(h).map_or("", |x| x.name)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What `eval` says of the head it scores in a model of several heads: which, and that the
/// others are `train`'s (None for a model of one head).
pub fn head_note(model: &Model<'_>, head: usize) -> Option<String> {
    let heads = model.heads();
    if heads.len() < 2 {
        return None;
    }
    let others: Vec<String> = (0..heads.len())
        .filter(|&h| h != head)
        .map(|h| {
            let kind = match model.adapt_spec(h) {
                Ok(_) => "adapts",
                Err(_) => "fixed",
            };
            format!("{h} {:?} ({kind})", heads[h].name)
        })
        .collect();
    Some(format!(
        "head {head} {:?} is evaluated here, on classes each new to it; the model's other heads, {}, are not (with its run record, `eval --model M` scores every head on its held-out data, `--head NAME --data FILE` one head on a file)",
        heads[head].name,
        others.join(", ")
    ))
}

/// Model `bytes` with its prototype head resized to `ways` classes, as `trainer train` exports
/// it for `ways`-way episodes (the head's last layer is zeros that the device sets from the
/// support set, so nothing learned changes); the bytes as they are when the head already has
/// `ways` classes. Refused when the head's step sizes are per parameter (their count is the
/// head's size).
pub fn with_ways(bytes: &[u8], ways: usize) -> Result<runtime::format::AlignedBytes> {
    let model = Model::from_bytes(bytes).map_err(|e| anyhow!("model: {e}"))?;
    let head = classifying_head(&model)?;
    let kind = model.head(head).map_err(|e| anyhow!("model: {e}"))?.kind;
    if kind.classes().map(usize::from) == Some(ways) {
        return Ok(runtime::format::AlignedBytes::from_slice(bytes));
    }
    if !starts_from_prototypes(&model, head) {
        bail!(
            "head {head} does not start from prototypes: its {} class rows were meta-learned, so it takes {0}-way episodes only (--ways {0}); a head that starts from prototypes takes any number",
            kind.classes().unwrap_or(0)
        );
    }
    let classes = u16::try_from(ways).context("too many ways")?;
    let mut def = ModelDef::from_model(&model).map_err(|e| anyhow!("model: {e}"))?;
    let h = def
        .heads
        .get_mut(head)
        .ok_or_else(|| anyhow!("model: no head {head}"))?;
    let per_class = match &mut h.kind {
        runtime::HeadKind::Classification { classes: c } => {
            *c = classes;
            1
        }
        runtime::HeadKind::Matching {
            classes: c,
            per_class,
            ..
        } => {
            *c = classes;
            usize::from(*per_class)
        }
        runtime::HeadKind::Regression { .. } => {
            bail!("the prototype head is not a classification head")
        }
    };
    if h.adapt
        .as_ref()
        .is_some_and(|a| !matches!(a.rate, RateDef::Scalar(_) | RateDef::PerLayerPerStep { .. }))
    {
        bail!("--ways {ways}: the head's step sizes are per parameter, so its size is fixed at {:?} classes", kind.classes());
    }
    let last = h
        .layers
        .last_mut()
        .ok_or_else(|| anyhow!("model: the prototype head has no layer"))?;
    *last = Dense::zeros(last.inputs, ways * per_class, last.activation);
    def.to_aligned_bytes()
        .map_err(|e| anyhow!("the model with a {ways}-class head: {e}"))
}

/// Correct query predictions of one episode after `steps` device steps (0: prototypes only, or
/// the meta-learned start of a head that does not start from prototypes).
pub fn episode_correct(
    model: &Model<'_>,
    head: usize,
    ep: &Episode,
    steps: usize,
) -> Result<usize> {
    Ok(count(&episode_hits(model, head, ep, steps)?))
}

/// [`episode_correct`] query by query: which queries are classified right, in order.
pub fn episode_hits(
    model: &Model<'_>,
    head: usize,
    ep: &Episode,
    steps: usize,
) -> Result<Vec<bool>> {
    let out = episode_probs(model, head, ep, steps, &[])?;
    Ok(out
        .chunks_exact(ep.ways)
        .zip(&ep.query_y)
        .map(|(z, &y)| argmax(z) == y)
        .collect())
}

/// The `true`s of `hits`.
fn count(hits: &[bool]) -> usize {
    hits.iter().filter(|&&h| h).count()
}

/// The first index of the largest value (0 for an empty slice).
pub fn argmax<T: PartialOrd>(z: &[T]) -> usize {
    (0..z.len()).fold(0, |a, j| if z[j] > z[a] { j } else { a })
}

/// The head's class probabilities (`ways` a row) for the episode's queries, then for the rows
/// of `extra` (`ep.d` features each), after the runtime adapted the head to the episode's
/// support set with `steps` device steps.
pub fn episode_probs(
    model: &Model<'_>,
    head: usize,
    ep: &Episode,
    steps: usize,
    extra: &[f64],
) -> Result<Vec<f32>> {
    let e = |e: runtime::Error| anyhow!("runtime: {e}");
    let mut state = Box::new(AdaptState::<STATE_CAP>::new(model, head).map_err(e)?);
    let k = ep.support_y.len();
    let rows = ep.query_y.len() + extra.len() / ep.d.max(1);
    let needs = model.ram_needs(head, k.max(rows)).map_err(e)?;
    let mut scratch = vec![0.0f32; needs.adapt_scratch.max(needs.infer_scratch)];
    let mut losses = vec![0.0f32; steps + 1];
    let sx: Vec<f32> = ep.support_x.iter().map(|&v| v as f32).collect();
    let sl: Vec<u16> = ep
        .support_y
        .iter()
        .map(|&c| u16::try_from(c).map_err(|_| anyhow!("class {c} > 65535")))
        .collect::<Result<_>>()?;
    let n = u16::try_from(steps).map_err(|_| anyhow!("{steps} steps is too many"))?;
    // A head that does not start from prototypes is its meta-learned start at 0 steps.
    if steps > 0 || starts_from_prototypes(model, head) {
        state
            .adapt(
                model,
                Support::classes(&sx, &sl),
                Some(n),
                &mut scratch,
                &mut losses,
            )
            .map_err(e)?;
    }
    let net = state.network(model).map_err(e)?;
    let qx: Vec<f32> = ep.query_x.iter().chain(extra).map(|&v| v as f32).collect();
    let mut out = vec![0.0f32; rows * ep.ways];
    net.infer_batch(&qx, Heads::only(head), &mut scratch, &mut out)
        .map_err(e)?;
    Ok(out)
}

/// Nearest class mean (squared Euclidean distance) of `norm`-normalised inputs, or raw ones:
/// the episode's correct queries.
pub fn centroid_correct(ep: &Episode, norm: Option<&Normalisation>) -> usize {
    count(&centroid_hits(ep, norm))
}

/// [`centroid_correct`] query by query, in order.
pub fn centroid_hits(ep: &Episode, norm: Option<&Normalisation>) -> Vec<bool> {
    let d = ep.d;
    let (sx, qx) = match norm {
        Some(n) => (n.apply(&ep.support_x), n.apply(&ep.query_x)),
        None => (ep.support_x.clone(), ep.query_x.clone()),
    };
    let mu = class_means(&sx, &ep.support_y, ep.ways, d);
    qx.chunks_exact(d)
        .zip(&ep.query_y)
        .map(|(x, &y)| nearest_mean(&mu, d, x) == y)
        .collect()
}

/// [`centroid_correct`] in the device's arithmetic: the inputs normalised in f32 as the runtime
/// does (`(x - shift) * scale`) and each class scored `2 mu.x - |mu|^2` in f32 (a prototype
/// head's logits, up to its scale), so a normalisation whose values cancel in 32 bits (a shift
/// far from some features' values, beside a feature of much larger values) scores what it
/// would on the device, not what it would in f64.
pub fn centroid_correct_f32(ep: &Episode, norm: &Normalisation) -> usize {
    let d = ep.d;
    let apply = |x: &[f64]| -> Vec<f32> {
        let x = match &norm.window {
            Some(w) => w.apply(x, d),
            None => x.to_vec(),
        };
        let (shift, scale) = (&norm.shift, &norm.scale);
        (x.iter().enumerate())
            .map(|(i, &v)| (v as f32 - shift[i % d] as f32) * scale[i % d] as f32)
            .collect()
    };
    let (sx, qx) = (apply(&ep.support_x), apply(&ep.query_x));
    let mut mu = vec![0.0f32; ep.ways * d];
    let mut n = vec![0.0f32; ep.ways];
    for (x, &c) in sx.chunks_exact(d).zip(&ep.support_y) {
        n[c] += 1.0;
        for (m, v) in mu[c * d..(c + 1) * d].iter_mut().zip(x) {
            *m += v;
        }
    }
    for (m, k) in mu.chunks_exact_mut(d.max(1)).zip(&n) {
        m.iter_mut().for_each(|m| *m /= k.max(1.0));
    }
    let logit = |m: &[f32], x: &[f32]| -> f32 {
        let dot = m.iter().zip(x).fold(0.0f32, |a, (m, x)| a + 2.0 * m * x);
        dot - m.iter().fold(0.0f32, |a, m| a + m * m)
    };
    let nearest = |x: &[f32]| -> usize {
        let scores: Vec<f32> = mu.chunks_exact(d.max(1)).map(|m| logit(m, x)).collect();
        (0..scores.len()).fold(0, |a, c| if scores[c] > scores[a] { c } else { a })
    };
    (qx.chunks_exact(d.max(1)).zip(&ep.query_y))
        .filter(|(x, &y)| nearest(x) == y)
        .count()
}

/// The mean of each of `ways` classes (row-major, `ways x d`) of rows `x` labelled `y`; a class
/// without rows has mean 0.
pub fn class_means(x: &[f64], y: &[usize], ways: usize, d: usize) -> Vec<f64> {
    let mut mu = vec![0.0; ways * d];
    let mut n = vec![0.0; ways];
    for (x, &c) in x.chunks_exact(d).zip(y) {
        n[c] += 1.0;
        for j in 0..d {
            mu[c * d + j] += x[j];
        }
    }
    for c in 0..ways {
        for j in 0..d {
            mu[c * d + j] /= f64::max(n[c], 1.0);
        }
    }
    mu
}

/// The class whose mean (of [`class_means`]) is nearest to `x` (squared Euclidean distance).
pub fn nearest_mean(mu: &[f64], d: usize, x: &[f64]) -> usize {
    let dist = |c: usize| -> f64 { (0..d).map(|j| (x[j] - mu[c * d + j]).powi(2)).sum() };
    (0..mu.len() / d.max(1)).fold(0, |a, c| if dist(c) < dist(a) { c } else { a })
}

/// The baselines printed beside the model, on the same episodes.
pub struct Baselines<'a> {
    /// The standardisation fitted on the meta-training classes.
    pub standardise: &'a Normalisation,
    /// The model's own input normalisation, when it is not that standardisation (it has a
    /// per-sample transform): nearest centroid on it is the identity trunk's prototype start.
    pub model_input: Option<&'a Normalisation>,
    /// A trained trunk evaluated with prototypes (0 steps, f32 on the host), and its name.
    pub trunk: Option<(&'a Arch, &'a [f64], &'a str)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AccRow {
    pub method: String,
    pub shots: usize,
    /// Device inner steps (`None` for the baseline).
    pub steps: Option<usize>,
    pub episodes: usize,
    /// Mean query accuracy over episodes, in percent, and the 95% CI half-width (over the
    /// episodes: how well these classes were measured).
    pub accuracy: f64,
    pub ci95: f64,
    /// The same with the class as the unit: each class's accuracy over all its queries, then
    /// the mean and Student's t 95% CI half-width over the classes (how much another class
    /// might differ), in percent.
    pub classes: usize,
    pub class_accuracy: f64,
    pub class_ci95: f64,
    /// Query accuracy of every episode, in percent like `accuracy`, in order (for paired
    /// comparisons; `eval --per-task`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_episode: Vec<f64>,
    /// Each class's accuracy over its queries, by the class's place in the episodes' pool
    /// ([`Episode::pool_class`]), in that order (for `cv`, which pools classes over folds).
    #[serde(skip)]
    pub per_class: Vec<(usize, f64)>,
}

/// The row of `method` from which queries of each of `eps` it got right.
pub(super) fn row(
    method: &str,
    shots: usize,
    steps: Option<usize>,
    hits: &[Vec<bool>],
    eps: &[Episode],
) -> AccRow {
    let per_ep = shares(hits);
    let (m, ci) = mean_ci(&per_ep);
    let keyed = class_accuracies(hits, eps);
    let per_class: Vec<f64> = keyed.iter().map(|c| c.1).collect();
    let (cm, cci) = mean_ci(&per_class);
    AccRow {
        method: method.into(),
        shots,
        steps,
        episodes: per_ep.len(),
        accuracy: 100.0 * m,
        ci95: 100.0 * ci,
        classes: per_class.len(),
        class_accuracy: 100.0 * cm,
        class_ci95: 100.0 * cci,
        per_episode: per_ep.iter().map(|a| 100.0 * a).collect(),
        per_class: keyed,
    }
}

/// Each episode's share of queries right.
pub fn shares(hits: &[Vec<bool>]) -> Vec<f64> {
    hits.iter()
        .map(|h| count(h) as f64 / h.len().max(1) as f64)
        .collect()
}

/// Each class's accuracy over all of its queries in `eps` (classes told apart by
/// [`Episode::pool_class`]), with its key, in the order of their keys.
fn class_accuracies(hits: &[Vec<bool>], eps: &[Episode]) -> Vec<(usize, f64)> {
    let mut tally = ClassTally::default();
    for (h, ep) in hits.iter().zip(eps) {
        tally.add(h, &ep.query_y, &ep.pool_class);
    }
    tally.keyed()
}

/// Each class's queries and those answered right, over any number of draws: the class as the
/// unit of an accuracy.
#[derive(Clone, Debug, Default)]
pub struct ClassTally(std::collections::BTreeMap<usize, (usize, usize)>);

impl ClassTally {
    /// Adds one draw's queries: `hits` in the order of their `labels`, a label's class the key
    /// `keys[label]` (the label itself where `keys` has none).
    pub fn add(&mut self, hits: &[bool], labels: &[usize], keys: &[usize]) {
        for (&hit, &y) in hits.iter().zip(labels) {
            let e = self.0.entry(keys.get(y).copied().unwrap_or(y)).or_default();
            (e.0, e.1) = (e.0 + usize::from(hit), e.1 + 1);
        }
    }

    /// Adds `other`'s queries.
    pub fn merge(&mut self, other: &ClassTally) {
        for (&key, &(r, n)) in &other.0 {
            let e = self.0.entry(key).or_default();
            (e.0, e.1) = (e.0 + r, e.1 + n);
        }
    }

    /// Each class's key and accuracy, in the order of their keys.
    pub fn keyed(&self) -> Vec<(usize, f64)> {
        self.0
            .iter()
            .map(|(&key, &(r, n))| (key, r as f64 / n.max(1) as f64))
            .collect()
    }

    /// Each class's accuracy, in the order of their keys.
    pub fn accuracies(&self) -> Vec<f64> {
        self.0
            .values()
            .map(|&(r, n)| r as f64 / n.max(1) as f64)
            .collect()
    }
}

/// Accuracy of the model as deployed for each step count, and the baselines, on `eps`.
pub fn evaluate(
    bytes: &[u8],
    eps: &[Episode],
    steps: &[usize],
    baselines: &Baselines<'_>,
) -> Result<Vec<AccRow>> {
    let model = Model::from_bytes(bytes).map_err(|e| anyhow!("model: {e}"))?;
    let head = classifying_head(&model)?;
    let classes = match model
        .head(head)
        .map_err(|e| anyhow!("model: {e}"))?
        .kind
        .classes()
    {
        Some(classes) => usize::from(classes),
        None => bail!("head {head} is not a classification head"),
    };
    let Some(first) = eps.first() else {
        bail!("no episodes");
    };
    if first.ways != classes {
        bail!(
            "the model's head {head} has {classes} classes, the episodes are {}-way",
            first.ways
        );
    }
    if first.d != model.input_len() {
        bail!(
            "the model takes {} inputs, the data has {}",
            model.input_len(),
            first.d
        );
    }
    let shots = first.shots;
    let mut rows = Vec::new();
    for &s in steps {
        let hits: Vec<Vec<bool>> = eps
            .par_iter()
            .map(|ep| episode_hits(&model, head, ep, s))
            .collect::<Result<_>>()?;
        rows.push(row("model", shots, Some(s), &hits, eps));
    }
    let raw = baseline(eps, None);
    rows.push(row("nearest_centroid_raw", shots, None, &raw, eps));
    let std = baseline(eps, Some(baselines.standardise));
    rows.push(row("nearest_centroid_standardised", shots, None, &std, eps));
    if let Some(norm) = baselines.model_input {
        let own = baseline(eps, Some(norm));
        rows.push(row("nearest_centroid_model_input", shots, None, &own, eps));
    }
    if let Some((arch, params, name)) = baselines.trunk {
        let spec = ProtoSpec {
            scale: 1.0,
            steps: 0,
            alpha: 0.0,
            clip: 1.0,
        };
        let hits = trunk_hits(arch, params, eps, &spec);
        rows.push(row(name, shots, Some(0), &hits, eps));
    }
    Ok(rows)
}

/// Which queries of every episode nearest centroid classifies right (`norm`: on normalised
/// inputs).
pub fn baseline(eps: &[Episode], norm: Option<&Normalisation>) -> Vec<Vec<bool>> {
    eps.par_iter().map(|ep| centroid_hits(ep, norm)).collect()
}

/// The rows as a table: accuracy with its interval over the episodes, then with the class as
/// the unit (`classes`: how many, `per class %` and its interval over them).
pub fn table(rows: &[AccRow]) -> String {
    let mut s = format!(
        "{:<30} {:>5} {:>6} {:>9} {:>9} {:>7} {:>8} {:>11} {:>7}\n",
        "method",
        "shots",
        "steps",
        "episodes",
        "acc %",
        "95% CI",
        "classes",
        "per class %",
        "95% CI"
    );
    for r in rows {
        s += &format!(
            "{:<30} {:>5} {:>6} {:>9} {:>9.2} {:>7} {:>8} {:>11.2} {:>7}\n",
            r.method,
            r.shots,
            r.steps.map_or("-".into(), |v| v.to_string()),
            r.episodes,
            r.accuracy,
            crate::eval::ci_cell(r.ci95, 2),
            r.classes,
            r.class_accuracy,
            crate::eval::ci_cell(r.class_ci95, 2)
        );
    }
    let fewest = rows.iter().map(|r| r.classes).min().unwrap_or(0);
    s + &crate::eval::few_units_note(fewest, "class")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2-way episode of pool classes `classes`, two queries per class.
    fn episode(classes: [usize; 2]) -> Episode {
        Episode {
            ways: 2,
            query: 2,
            query_y: vec![0, 0, 1, 1],
            pool_class: classes.to_vec(),
            ..Default::default()
        }
    }

    /// Two classes 1 unit apart in two features around 10, beside a timestamp near 1.7e9: a
    /// common shift of the pooled mean (about 5.7e8) leaves the small features nothing in f32.
    #[test]
    fn a_common_shift_that_cancels_in_f32_scores_as_the_device_would() {
        let row = |c: usize, i: usize| -> [f64; 3] {
            let v = 10.0 + c as f64 + 0.1 * i as f64;
            [v, v, 1.7e9 + (i % 2) as f64]
        };
        let mut ep = Episode {
            ways: 2,
            shots: 2,
            query: 2,
            d: 3,
            query_y: vec![0, 0, 1, 1],
            support_y: vec![0, 0, 1, 1],
            ..Default::default()
        };
        for (x, i0) in [(&mut ep.support_x, 0), (&mut ep.query_x, 2)] {
            for c in 0..2 {
                x.extend(row(c, i0).into_iter().chain(row(c, i0 + 1)));
            }
        }
        let mean = (4.0 * (2.0 * 10.5 + 1.7e9)) / 12.0;
        let common = Normalisation {
            shift: vec![mean; 3],
            scale: vec![1.0 / 8.0e8; 3],
            window: None,
        };
        let standardise = Normalisation {
            shift: vec![10.5, 10.5, 1.7e9],
            scale: vec![2.0, 2.0, 2.0],
            window: None,
        };
        assert_eq!(
            centroid_correct(&ep, Some(&common)),
            4,
            "f64 tells them apart"
        );
        assert!(centroid_correct_f32(&ep, &common) < 4, "f32 does not");
        assert_eq!(centroid_correct_f32(&ep, &standardise), 4);
    }

    #[test]
    fn rows_give_the_episode_and_the_class_as_the_unit() {
        // Class 7 always right (4 queries), class 9 once in two, class 3 never.
        let eps = [episode([7, 9]), episode([3, 7])];
        let hits = [
            vec![true, true, true, false],
            vec![false, false, true, true],
        ];
        let r = row("model", 1, Some(0), &hits, &eps);
        assert_eq!((r.episodes, r.classes), (2, 3));
        assert!((r.accuracy - 62.5).abs() < 1e-9, "{r:?}");
        // Classes 3, 7, 9: 0, 1 and 0.5, whatever their query counts.
        let (mean, ci) = mean_ci(&[0.0, 1.0, 0.5]);
        assert!((r.class_accuracy - 100.0 * mean).abs() < 1e-9, "{r:?}");
        assert!((r.class_ci95 - 100.0 * ci).abs() < 1e-9, "{r:?}");
    }
}
