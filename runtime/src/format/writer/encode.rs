//! [`ModelDef`]'s bytes: the header's layer and head specs, the values in the layout the
//! reader walks ([`walk`]), the extension sections and their tensors, then the blob with its
//! capabilities, alignment and CRC, checked by [`Model::from_bytes`] before it is returned.

use std::vec::Vec;

use super::super::front_end::FRONT_END_SINCE;
use super::super::layout::{walk, Tensor};
use super::super::spec::*;
use super::super::views::VIEWS_SINCE;
use super::super::{
    align4, invalid, AlignedBytes, Capabilities, Model, CRC, FORMAT_VERSION, MAGIC, STEM_SINCE,
};
use super::{capacity, check_len, narrow, spec_of, ModelDef, RateDef, ViewsDef};
use crate::Error;

/// Before format v5 the views are the warps of the first head that reads them: that head's
/// index and the views.
type LegacyViews<'a> = Option<(usize, &'a ViewsDef)>;

impl ModelDef {
    /// The blob of format `version` with id `model_id`.
    pub(super) fn encode(&self, model_id: u32, version: u16) -> Result<Vec<u8>, Error> {
        let legacy_views = self.legacy_views(version)?;
        let mut header = self.header(model_id, legacy_views)?;
        let mut weights = self.place_weights(&mut header)?;
        let ext = self.extension(legacy_views, &mut weights)?;
        let blob = serialise(version, &header, &ext, &weights)?;
        // Never emit a blob the reader refuses.
        Model::from_bytes(AlignedBytes::from_slice(&blob).as_bytes())?;
        Ok(blob)
    }

