//! Export: the trained network and its adaptation spec in the runtime's format, written by the
//! runtime's own writer (`fewshot_runtime::writer`), and loading it back for evaluation.
//!
//! A trunk's convolution and pooling layers (before its first dense layer) become the runtime's
//! frozen stem (format v4), its `flatten` nothing (the channel-major map is already the flat
//! vector), its dense layers the runtime's trunk. The trainer has no batch normalisation, so
//! there is nothing to fold.

use crate::meta::{adapted_layers, rates, Algorithm, MetaSpec, Rates, Scope};
use crate::net::{Activation, Arch, HeadKind, Op, Shape};
use anyhow::{anyhow, bail, Context, Result};
use runtime::format::spec::{ConvSpec, Map, PoolSpec};
use runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef, StemDef};
use std::path::Path;

/// The runtime's activation for the trainer's.
pub fn act(a: Activation) -> runtime::Activation {
    match a {
        Activation::Identity => runtime::Activation::Identity,
        Activation::Relu => runtime::Activation::Relu,
        Activation::Tanh => runtime::Activation::Tanh,
        Activation::Sigmoid => runtime::Activation::Sigmoid,
    }
}

/// Values as the model file stores them.
pub fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Layer `l` of `arch` with its parameters from `theta` (the trainer's layout).
pub fn dense(arch: &Arch, theta: &[f64], l: usize) -> Dense {
    let s = &arch.layers[l];
    let (w, b) = (arch.w_off(l), arch.b_off(l));
    Dense::new(
        s.inputs,
        s.outputs,
        act(s.act),
        f32s(&theta[w..b]),
        f32s(&theta[b..b + s.outputs]),
    )
}

pub fn scope(s: Scope) -> Result<runtime::AdaptScope> {
    Ok(match s {
        Scope::HeadOnly => runtime::AdaptScope::HeadOnly,
        Scope::HeadAndLastTrunk(k) => runtime::AdaptScope::HeadAndLastTrunk(
            u8::try_from(k).map_err(|_| anyhow!("head_and_last_trunk {k} > 255"))?,
        ),
        Scope::BiasesOnly => runtime::AdaptScope::BiasesOnly,
        Scope::Everything => runtime::AdaptScope::Everything,
    })
}

/// The runtime's rate definition for the learned (or fixed) rates.
pub fn rate_def(arch: &Arch, spec: &MetaSpec, u: &[f64]) -> Result<RateDef> {
    Ok(match rates(arch, spec, u) {
        Rates::Scalar(a) => RateDef::Scalar(a as f32),
        // The proximal rule's rates have the same layout; the runtime takes its steps implicitly.
        Rates::PerParameter(v) if spec.algorithm == Algorithm::Proximal => {
            RateDef::Proximal(f32s(&v))
        }
        Rates::PerParameter(v) => RateDef::PerParameter(f32s(&v)),
        Rates::PerLayerPerStep(t) => {
            let nla = adapted_layers(arch, spec.effective_scope()).len();
            let mut table = Vec::with_capacity(t.len() * nla * 2);
            for row in &t {
                for pair in row {
                    table.extend(pair.iter().map(|&x| x as f32));
                }
            }
            RateDef::PerLayerPerStep {
                steps: u16::try_from(t.len()).context("too many steps")?,
                table,
            }
        }
    })
}

/// Ok when the runtime's format holds every layer of `arch`: convolution and pooling layers
/// (and flattens) only before the trunk's first dense layer, at most
/// [`MAX_STEM_LAYERS`](runtime::format::spec::MAX_STEM_LAYERS) of them, dense layers after.
pub fn exportable(arch: &Arch) -> Result<()> {
    let first_dense = arch.layers.iter().position(|l| l.is_dense());
    let late = arch
        .layers
        .iter()
        .enumerate()
        .skip(first_dense.unwrap_or(arch.layers.len()))
        .find(|(_, l)| !l.is_dense());
    if let Some((l, layer)) = late {
        bail!(
            "layer {l} of the network is a {} layer after a dense layer: the runtime runs convolution and pooling layers only as a stem before the first dense layer",
            layer.op.name()
        );
    }
    let stem = stem_layers(arch).count();
    if stem > runtime::format::spec::MAX_STEM_LAYERS {
        bail!(
            "the trunk has {stem} convolution and pooling layers, the runtime's stem holds at most {}",
            runtime::format::spec::MAX_STEM_LAYERS
        );
    }
    Ok(())
}

/// Refuses, before any training, a trunk the runtime's format cannot hold: the runtime writer's
/// own checks (layer and input widths, map sizes, the stem's length) on a copy of `arch`'s
/// trunk with zero weights and a two-class head, the error naming each layer's output width.
pub fn check_holds(arch: &Arch) -> Result<()> {
    let trunk = Arch {
        layers: arch.layers[..arch.n_trunk].to_vec(),
        ..arch.clone()
    };
    let theta = vec![0.0; trunk.n_params()];
    let head = HeadDef::classification(
        0,
        "check",
        vec![Dense::zeros(
            trunk.outputs(),
            2,
            runtime::Activation::Identity,
        )],
    );
    let built = trunk_def("check", &trunk, &theta)
        .and_then(|def| def.head(head).to_bytes().map_err(|e| anyhow!("{e}")));
    built.map(drop).map_err(|e| {
        let widths: Vec<String> = trunk
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{i} {} {}", l.op.name(), l.outputs))
            .collect();
        anyhow!(
            "the runtime cannot hold this trunk: {e}. Its input has {} values, its layers output {}. {}",
            trunk.inputs,
            widths.join(", "),
            too_wide(&trunk)
        )
    })
}

/// What in `trunk` passes the runtime's limits: a convolution or pooling map (the stem's, a
/// padded input included) holds at most `MAX_MAP_LEN` values, a dense layer takes and gives at
/// most `MAX_WIDTH`.
fn too_wide(trunk: &Arch) -> String {
    use runtime::format::spec::{MAX_MAP_LEN, MAX_WIDTH};
    let stem: Vec<usize> = stem_layers(trunk).collect();
    let over: Vec<String> = trunk
        .layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            // A stem layer's input is the map before it (or the trunk's input).
            let (limit, what, n) = if stem.contains(&i) {
                (MAX_MAP_LEN, "a convolution or pooling map holds", l.outputs)
            } else if matches!(l.op, Op::Dense) {
                let n = l.inputs.max(l.outputs);
                (MAX_WIDTH, "a dense layer takes and gives", n)
            } else {
                return None;
            };
            (n > limit).then(|| {
                format!(
                    "layer {i} ({}): {n} values, {what} at most {limit}",
                    l.op.name()
                )
            })
        })
        .collect();
    if over.is_empty() {
        format!(
            "A convolution or pooling map holds at most {MAX_MAP_LEN} values (a convolution's zero-padded input too), a dense layer takes and gives at most {MAX_WIDTH}: use fewer channels, a stride or a pooling layer"
        )
    } else {
        format!(
            "{}: use fewer channels, or a stride or a pooling layer before it",
            over.join("; ")
        )
    }
}

