//! Signed models on the host: only an envelope whose Ed25519 signature verifies against the key
//! is accepted; tampered bytes, another key, a truncated signature or envelope, a changed
//! header and a bare (unsigned) blob are refused.

mod common;

use common::{adapt_def, random_model, Rng};
use fewshot_runtime::format::AlignedBytes;
use fewshot_runtime::signature::{
    open, open_versioned, read_header, verify_detached, PublicKey, SigningKey, ENVELOPE_HEADER_LEN,
    ENVELOPE_MAGIC,
};
use fewshot_runtime::writer::RateDef;
use fewshot_runtime::{Activation, AdaptScope, Error, Model};

fn blob() -> Vec<u8> {
    let mut rng = Rng(21);
    random_model(
        &mut rng,
        3,
        &[(16, Activation::Relu)],
        &[(2, Activation::Identity)],
        true,
        Some(adapt_def(AdaptScope::HeadOnly, RateDef::Scalar(0.1))),
    )
    .to_bytes()
    .expect("valid")
}

fn key() -> SigningKey {
    SigningKey::from_seed([0x42; 32])
}

fn refused(bytes: &[u8], public: &PublicKey) -> Result<(), Error> {
    let aligned = AlignedBytes::from_slice(bytes);
    let result = Model::from_signed_bytes(&aligned, public).map(|_| ());
    assert!(result.is_err(), "accepted");
    result
}

#[test]
fn a_signed_model_loads_and_is_the_same_model() {
    let blob = blob();
    let signed = key().sign(&blob, 7).expect("signs");
    assert_eq!(signed.len(), ENVELOPE_HEADER_LEN + blob.len());
    assert_eq!(&signed[..4], &ENVELOPE_MAGIC);
    let aligned = AlignedBytes::from_slice(&signed);
    let model = Model::from_signed_bytes(&aligned, &key().public_key()).expect("loads");
    let plain = AlignedBytes::from_slice(&blob);
    assert_eq!(model.crc(), Model::from_bytes(&plain).expect("loads").crc());
    // Deterministic (RFC 8032): the same key signs the same blob to the same bytes.
    assert_eq!(signed, key().sign(&blob, 7).expect("signs"));
    // Keys round-trip through their bytes.
    let again = SigningKey::from_seed(key().to_seed());
    assert_eq!(again.public_key(), key().public_key());
    let public = PublicKey::from_bytes(*key().public_key().as_bytes());
    assert!(open(&signed, &public).is_ok());
    // Fresh keys differ.
    assert_ne!(
        SigningKey::generate().public_key(),
        SigningKey::generate().public_key()
    );
}

#[test]
fn every_single_bit_flip_of_a_signed_model_is_refused() {
    let blob = blob();
    let signed = key().sign(&blob, 7).expect("signs");
    let public = key().public_key();
    let mut bytes = signed.clone();
    let mut flips = 0;
    for i in 0..bytes.len() {
        for bit in 0..8 {
            bytes[i] ^= 1 << bit;
            let err = refused(&bytes, &public).unwrap_err();
            match i {
                0..4 => assert_eq!(err, Error::Unsigned, "byte {i}"),
                4..6 => assert!(
                    matches!(err, Error::UnsupportedEnvelope { found } if found != 2),
                    "byte {i}: {err}"
                ),
                6..12 => assert!(matches!(err, Error::BadEnvelope { .. }), "byte {i}: {err}"),
                _ => assert_eq!(err, Error::BadSignature, "byte {i}"),
            }
            bytes[i] ^= 1 << bit;
            flips += 1;
        }
    }
    assert_eq!(flips, 8 * signed.len());
}

