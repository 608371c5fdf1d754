//! Format v3's capability bits: written from what the model contains, checked against this
//! build before the header is decoded, and against the decoded model.

use fewshot_runtime::format::{AlignedBytes, Capabilities, InputTransform, CRC};
use fewshot_runtime::writer::{Dense, HeadDef, ModelDef};
use fewshot_runtime::{Activation, Error, Model};

/// A dense regression model: `y = 2 x + 1`.
fn small_model() -> ModelDef {
    let layer = Dense::new(1, 1, Activation::Identity, vec![2.0], vec![1.0]);
    ModelDef::new("small", 1).head(HeadDef::regression(0, "y", vec![layer]))
}

/// `blob` with its capability bits replaced by `bits` and its CRC fixed.
fn with_bits(blob: &[u8], bits: u32) -> AlignedBytes {
    let mut b = AlignedBytes::from_slice(blob);
    let bytes = b.as_bytes_mut();
    bytes[6..10].copy_from_slice(&bits.to_le_bytes());
    let n = bytes.len() - 4;
    let crc = CRC.checksum(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
    b
}

fn model_file(name: &str) -> AlignedBytes {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(name);
    AlignedBytes::from_slice(&std::fs::read(&path).expect("a committed model"))
}

#[test]
fn the_writer_declares_what_the_model_contains() {
    let blob = small_model().to_bytes().unwrap();
    // Without a stem the writer emits v3 or an enrollable head (the oldest format that holds the model).
    assert_eq!(u16::from_le_bytes([blob[4], blob[5]]), 3);
    assert_eq!(u32::from_le_bytes(blob[6..10].try_into().unwrap()), 1);
    let def = small_model().transform(InputTransform::StandardiseChannels {
        channels: 1,
        eps: 1e-3,
    });
    let blob = def.to_aligned_bytes().unwrap();
    let model = Model::from_bytes(&blob).unwrap();
    let expected = Capabilities::DENSE.with(Capabilities::INPUT_TRANSFORM);
    assert_eq!(model.capabilities(), expected);
    assert_eq!(
        model.capabilities().names().collect::<Vec<_>>(),
        ["dense", "input-transform"]
    );
}

#[test]
fn older_blobs_derive_their_capabilities() {
    // A v1 blob of the same model: the same capabilities, derived.
    let v1 = AlignedBytes::from_slice(&small_model().to_bytes_as(1).unwrap());
    assert_eq!(
        Model::from_bytes(&v1).unwrap().capabilities(),
        Capabilities::DENSE
    );
    // The committed trainer exports (format v1) keep loading.
    let sinusoid = model_file("sinusoid.postcard");
    let m = Model::from_bytes(&sinusoid).unwrap();
    assert_eq!(m.capabilities(), Capabilities::DENSE);
    // The committed digits preset (v1): its matching head's warps are input views, which a
    // build must have to load it, so what it needs says so (a firmware's `check_features`
    // reads this).
    let digits = model_file("digits.postcard");
    match Model::from_bytes(&digits).map(|m| m.capabilities()) {
        Ok(found) => assert!(found.contains(Capabilities::INPUT_VIEWS), "{found:?}"),
        Err(e) => assert!(matches!(e, Error::FeatureDisabled { .. }), "{e:?}"),
    }
    let proximal = model_file("sinusoid_proximal.postcard");
    let needs = Capabilities::DENSE.with(Capabilities::IMPLICIT_STEP);
    let loaded = Model::from_bytes(&proximal).map(|m| m.capabilities());
    match loaded {
        Ok(found) => assert_eq!(found, needs),
        Err(e) => assert_eq!(
            e,
            Error::FeatureDisabled {
                feature: "implicit-step"
            }
        ),
    }
}

#[test]
fn a_declaration_that_differs_from_the_contents_is_invalid() {
    let blob = small_model().to_bytes().unwrap();
    let missing = with_bits(&blob, 0);
    assert_eq!(
        Model::from_bytes(&missing).unwrap_err(),
        Error::InvalidModel {
            declared: 0,
            contains: 1
        }
    );
    let extra = Capabilities::DENSE.with(Capabilities::INPUT_TRANSFORM).0;
    assert_eq!(
        Model::from_bytes(&with_bits(&blob, extra)).unwrap_err(),
        Error::InvalidModel {
            declared: extra,
            contains: 1
        }
    );
    // A feature-gated bit: refused before decoding without the feature, else a mismatch.
    let matching = Capabilities::DENSE.with(Capabilities::MATCHING_HEAD).0;
    let expected = if cfg!(feature = "matching-head") {
        Error::InvalidModel {
            declared: matching,
            contains: 1,
        }
    } else {
        Error::FeatureDisabled {
            feature: "matching-head",
        }
    };
    assert_eq!(
        Model::from_bytes(&with_bits(&blob, matching)).unwrap_err(),
        expected
    );
}

#[test]
fn a_capability_this_build_lacks_is_named_before_the_header_is_decoded() {
    let mut blob = small_model().to_bytes().unwrap();
    // The postcard header made undecodable: the capability check comes first.
    blob[10..16].fill(0xff);
    for (bits, error) in [
        (
            Capabilities::CONV,
            if cfg!(feature = "conv") {
                Error::HeaderDecode
            } else {
                Error::FeatureDisabled { feature: "conv" }
            },
        ),
        (
            Capabilities::INT8,
            if cfg!(feature = "int8") {
                Error::HeaderDecode
            } else {
                Error::FeatureDisabled { feature: "int8" }
            },
        ),
        (
            Capabilities::AUDIO_FRONTEND,
            if cfg!(feature = "audio-frontend") {
                Error::HeaderDecode
            } else {
                Error::FeatureDisabled {
                    feature: "audio-frontend",
                }
            },
        ),
        (Capabilities(1 << 20), Error::UnknownCapability { bit: 20 }),
    ] {
        let b = with_bits(&blob, Capabilities::DENSE.with(bits).0);
        assert_eq!(Model::from_bytes(&b).unwrap_err(), error);
    }
    assert_eq!(
        Model::from_bytes(&with_bits(&blob, 1)).unwrap_err(),
        Error::HeaderDecode
    );
}