/// The indices of the layers of `arch` that become the runtime's stem.
fn stem_layers(arch: &Arch) -> impl Iterator<Item = usize> + '_ {
    (0..arch.n_trunk).filter(|&l| !matches!(arch.layers[l].op, Op::Dense | Op::Flatten))
}

/// The number of dense layers of `arch`'s trunk (the runtime's trunk).
pub fn dense_trunk_layers(arch: &Arch) -> usize {
    (0..arch.n_trunk)
        .filter(|&l| arch.layers[l].is_dense())
        .count()
}

fn narrow(v: usize, what: &str) -> Result<u16> {
    u16::try_from(v).map_err(|_| anyhow!("{what} {v} exceeds the runtime's 65535"))
}

fn map(s: Shape) -> Result<Map> {
    Ok(Map {
        channels: narrow(s.channels, "channels")?,
        height: narrow(s.height, "map height")?,
        width: narrow(s.width, "map width")?,
    })
}

/// The runtime's stem layer for layer `l` of `arch` (a convolution or a pooling).
pub fn stem_def(arch: &Arch, theta: &[f64], l: usize) -> Result<StemDef> {
    let s = &arch.layers[l];
    Ok(match &s.op {
        Op::Conv(c) => {
            let spec = ConvSpec {
                input: map(c.input)?,
                channels: narrow(c.out_channels, "channels")?,
                kernel: [
                    narrow(c.kernel[0], "kernel")?,
                    narrow(c.kernel[1], "kernel")?,
                ],
                stride: narrow(c.stride, "stride")?,
                padding: [
                    narrow(c.padding[0], "padding")?,
                    narrow(c.padding[1], "padding")?,
                ],
                activation: act(s.act),
                offset: 0,
            };
            let (w, b) = (arch.w_off(l), arch.b_off(l));
            let (w, b) = (f32s(&theta[w..b]), f32s(&theta[b..arch.end_off(l)]));
            if c.depthwise {
                StemDef::depthwise(spec, w, b)
            } else {
                StemDef::conv(spec, w, b)
            }
        }
        Op::MaxPool(p) => StemDef::max_pool(pool(&p.0)?),
        Op::AvgPool(p) if p.0.kernel == [p.0.input.height, p.0.input.width] => {
            StemDef::global_avg_pool(map(p.0.input)?)
        }
        Op::AvgPool(p) => StemDef::avg_pool(pool(&p.0)?),
        Op::Dense | Op::Flatten => bail!("layer {l} is a {} layer, not a stem layer", s.op.name()),
    })
}