    /// The views as a head's warps when `version` predates them as a section.
    fn legacy_views(&self, version: u16) -> Result<LegacyViews<'_>, Error> {
        Ok(match &self.views {
            Some(v) if version < VIEWS_SINCE => Some((
                self.heads
                    .iter()
                    .position(|h| h.kind.reads_views())
                    .ok_or(invalid("views"))?,
                v,
            )),
            _ => None,
        })
    }

    /// The header's trunk and head specs; tensor offsets and `weights_len` not yet placed.
    fn header(&self, model_id: u32, legacy_views: LegacyViews<'_>) -> Result<Header<'_>, Error> {
        let mut trunk = heapless::Vec::new();
        for d in &self.trunk {
            trunk
                .push(spec_of(d)?)
                .map_err(|_| capacity("trunk layers", self.trunk.len(), MAX_TRUNK_LAYERS))?;
        }
        let mut heads = heapless::Vec::new();
        for i in 0..self.heads.len() {
            heads
                .push(self.head_spec(i, legacy_views)?)
                .map_err(|_| capacity("heads", self.heads.len(), MAX_HEADS))?;
        }
        Ok(Header {
            model_id,
            name: self.name.as_str(),
            input_len: narrow(self.input_len, "input_len")?,
            normalisation: self.normalisation.as_ref().map(|_| 0),
            trunk,
            heads,
            weights_len: 0,
        })
    }

    /// Head `i`'s spec (the legacy views as its warps when it is the head that reads them).
    fn head_spec(&self, i: usize, legacy_views: LegacyViews<'_>) -> Result<HeadSpec<'_>, Error> {
        let h = self.heads.get(i).ok_or(invalid("heads"))?;
        let kind = match (legacy_views, h.kind) {
            (
                Some((at, v)),
                HeadKind::Matching {
                    classes, per_class, ..
                },
            ) if at == i => HeadKind::Matching {
                classes,
                per_class,
                warps: Some(v.set(0)?),
            },
            (_, kind) => kind,
        };
        let mut layers = heapless::Vec::new();
        for d in &h.layers {
            layers
                .push(spec_of(d)?)
                .map_err(|_| capacity("head layers", h.layers.len(), MAX_HEAD_LAYERS))?;
        }
        let adapt = h.adapt.as_ref().map(|a| AdaptSpec {
            scope: a.scope,
            steps: a.steps,
            rate: match &a.rate {
                RateDef::Scalar(r) => LearningRate::Scalar(*r),
                RateDef::PerLayerPerStep { steps, .. } => LearningRate::PerLayerPerStep {
                    steps: *steps,
                    offset: 0,
                },
                RateDef::PerParameter(_) => LearningRate::PerParameter { offset: 0 },
                RateDef::Proximal(_) => LearningRate::Proximal { offset: 0 },
            },
            clip: a.clip,
            prototype_scale: a.prototype_scale,
        });
        Ok(HeadSpec {
            id: h.id,
            name: h.name.as_str(),
            kind,
            layers,
            adapt,
        })
    }

    /// The header's tensors in the order the reader walks them: each one's offset written into
    /// `header`, its values appended.
    fn place_weights(&self, header: &mut Header<'_>) -> Result<Vec<f32>, Error> {
        let mut order = Vec::new();
        header.weights_len = walk(header, |t, at| {
            order.push((t, at));
            Ok(())
        })?;
        let mut weights: Vec<f32> = Vec::with_capacity(header.weights_len as usize);
        let ends: Vec<u32> = order
            .iter()
            .skip(1)
            .map(|(_, at)| *at)
            .chain(std::iter::once(header.weights_len))
            .collect();
        for ((tensor, at), end) in order.into_iter().zip(ends) {
            match tensor {
                Tensor::Normalisation => {
                    let (shift, scale) = self.normalisation.as_ref().ok_or(Error::HeaderDecode)?;
                    check_len(shift, self.input_len, "normalisation shift")?;
                    check_len(scale, self.input_len, "normalisation scale")?;
                    header.normalisation = Some(at);
                    weights.extend_from_slice(shift);
                    weights.extend_from_slice(scale);
                }
                Tensor::Trunk(i) => {
                    header.trunk[i].offset = at;
                    weights.extend_from_slice(&self.trunk[i].weights);
                    weights.extend_from_slice(&self.trunk[i].bias);
                }
                Tensor::HeadLayer(h, l) => {
                    header.heads[h].layers[l].offset = at;
                    weights.extend_from_slice(&self.heads[h].layers[l].weights);
                    weights.extend_from_slice(&self.heads[h].layers[l].bias);
                }
                Tensor::Rate(h) => {
                    let spec = header.heads[h].adapt.as_mut().ok_or(Error::HeaderDecode)?;
                    let def = self.heads[h].adapt.as_ref().ok_or(Error::HeaderDecode)?;
                    match (&mut spec.rate, &def.rate) {
                        (
                            LearningRate::PerLayerPerStep { offset, .. },
                            RateDef::PerLayerPerStep { table, .. },
                        ) => {
                            *offset = at;
                            weights.extend_from_slice(table);
                        }
                        (LearningRate::PerParameter { offset }, RateDef::PerParameter(v))
                        | (LearningRate::Proximal { offset }, RateDef::Proximal(v)) => {
                            *offset = at;
                            weights.extend_from_slice(v);
                        }
                        _ => return Err(Error::HeaderDecode),
                    }
                }
                Tensor::HeadTensor(h) => {
                    if let HeadKind::Matching {
                        warps: Some(set), ..
                    } = &mut header.heads[h].kind
                    {
                        set.offset = at;
                    }
                    for w in self.views.iter().flat_map(|v| &v.warps) {
                        weights.extend_from_slice(w);
                    }
                }
            }
            check_len(&weights, end as usize, "tensor (learning-rate table size)")?;
        }
        if weights.len() != header.weights_len as usize {
            return Err(Error::LengthMismatch {
                what: "learning-rate tensor",
                expected: header.weights_len as usize,
                found: weights.len(),
            });
        }
        Ok(weights)
    }

    /// The extension sections (enrollable heads, output normalisations, stem, views), their
    /// tensors appended to `weights` after the header's.
    fn extension(
        &self,
        legacy_views: LegacyViews<'_>,
        weights: &mut Vec<f32>,
    ) -> Result<Extension, Error> {
        let mut ext = Extension {
            input_transform: self.input_transform,
            outputs: heapless::Vec::new(),
            enrollable: heapless::Vec::new(),
            stem: heapless::Vec::new(),
            views: None,
            front_end: self.front_end,
        };
        for (h, head) in self.heads.iter().enumerate() {
            if let Some(max_classes) = head.max_classes {
                let head = u8::try_from(h).map_err(|_| capacity("heads", h + 1, MAX_HEADS))?;
                ext.enrollable
                    .push(super::super::Enrollable { head, max_classes })
                    .map_err(|_| capacity("heads", self.heads.len(), MAX_HEADS))?;
            }
        }
        for (h, head) in self.heads.iter().enumerate() {
            let Some((shift, scale)) = &head.output_normalisation else {
                continue;
            };
            let n = head.kind.outputs();
            check_len(shift, n, "output normalisation shift")?;
            check_len(scale, n, "output normalisation scale")?;
            let offset = u32::try_from(weights.len()).map_err(|_| Error::HeaderDecode)?;
            let head = u8::try_from(h).map_err(|_| capacity("heads", h + 1, MAX_HEADS))?;
            ext.outputs
                .push(OutputNormalisation { head, offset })
                .map_err(|_| capacity("heads", self.heads.len(), MAX_HEADS))?;
            weights.extend_from_slice(shift);
            weights.extend_from_slice(scale);
        }
        for s in &self.stem {
            let offset = u32::try_from(weights.len()).map_err(|_| Error::HeaderDecode)?;
            ext.stem
                .push(s.place(offset, weights)?)
                .map_err(|_| capacity("stem layers", self.stem.len(), MAX_STEM_LAYERS))?;
        }
        if let Some(v) = self.views.as_ref().filter(|_| legacy_views.is_none()) {
            let offset = u32::try_from(weights.len()).map_err(|_| Error::HeaderDecode)?;
            ext.views = Some(v.set(offset)?);
            for w in &v.warps {
                weights.extend_from_slice(w);
            }
        }
        Ok(ext)
    }
}

/// The blob: magic, version, capabilities (v3), the postcard header, the sections of
/// `version`, zeros to a 4-byte boundary, the values, the CRC.
fn serialise(
    version: u16,
    header: &Header<'_>,
    ext: &Extension,
    weights: &[f32],
) -> Result<Vec<u8>, Error> {
    let mut blob = Vec::new();
    blob.extend_from_slice(&MAGIC);
    if version == 0 || version > FORMAT_VERSION || version < ext.min_version() {
        return Err(Error::UnsupportedVersion { found: version });
    }
    blob.extend_from_slice(&version.to_le_bytes());
    if version >= 3 {
        blob.extend_from_slice(&Capabilities::of(header, ext).0.to_le_bytes());
    }
    let encoded = postcard::to_stdvec(header).map_err(|_| Error::HeaderDecode)?;
    blob.extend_from_slice(&encoded);
    if version >= 2 {
        blob.extend_from_slice(&super::super::enrollable::encode(version, ext)?);
    }
    if version >= STEM_SINCE {
        let encoded = postcard::to_stdvec(&ext.stem).map_err(|_| Error::HeaderDecode)?;
        blob.extend_from_slice(&encoded);
    }
    if version >= VIEWS_SINCE {
        let encoded = postcard::to_stdvec(&ext.views).map_err(|_| Error::HeaderDecode)?;
        blob.extend_from_slice(&encoded);
    }
    if version >= FRONT_END_SINCE {
        let encoded = postcard::to_stdvec(&ext.front_end).map_err(|_| Error::HeaderDecode)?;
        blob.extend_from_slice(&encoded);
    }
    let aligned = align4(blob.len()).ok_or(Error::HeaderDecode)?;
    blob.resize(aligned, 0);
    for w in weights {
        blob.extend_from_slice(&w.to_le_bytes());
    }
    let crc = CRC.checksum(&blob);
    blob.extend_from_slice(&crc.to_le_bytes());
    Ok(blob)
}
