//! Export: the trained network and its adaptation spec in the runtime's format v1, written by the
//! runtime's own writer (`fewshot_runtime::writer`), and loading it back for evaluation.

use crate::meta::{adapted_layers, rates, Algorithm, MetaSpec, Rates, Scope};
use crate::net::{Activation, Arch, HeadKind};
use anyhow::{anyhow, bail, Context, Result};
use runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
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

/// Ok when the runtime's format holds every layer of `arch` (dense layers); a convolution or
/// pooling layer is refused, naming it: the runtime does not run them yet.
pub fn exportable(arch: &Arch) -> Result<()> {
    match arch.layers.iter().position(|l| !l.is_dense()) {
        None => Ok(()),
        Some(l) => bail!(
            "layer {l} of the network is a {} layer: the runtime's model format holds dense layers only, so a convolution or pooling trunk cannot be exported yet (it trains and evaluates on the host)",
            arch.layers[l].op.name()
        ),
    }
}

/// The trunk of `arch` (its first `n_trunk` layers) with the input normalisation and transform:
/// a model definition without heads, the start of every exported model.
pub fn trunk_def(name: &str, arch: &Arch, theta: &[f64]) -> ModelDef {
    let mut def = ModelDef::new(name, arch.inputs).normalise(f32s(&arch.shift), f32s(&arch.scale));
    if let Some(w) = &arch.window {
        def = def.transform(runtime::format::InputTransform::StandardiseChannels {
            channels: u16::try_from(w.channels).unwrap_or(u16::MAX),
            eps: w.eps as f32,
        });
    }
    for l in 0..arch.n_trunk {
        def = def.trunk(dense(arch, theta, l));
    }
    def
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
    let steps = u16::try_from(spec.steps).context("too many inner steps")?;
    let adapt = AdaptDef::new(
        scope(spec.effective_scope())?,
        steps,
        rate_def(arch, spec, u)?,
        spec.clip as f32,
    );
    Ok(head.with_adapt(adapt))
}

/// Build the runtime's model definition: trunk layers, one head, its adaptation spec.
pub fn model_def(
    name: &str,
    arch: &Arch,
    spec: &MetaSpec,
    theta: &[f64],
    u: &[f64],
) -> Result<ModelDef> {
    exportable(arch)?;
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
    Ok(trunk_def(name, arch, theta).head(head))
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
    let bytes = def
        .to_bytes()
        .map_err(|e| anyhow!("runtime writer refused the model: {e}"))?;
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

/// Model `bytes` with head `head` made enrollable: the device may hold up to `max_classes`
/// classes in it (format v4; the runtime's `ClassBank`). Everything else is kept, model id
/// included.
pub fn enrollable(bytes: &[u8], head: usize, max_classes: u16) -> Result<ModelDef> {
    let model = runtime::Model::from_bytes(bytes).map_err(|e| anyhow!("not a valid model: {e}"))?;
    let mut def = ModelDef::from_model(&model).map_err(|e| anyhow!("{e}"))?;
    let h = def
        .heads
        .get_mut(head)
        .ok_or_else(|| anyhow!("the model has no head {head}"))?;
    h.max_classes = Some(max_classes);
    def.to_bytes()
        .map_err(|e| anyhow!("head {head} cannot be enrollable with {max_classes} classes: {e}"))?;
    Ok(def)
}