fn pool(w: &crate::net::window::Window) -> Result<PoolSpec> {
    Ok(PoolSpec {
        input: map(w.input)?,
        size: [
            narrow(w.kernel[0], "pool size")?,
            narrow(w.kernel[1], "pool size")?,
        ],
        stride: narrow(w.stride, "pool stride")?,
    })
}

/// A model definition of `arch`'s input: its normalisation and per-sample transform, no layers.
pub fn input_def(name: &str, arch: &Arch) -> ModelDef {
    let def = ModelDef::new(name, arch.inputs).normalise(f32s(&arch.shift), f32s(&arch.scale));
    match &arch.window {
        Some(w) => def.transform(runtime::format::InputTransform::StandardiseChannels {
            channels: u16::try_from(w.channels).unwrap_or(u16::MAX),
            eps: w.eps as f32,
        }),
        None => def,
    }
}

/// The trunk of `arch` (its first `n_trunk` layers) with the input normalisation and transform:
/// a model definition without heads, the start of every exported model. Its convolution and
/// pooling layers form the stem, its dense layers the trunk, a flatten nothing.
pub fn trunk_def(name: &str, arch: &Arch, theta: &[f64]) -> Result<ModelDef> {
    exportable(arch)?;
    let mut def = input_def(name, arch);
    for l in stem_layers(arch) {
        def = def.stem(stem_def(arch, theta, l)?);
    }
    for l in (0..arch.n_trunk).filter(|&l| arch.layers[l].is_dense()) {
        def = def.trunk(dense(arch, theta, l));
    }
    Ok(def)
}

/// Head `id` of `arch` (its layers above the trunk), adapted on the device by `spec` with rate
/// parameters `u` when given.
pub fn head_def(
    id: u16,
    name: &str,
    arch: &Arch,
    theta: &[f64],
    adapt: Option<(&MetaSpec, &[f64])>,
) -> Result<HeadDef> {
    let layers: Vec<Dense> = (arch.n_trunk..arch.layers.len())
        .map(|l| dense(arch, theta, l))
        .collect();
    let head = match arch.head {
        HeadKind::Regression => HeadDef::regression(id, name, layers),
        HeadKind::Classification => HeadDef::classification(id, name, layers),
    };
    let Some((spec, u)) = adapt else {
        return Ok(head);
    };
    check_scope(arch, spec.effective_scope(), "[meta] scope")?;
    let steps = u16::try_from(spec.steps).context("too many inner steps")?;
    let adapt = AdaptDef::new(
        scope(spec.effective_scope())?,
        steps,
        rate_def(arch, spec, u)?,
        spec.clip as f32,
    );
    Ok(head.with_adapt(adapt))
}