#[test]
fn another_key_truncation_trailing_bytes_and_bare_blobs_are_refused() {
    let blob = blob();
    let signed = key().sign(&blob, 7).expect("signs");
    let public = key().public_key();
    // Another key.
    let other = SigningKey::from_seed([0x43; 32]).public_key();
    assert_eq!(refused(&signed, &other), Err(Error::BadSignature));
    // Signed by another key, checked with ours.
    let forged = SigningKey::from_seed([0x43; 32])
        .sign(&blob, 7)
        .expect("signs");
    assert_eq!(refused(&forged, &public), Err(Error::BadSignature));
    // Every truncation: the signature, the header, the blob.
    for len in 0..signed.len() {
        let err = refused(&signed[..len], &public).unwrap_err();
        match len {
            0..4 => assert_eq!(err, Error::Unsigned),
            _ => assert!(matches!(err, Error::BadEnvelope { .. }), "{len}: {err}"),
        }
    }
    // Trailing bytes.
    let mut long = signed.clone();
    long.extend_from_slice(&[0, 0, 0, 0]);
    assert!(matches!(
        refused(&long, &public),
        Err(Error::BadEnvelope { .. })
    ));
    // A bare blob where a signed one is required.
    assert_eq!(refused(&blob, &public), Err(Error::Unsigned));
    // The signature moved elsewhere (a re-assembled envelope with a zeroed signature).
    let mut zeroed = signed.clone();
    zeroed[16..80].fill(0);
    assert_eq!(refused(&zeroed, &public), Err(Error::BadSignature));
    // The blob of one model under the signature of another.
    let mut rng = Rng(22);
    let other_blob = random_model(&mut rng, 3, &[], &[(1, Activation::Identity)], false, None)
        .to_bytes()
        .expect("valid");
    let other_signed = key().sign(&other_blob, 7).expect("signs");
    let mut spliced = signed[..ENVELOPE_HEADER_LEN].to_vec();
    spliced[8..12].copy_from_slice(&(other_blob.len() as u32).to_le_bytes());
    spliced.extend_from_slice(&other_blob);
    assert_eq!(refused(&spliced, &public), Err(Error::BadSignature));
    assert!(open(&other_signed, &public).is_ok());
}

#[test]
fn detached_signatures_and_the_signer_refuse_what_they_should() {
    let blob = blob();
    let public = key().public_key();
    let sig = key().sign_detached(&blob);
    verify_detached(&blob, &sig, &public).expect("verifies");
    for len in [0, 1, 63, 65] {
        let mut s = sig.to_vec();
        s.resize(len, 0);
        assert!(matches!(
            verify_detached(&blob, &s, &public),
            Err(Error::LengthMismatch { .. })
        ));
    }
    let mut tampered = blob.clone();
    tampered[40] ^= 0x80;
    assert_eq!(
        verify_detached(&tampered, &sig, &public),
        Err(Error::BadSignature)
    );
    // The signer refuses bytes that are not a model, and an envelope.
    assert!(key().sign(&tampered, 7).is_err());
    let signed = key().sign(&blob, 7).expect("signs");
    assert!(matches!(
        key().sign(&signed, 7),
        Err(Error::BadEnvelope { .. })
    ));
}

#[test]
fn the_model_version_is_signed_and_version_1_envelopes_are_refused() {
    let blob = blob();
    let public = key().public_key();
    for version in [0, 1, 41, u32::MAX] {
        let signed = AlignedBytes::from_slice(&key().sign(&blob, version).expect("signs"));
        let opened = open_versioned(&signed, &public).expect("opens");
        assert_eq!(opened.model_version, version);
        assert_eq!(read_header(&signed).expect("header").model_version, version);
        // Another version under the same signature: refused.
        let mut changed = signed.as_bytes().to_vec();
        changed[12..16].copy_from_slice(&version.wrapping_add(1).to_le_bytes());
        assert_eq!(refused(&changed, &public), Err(Error::BadSignature));
    }
    // A version 1 envelope (76-byte header, the signature over the blob only), validly signed.
    let mut v1 = ENVELOPE_MAGIC.to_vec();
    v1.extend_from_slice(&1u16.to_le_bytes());
    v1.extend_from_slice(&1u16.to_le_bytes());
    v1.extend_from_slice(&(blob.len() as u32).to_le_bytes());
    v1.extend_from_slice(&key().sign_detached(&blob));
    v1.extend_from_slice(&blob);
    let err = refused(&v1, &public).unwrap_err();
    assert_eq!(err, Error::UnsupportedEnvelope { found: 1 });
    assert!(err.to_string().contains("version 1"), "{err}");
}
