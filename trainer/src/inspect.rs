//! `trainer inspect`: what a model file holds, through the runtime's loader.

use anyhow::{anyhow, Result};
use runtime::writer::RateDef;
use runtime::{HeadKind, LearningRate, Model};
use std::fmt::Write;

pub fn describe(bytes: &[u8]) -> Result<String> {
    let m = Model::from_bytes(bytes).map_err(|e| anyhow!("not a valid model: {e}"))?;
    let mut s = String::new();
    let w = &mut s;
    writeln!(w, "model      {:?} (id {:#010x})", m.name(), m.model_id())?;
    writeln!(
        w,
        "format     v{}, {} bytes (flash), CRC-32 {:#010x}",
        bytes
            .get(4..6)
            .map_or(0, |v| u16::from_le_bytes([v[0], v[1]])),
        m.blob_len(),
        m.crc()
    )?;
    writeln!(
        w,
        "inputs     {} (normalisation: {})",
        m.input_len(),
        if m.normalisation().is_some() {
            "yes"
        } else {
            "no"
        }
    )?;
    if let Some(runtime::format::InputTransform::StandardiseChannels { channels, eps }) =
        m.input_transform()
    {
        writeln!(
            w,
            "transform  each sample's {channels} channel(s) standardised (eps {eps:e}), then the normalisation"
        )?;
    }
    writeln!(w, "parameters {}", m.param_count())?;
    for (i, l) in m.trunk().iter().enumerate() {
        writeln!(
            w,
            "trunk[{i}]   {} -> {} {:?} ({} params)",
            l.inputs,
            l.outputs,
            l.activation,
            l.param_count()
        )?;
    }
    for (h, head) in m.heads().iter().enumerate() {
        let kind = match head.kind {
            HeadKind::Regression { outputs } => format!("regression, {outputs} output(s), MSE"),
            HeadKind::Classification { classes } => {
                format!("classification, {classes} classes, softmax CE")
            }
            HeadKind::Matching {
                classes,
                per_class,
                warps,
            } => {
                let warps = match warps {
                    Some(s) => format!(
                        ", best of {} warps of a {}x{} image",
                        s.count, s.width, s.height
                    ),
                    None => String::new(),
                };
                format!("matching, {classes} classes x {per_class} prototypes (log-sum-exp){warps}, softmax CE")
            }
        };
        writeln!(w, "head {h}     id {} {:?}: {kind}", head.id, head.name)?;
        if let Some((shift, scale)) = m.output_normalisation(h) {
            writeln!(
                w,
                "  outputs  in raw units: z * {scale:?} + {shift:?} (targets standardised alike)"
            )?;
        }
        for (i, l) in head.layers.iter().enumerate() {
            writeln!(
                w,
                "  layer[{i}] {} -> {} {:?} ({} params)",
                l.inputs,
                l.outputs,
                l.activation,
                l.param_count()
            )?;
        }
        match &head.adapt {
            None => writeln!(w, "  adapt    none (fixed head)")?,
            Some(a) => {
                let rate = match a.rate {
                    LearningRate::Scalar(r) => format!("scalar {r}"),
                    LearningRate::PerLayerPerStep { steps, .. } => {
                        format!("per layer per step ({steps} rows)")
                    }
                    LearningRate::PerParameter { .. } => "per parameter (Meta-SGD)".into(),
                    LearningRate::Proximal { .. } => {
                        "per parameter, implicit (proximal) head step".into()
                    }
                };
                let rates = match runtime::writer::ModelDef::from_model(&m)
                    .map_err(|e| anyhow!("{e}"))?
                    .heads
                    .get(h)
                    .and_then(|hd| hd.adapt.clone())
                    .map(|a| a.rate)
                {
                    Some(RateDef::Scalar(r)) => vec![r],
                    Some(RateDef::PerLayerPerStep { table, .. }) => table,
                    Some(RateDef::PerParameter(v)) | Some(RateDef::Proximal(v)) => v,
                    None => vec![],
                };
                let (lo, hi) = rates
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
                        (a.min(x), b.max(x))
                    });
                writeln!(
                    w,
                    "  adapt    {:?}, {} steps, rates {rate} in [{lo:.4}, {hi:.4}], clip {}{}",
                    a.scope,
                    a.steps,
                    a.clip,
                    a.prototype_scale
                        .map_or(String::new(), |p| format!(", prototypes (scale {p})"))
                )?;
                writeln!(
                    w,
                    "  adapted  {} params",
                    m.adapted_param_count(h).map_err(|e| anyhow!("{e}"))?
                )?;
                for k in [1, 5, 10, 20] {
                    let r = m.ram_needs(h, k).map_err(|e| anyhow!("{e}"))?;
                    writeln!(w, "  RAM K={k:<3} {} bytes (state {} + scratch {} floats; lower bound {} floats)", r.total_bytes(), r.state, r.adapt_scratch.max(r.infer_scratch), r.lower_bound())?;
                }
            }
        }
    }
    Ok(s)
}