/// Refuses a scope that would adapt the runtime's frozen stem, naming the configuration key
/// (`key`: `[meta] scope`, or a multi-task head's `scope`).
pub fn check_scope(arch: &Arch, scope: Scope, key: &str) -> Result<()> {
    if stem_layers(arch).next().is_none() {
        return Ok(());
    }
    let dense = dense_trunk_layers(arch);
    let name = match scope {
        Scope::BiasesOnly => "biases_only",
        Scope::Everything => "everything",
        _ => "",
    };
    match scope {
        Scope::BiasesOnly | Scope::Everything => bail!(
            "`{key}` = \"{name}\" adapts every trunk layer, but the trunk's convolution and pooling layers export as the runtime's frozen stem: use \"head_only\" or {{ head_and_last_trunk = k }} (k at most {dense}, the trunk's dense layers)"
        ),
        Scope::HeadAndLastTrunk(k) if k > dense => bail!(
            "`{key}` = {{ head_and_last_trunk = {k} }} reaches past the trunk's {dense} dense layers into its convolution and pooling layers (the runtime's frozen stem)"
        ),
        _ => Ok(()),
    }
}

/// Build the runtime's model definition: trunk layers, one head, its adaptation spec.
pub fn model_def(
    name: &str,
    arch: &Arch,
    spec: &MetaSpec,
    theta: &[f64],
    u: &[f64],
) -> Result<ModelDef> {
    if theta.len() != arch.n_params() {
        bail!(
            "parameter vector has {} values, architecture needs {}",
            theta.len(),
            arch.n_params()
        );
    }
    let head_name = match arch.head {
        HeadKind::Regression => "y",
        HeadKind::Classification => "class",
    };
    let head = head_def(0, head_name, arch, theta, Some((spec, u)))?;
    Ok(trunk_def(name, arch, theta)?.head(head))
}

/// `def` with its regression head 0 returning `z * scale + shift` and standardising support
/// targets as `(y - shift) / scale` (format v2); None leaves it as it is (format v1).
pub fn with_targets(mut def: ModelDef, targets: &Option<(Vec<f64>, Vec<f64>)>) -> ModelDef {
    if let (Some((shift, scale)), Some(h)) = (targets, def.heads.first_mut()) {
        *h = h
            .clone()
            .with_output_normalisation(f32s(shift), f32s(scale));
    }
    def
}

pub fn write(path: &Path, def: &ModelDef) -> Result<usize> {
    write_as(path, def, def.version())
}

