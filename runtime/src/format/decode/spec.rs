//! [`Decode`] for the header's types and the extension's (format v1 to v6).

use super::{decode_struct, Decode, Reader};
use crate::format::spec::*;

decode_struct!(LayerSpec {
    inputs,
    outputs,
    activation,
    offset
});
decode_struct!(WarpSet {
    width,
    height,
    count,
    offset
});
decode_struct!(AdaptSpec {
    scope,
    steps,
    rate,
    clip,
    prototype_scale
});
decode_struct!(HeadSpec<'a> { id, name, kind, layers, adapt });
decode_struct!(Header<'a> { model_id, name, input_len, normalisation, trunk, heads, weights_len });
decode_struct!(Enrollable { head, max_classes });
decode_struct!(OutputNormalisation { head, offset });
use crate::frontend::FrontEndSpec;
decode_struct!(FrontEndSpec {
    sample_rate,
    frame_len,
    hop,
    fft_size,
    mel_bins,
    f_min,
    f_max,
    log_offset,
    dct_coeffs,
});

impl Decode<'_> for Activation {
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        Some(match r.variant()? {
            0 => Activation::Identity,
            1 => Activation::Relu,
            2 => Activation::Tanh,
            3 => Activation::Sigmoid,
            _ => return None,
        })
    }
}

impl Decode<'_> for HeadKind {
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        Some(match r.variant()? {
            0 => HeadKind::Regression {
                outputs: Decode::decode(r)?,
            },
            1 => HeadKind::Classification {
                classes: Decode::decode(r)?,
            },
            2 => HeadKind::Matching {
                classes: Decode::decode(r)?,
                per_class: Decode::decode(r)?,
                warps: Decode::decode(r)?,
            },
            _ => return None,
        })
    }
}

impl Decode<'_> for AdaptScope {
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        Some(match r.variant()? {
            0 => AdaptScope::HeadOnly,
            1 => AdaptScope::HeadAndLastTrunk(Decode::decode(r)?),
            2 => AdaptScope::BiasesOnly,
            3 => AdaptScope::Everything,
            _ => return None,
        })
    }
}

impl Decode<'_> for LearningRate {
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        Some(match r.variant()? {
            0 => LearningRate::Scalar(Decode::decode(r)?),
            1 => LearningRate::PerLayerPerStep {
                steps: Decode::decode(r)?,
                offset: Decode::decode(r)?,
            },
            2 => LearningRate::PerParameter {
                offset: Decode::decode(r)?,
            },
            3 => LearningRate::Proximal {
                offset: Decode::decode(r)?,
            },
            _ => return None,
        })
    }
}

impl Decode<'_> for InputTransform {
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        match r.variant()? {
            0 => Some(InputTransform::StandardiseChannels {
                channels: Decode::decode(r)?,
                eps: Decode::decode(r)?,
            }),
            _ => None,
        }
    }
}

/// The extension as format v4 and later encode it (the sections after it are decoded apart).
impl Decode<'_> for Extension {
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        let mut ext = Extension::default();
        Self::decode_into(r, &mut ext)?;
        Some(ext)
    }

    fn decode_into(r: &mut Reader<'_>, out: &mut Self) -> Option<()> {
        Decode::decode_into(r, &mut out.input_transform)?;
        Decode::decode_into(r, &mut out.outputs)?;
        Decode::decode_into(r, &mut out.enrollable)?;
        out.stem.clear();
        out.views = None;
        out.front_end = None;
        Some(())
    }
}
