//! Export of a quantised trunk: the runtime's int8 stem (format v4, capability `int8`). The
//! model's input normalisation and transform stay f32; the stem runs the layers kept in f32
//! (none by default), quantises their output (or the normalised input) with the calibrated
//! parameters, runs every other trunk layer in int8 (convolutions, poolings and dense layers; a
//! flatten is nothing) and dequantises the last layer's output, the f32 features the heads read
//! and adapt on.

use super::{QLayer, QWeights, QuantTrunk};
use crate::export::{input_def, stem_def};
use crate::net::{Arch, Op};
use anyhow::{anyhow, bail, Context, Result};
use runtime::format::spec::{
    Int8ConvSpec, Int8DenseSpec, Int8Params, Map, PoolSpec, StemLayer, MAX_STEM_LAYERS,
};
use runtime::math::int8::QuantParams;
use runtime::ops::layer::Stem;
use runtime::writer::{Int8Values, ModelDef, StemDef};

/// The runtime's parameters of an int8 map.
fn params(p: QuantParams) -> Result<Int8Params> {
    Ok(Int8Params {
        scale: p.scale,
        zero_point: i8::try_from(p.zero_point).context("zero point outside int8")?,
    })
}

fn values(q: &QWeights) -> Int8Values {
    Int8Values {
        weights: q.weights.clone(),
        bias: q.bias.clone(),
        multiplier: q.multiplier.clone(),
        shift: q.shift.clone(),
        scale: q.w_scale.clone(),
    }
}

/// The int8 stem layer of trunk layer `l` of `arch`, quantised as `q` reading a map with
/// parameters `input`; `None` for a flatten.
fn int8_layer(
    (arch, theta): (&Arch, &[f64]),
    l: usize,
    q: &QLayer,
    input: QuantParams,
) -> Result<Option<StemDef>> {
    let spec = &arch.layers[l];
    let input = params(input)?;
    let output = params(q.output())?;
    let layer = match (&spec.op, q) {
        (Op::Flatten, QLayer::Flatten { .. }) => return Ok(None),
        (Op::Dense, QLayer::Dense { q: w, .. }) => {
            let narrow = |v: usize| u16::try_from(v).context("dense layer wider than 65535");
            let d = Int8DenseSpec {
                inputs: narrow(spec.inputs)?,
                outputs: narrow(spec.outputs)?,
                activation: crate::export::act(spec.act),
                input,
                output,
                offset: 0,
            };
            return Ok(Some(StemDef::int8_dense(d, &values(w)).map_err(rt)?));
        }
        // The f32 export's geometry, the int8 tensors.
        _ => stem_def(arch, theta, l)?.layer,
    };
    Ok(Some(match (layer, q) {
        (StemLayer::Conv(conv) | StemLayer::Depthwise(conv), QLayer::Conv { q: w, .. }) => {
            let depthwise = matches!(layer, StemLayer::Depthwise(_));
            let spec = Int8ConvSpec {
                conv,
                depthwise,
                input,
                output,
            };
            StemDef::int8_conv(spec, &values(w)).map_err(rt)?
        }
        (StemLayer::MaxPool(p), QLayer::MaxPool { .. }) => StemDef::int8_max_pool(p),
        (StemLayer::AvgPool(p), QLayer::AvgPool { .. }) => StemDef::int8_avg_pool(p),
        (StemLayer::GlobalAvgPool(m), QLayer::AvgPool { .. }) => StemDef::int8_avg_pool(PoolSpec {
            input: m,
            size: [m.height, m.width],
            stride: 1,
        }),
        (layer, _) => bail!("layer {l}: {layer:?} does not match its quantised layer"),
    }))
}

/// The map stem layer `layer` (trunk layer `l`) writes.
fn output_map(layer: &StemLayer, l: usize) -> Result<Map> {
    Stem::of(layer)
        .ok()
        .and_then(|s| s.output_map())
        .with_context(|| format!("layer {l}: no output map"))
}

fn rt(e: runtime::Error) -> anyhow::Error {
    anyhow!("runtime writer: {e}")
}

/// The input of `arch`'s first layer as a map (a flat vector before a dense layer).
fn input_map(arch: &Arch) -> Result<Map> {
    let narrow = |v: usize| u16::try_from(v).context("input wider than 65535");
    let shape = match arch.layers.first().map(|l| &l.op) {
        Some(Op::Conv(c)) => c.input,
        Some(Op::MaxPool(p)) => p.0.input,
        Some(Op::AvgPool(p)) => p.0.input,
        _ => {
            return Ok(Map {
                channels: narrow(arch.inputs)?,
                height: 1,
                width: 1,
            })
        }
    };
    Ok(Map {
        channels: narrow(shape.channels)?,
        height: narrow(shape.height)?,
        width: narrow(shape.width)?,
    })
}

/// The model definition of `arch`'s input and the int8 stem of `q`, the quantised trunk of
/// `arch` with parameters `theta`: no f32 trunk layers, no heads yet.
pub fn int8_trunk_def(name: &str, arch: &Arch, theta: &[f64], q: &QuantTrunk) -> Result<ModelDef> {
    if q.f32_layers() + q.layers.len() != arch.n_trunk {
        bail!(
            "the quantised trunk has {} f32 and {} int8 layers, the network's trunk {}",
            q.f32_layers(),
            q.layers.len(),
            arch.n_trunk
        );
    }
    let mut def = input_def(name, arch);
    let mut map = input_map(arch)?;
    // The layers kept in f32 (convolutions and pools: `QuantTrunk::with_f32_layers`).
    for l in 0..q.f32_layers() {
        let layer = stem_def(arch, theta, l)?;
        map = output_map(&layer.layer, l)?;
        def = def.stem(layer);
    }
    def = def.stem(StemDef::quantise(map, params(q.input)?));
    let mut cur = q.input;
    for (l, ql) in (q.f32_layers()..).zip(&q.layers) {
        if let Some(layer) = int8_layer((arch, theta), l, ql, cur)? {
            map = output_map(&layer.layer, l)?;
            def = def.stem(layer);
        }
        cur = ql.output();
    }
    def = def.stem(StemDef::dequantise(map, params(q.output)?));
    if def.stem.len() > MAX_STEM_LAYERS {
        bail!(
            "the int8 stem has {} layers (with its quantise and dequantise), the runtime holds at most {MAX_STEM_LAYERS}",
            def.stem.len()
        );
    }
    Ok(def)
}