/// [`write()`] in format `version` (an older one for devices whose runtime reads no newer):
/// refused, naming the oldest that holds the model, when `version` cannot express it.
pub fn write_as(path: &Path, def: &ModelDef, version: u16) -> Result<usize> {
    let oldest = def.version();
    let newest = runtime::format::FORMAT_VERSION;
    if !(1..=newest).contains(&version) {
        bail!("format version {version}: the formats are 1 to {newest}");
    }
    let bytes = def.to_bytes_as(version).map_err(|e| match version < oldest {
        true => anyhow!("format version {version} cannot hold this model (it needs {oldest} or newer); the device's runtime must be updated to read it ({e})"),
        false => anyhow!("runtime writer refused the model: {e}"),
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(bytes.len())
}

/// Read a model file into 4-byte-aligned memory and check it with the runtime's loader.
pub fn read(path: &Path) -> Result<runtime::format::AlignedBytes> {
    let bytes = runtime::format::AlignedBytes::read(path)
        .with_context(|| format!("reading {}", path.display()))?;
    runtime::Model::from_bytes(&bytes)
        .map_err(|e| anyhow!("{}: not a valid model: {e}", path.display()))?;
    Ok(bytes)
}

/// The model of `bytes` re-exported with head `head` changed: enrollable with up to
/// `max_classes` classes (at least its own class count; the device then adds classes to it),
/// and/or asking the device for `steps` inner steps by
/// default (its adaptation spec's `steps`; 0: the prototype start alone). Everything else is
/// kept, model id included.
pub fn reexport(
    bytes: &[u8],
    head: usize,
    max_classes: Option<u16>,
    steps: Option<u16>,
) -> Result<ModelDef> {
    let model = runtime::Model::from_bytes(bytes).map_err(|e| anyhow!("not a valid model: {e}"))?;
    let mut def = ModelDef::from_model(&model).map_err(|e| anyhow!("{e}"))?;
    if let Some(steps) = steps {
        if steps > runtime::MAX_STEPS {
            bail!("--steps {steps}: at most {}", runtime::MAX_STEPS);
        }
        let adapt = def
            .heads
            .get_mut(head)
            .ok_or_else(|| anyhow!("the model has no head {head}"))?
            .adapt
            .as_mut()
            .ok_or_else(|| anyhow!("head {head} does not adapt on the device: no steps to set"))?;
        adapt.steps = steps;
        if steps > 0 && still_rate(&adapt.rate) {
            eprintln!(
                "warning: head {head}'s step size is 0 in this model, so the device's {steps} steps will change nothing (train chose 0 when steps did not help on its validation episodes)"
            );
        }
    }
    if let Some(c) = max_classes {
        make_enrollable(&model, &mut def, head, c)?;
    }
    Ok(def)
}

/// Makes head `head` of `def` (the definition of `model`) enrollable with up to `max_classes`.
fn make_enrollable(
    model: &runtime::Model<'_>,
    def: &mut ModelDef,
    head: usize,
    max_classes: u16,
) -> Result<()> {
    let h = def
        .heads
        .get_mut(head)
        .ok_or_else(|| anyhow!("the model has no head {head}"))?;
    let kind = model.head(head).ok().map(|h| h.kind);
    let classes = kind.and_then(|k| k.classes()).map(usize::from);
    if classes.is_none() {
        let kind = kind.map_or("?".to_string(), |k| k.to_string());
        bail!("--max-classes: head {head} ({kind}) has no classes; classes are added on the device to a classification head (one dense layer on the trunk's features)");
    }
    if let Some(k @ runtime::HeadKind::Matching { .. }) = kind {
        bail!("--max-classes: head {head} ({k}) holds several prototypes per class; classes are added on the device to a classification head (one dense layer on the trunk's features, one row per class)");
    }
    let layers = model.head(head).map_or(0, |h| h.layers.len());
    if layers != 1 {
        bail!("--max-classes: head {head} has {layers} layers; classes are added on the device to a classification head of one dense layer on the trunk's features (its rows are the classes' prototypes)");
    }
    let most = runtime::format::MAX_ENROLL_CLASSES;
    if max_classes > most {
        bail!("--max-classes {max_classes}: a bank holds at most {most} classes (the model format's limit)");
    }
    if let Some(c) = classes.filter(|&c| usize::from(max_classes) < c) {
        bail!("--max-classes {max_classes}: head {head} already has {c} classes, so its bank must hold at least {c} (at most {})", runtime::format::MAX_ENROLL_CLASSES);
    }
    h.max_classes = Some(max_classes);
    def.to_bytes()
        .map_err(|e| anyhow!("head {head} cannot be enrollable with {max_classes} classes: {e}"))?;
    Ok(())
}

/// `name` cut to the format's [`MAX_NAME_LEN`](runtime::format::MAX_NAME_LEN) bytes on a
/// character boundary (a model's or a head's name).
pub fn fit_name(mut name: String) -> String {
    let max = runtime::format::MAX_NAME_LEN;
    if name.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|&i| name.is_char_boundary(i))
            .unwrap_or(0);
        name.truncate(cut);
    }
    name
}

/// The name of a model written to `out`: the file's stem, [`fit_name`]; `None` without one.
pub fn model_name(out: &Path) -> Option<String> {
    let name = fit_name(out.file_stem()?.to_string_lossy().into_owned());
    (!name.is_empty()).then_some(name)
}

/// Whether a head's step size is 0 everywhere (train exports rate 0 when steps did not help on
/// its validation episodes): its device steps change nothing.
pub fn still_rate(rate: &runtime::writer::RateDef) -> bool {
    let zero = |v: &[f32]| v.iter().all(|&r| r == 0.0);
    match rate {
        runtime::writer::RateDef::Scalar(r) => *r == 0.0,
        runtime::writer::RateDef::PerLayerPerStep { table, .. } => zero(table),
        runtime::writer::RateDef::PerParameter(v) => zero(v),
        _ => false,
    }
}

/// Writes a run's trained state beside its model `out` (`<out>.trained.json`: what `quantise`
/// and `--trained` read back).
pub fn write_trained(out: &Path, trained: &impl serde::Serialize) -> Result<()> {
    let path = out.with_extension("trained.json");
    let text = serde_json::to_string(trained)?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}
