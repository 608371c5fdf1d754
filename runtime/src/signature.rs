//! Signed models: an update is accepted only when its Ed25519 signature verifies against a
//! public key compiled into the firmware.
//!
//! **Container.** A signed model is an envelope: an 80-byte header, then the model blob
//! unchanged (format v1, with its own CRC), so a 4-byte aligned envelope holds a 4-byte aligned
//! blob that [`Model::from_bytes`] reads in place:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 4 | [`ENVELOPE_MAGIC`] `"FSSG"` |
//! | 4 | 2 | envelope version, little-endian ([`ENVELOPE_VERSION`], 2) |
//! | 6 | 2 | algorithm, little-endian ([`ALGORITHM_ED25519`]) |
//! | 8 | 4 | blob length `n`, little-endian |
//! | 12 | 4 | model version, little-endian: chosen by the signer, larger is newer |
//! | 16 | 64 | Ed25519 signature (RFC 8032, pure) of bytes `0..16` followed by the blob's `n` bytes |
//! | 80 | n | the model blob |
//!
//! The signature covers every header field and the blob, so neither the model version nor
//! anything else can be changed without the key; the envelope must also be exactly `80 + n`
//! bytes. The model version is what anti-rollback compares (see [`crate::update`]: a device
//! refuses a model older than the newest it accepted).
//!
//! **Version 1** envelopes (76-byte header, no model version, the signature over the blob
//! only) are refused with [`Error::UnsupportedEnvelope`] `{ found: 1 }`: without a signed
//! version an old model could be replayed. Re-sign such a model with
//! `trainer sign --version N`.
//!
//! [`open`] checks the envelope and the signature and returns the blob; [`open_versioned`]
//! also returns the model version; [`Model::from_signed_bytes`] loads the blob. A bare blob
//! (no envelope) is refused with [`Error::Unsigned`], a short or inconsistent envelope with
//! [`Error::BadEnvelope`], a signature that does not verify (tampered bytes, another key) with
//! [`Error::BadSignature`]. [`verify_detached`] serves a signature kept apart from the blob.
//!
//! **Verifier.** `ed25519-compact` (no_std, no allocation, feature `opt_size`): on a
//! Cortex-M4F about 21.7 KB of flash and 3.8 M instructions to verify a 14 KB model (about
//! 1.7 M plus 150 per byte; see `firmware/README.md` for the comparison with `salty` and
//! `ed25519-dalek`).
//!
//! **Host side** (feature `std`): `SigningKey` makes keys and envelopes; the trainer's
//! `keygen` and `sign` commands call it.
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use fewshot_runtime::signature::{open, open_versioned, SigningKey};
//! use fewshot_runtime::writer::{Dense, HeadDef, ModelDef};
//! use fewshot_runtime::{Activation, Error, Model};
//! use fewshot_runtime::format::AlignedBytes;
//!
//! let blob = ModelDef::new("m", 1)
//!     .head(HeadDef::regression(0, "y", vec![Dense::zeros(1, 1, Activation::Identity)]))
//!     .to_bytes()
//!     .unwrap();
//! let key = SigningKey::from_seed([7; 32]); // a real key: SigningKey::generate()
//! let public = key.public_key();            // compiled into the firmware
//! let signed = AlignedBytes::from_slice(&key.sign(&blob, 3).unwrap()); // model version 3
//!
//! let model = Model::from_signed_bytes(&signed, &public).unwrap();
//! assert_eq!(model.name(), "m");
//! assert_eq!(open_versioned(&signed, &public).unwrap().model_version, 3);
//!
//! let mut tampered = signed.as_bytes().to_vec();
//! *tampered.last_mut().unwrap() ^= 1;
//! assert_eq!(open(&tampered, &public).unwrap_err(), Error::BadSignature);
//! let other = SigningKey::from_seed([8; 32]).public_key();
//! assert_eq!(open(&signed, &other).unwrap_err(), Error::BadSignature);
//! let mut older = signed.as_bytes().to_vec();
//! older[12] = 2; // the model version: covered by the signature
//! assert_eq!(open(&older, &public).unwrap_err(), Error::BadSignature);
//! assert_eq!(open(&blob, &public).unwrap_err(), Error::Unsigned);
//! # }
//! ```

use crate::{Error, Model};

/// The first four bytes of a signed-model envelope.
pub const ENVELOPE_MAGIC: [u8; 4] = *b"FSSG";
/// The envelope version this runtime reads and writes (version 1 had no model version).
pub const ENVELOPE_VERSION: u16 = 2;
/// Algorithm number of Ed25519 (RFC 8032, pure).
pub const ALGORITHM_ED25519: u16 = 1;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Bytes of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes of the signed header fields (magic, versions, algorithm, blob length).
pub const SIGNED_FIELDS_LEN: usize = 16;
/// Bytes of the envelope before the blob.
pub const ENVELOPE_HEADER_LEN: usize = SIGNED_FIELDS_LEN + SIGNATURE_LEN;

/// An Ed25519 public key, as compiled into a firmware:
/// `PublicKey::from_bytes(*include_bytes!("model-signing.pub"))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PublicKey([u8; PUBLIC_KEY_LEN]);

impl PublicKey {
    /// The key from its 32 bytes (RFC 8032 encoding).
    pub const fn from_bytes(bytes: [u8; PUBLIC_KEY_LEN]) -> Self {
        PublicKey(bytes)
    }
    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }
}

/// Checks `signature` (64 bytes) over `blob` against `key`.
pub fn verify_detached(blob: &[u8], signature: &[u8], key: &PublicKey) -> Result<(), Error> {
    verify_parts(&[blob], signature, key)
}

/// Checks `signature` over the concatenation of `parts` against `key`.
fn verify_parts(parts: &[&[u8]], signature: &[u8], key: &PublicKey) -> Result<(), Error> {
    let sig =
        ed25519_compact::Signature::from_slice(signature).map_err(|_| Error::LengthMismatch {
            what: "signature",
            expected: SIGNATURE_LEN,
            found: signature.len(),
        })?;
    let mut state = ed25519_compact::PublicKey::new(key.0)
        .verify_incremental(&sig)
        .map_err(|_| Error::BadSignature)?;
    for part in parts {
        state.absorb(part);
    }
    state.verify().map_err(|_| Error::BadSignature)
}

fn bad(what: &'static str) -> Error {
    Error::BadEnvelope { what }
}

/// An envelope's header fields, read but not yet verified: for deciding early (a transfer's
/// size, an old version) before the whole envelope is there. Only [`open_versioned`] makes them
/// trustworthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EnvelopeHeader {
    /// Bytes of the blob.
    pub blob_len: u32,
    /// The model version the signer chose.
    pub model_version: u32,
}

impl EnvelopeHeader {
    /// Bytes of the whole envelope (header and blob).
    pub fn envelope_len(&self) -> usize {
        ENVELOPE_HEADER_LEN.saturating_add(self.blob_len as usize)
    }
}

/// Reads the header fields at the start of `envelope` (at least [`SIGNED_FIELDS_LEN`] bytes):
/// magic, envelope version, algorithm. The signature is not checked.
pub fn read_header(envelope: &[u8]) -> Result<EnvelopeHeader, Error> {
    let magic = envelope.get(..4).ok_or(Error::Unsigned)?;
    if magic != ENVELOPE_MAGIC {
        return Err(Error::Unsigned);
    }
    let word = |at: usize| -> Result<[u8; 4], Error> {
        envelope
            .get(at..at + 4)
            .and_then(|w| w.try_into().ok())
            .ok_or(bad("truncated header"))
    };
    let versions = word(4)?;
    let found = u16::from_le_bytes([versions[0], versions[1]]);
    if found != ENVELOPE_VERSION {
        return Err(Error::UnsupportedEnvelope { found });
    }
    if u16::from_le_bytes([versions[2], versions[3]]) != ALGORITHM_ED25519 {
        return Err(bad("algorithm"));
    }
    Ok(EnvelopeHeader {
        blob_len: u32::from_le_bytes(word(8)?),
        model_version: u32::from_le_bytes(word(12)?),
    })
}

/// A verified envelope: its model version and blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The model version, covered by the signature.
    pub model_version: u32,
    /// The model blob (not yet loaded: see [`Model::from_bytes`]).
    pub blob: &'a [u8],
}

/// Checks a signed-model envelope and its signature against `key`; returns the model version
/// and the blob inside it.
pub fn open_versioned<'a>(envelope: &'a [u8], key: &PublicKey) -> Result<Opened<'a>, Error> {
    let header = read_header(envelope)?;
    let signature = envelope
        .get(SIGNED_FIELDS_LEN..ENVELOPE_HEADER_LEN)
        .ok_or(bad("truncated header or signature"))?;
    let fields = envelope.get(..SIGNED_FIELDS_LEN).unwrap_or(&[]);
    let blob = envelope.get(ENVELOPE_HEADER_LEN..).unwrap_or(&[]);
    if blob.len() != header.blob_len as usize {
        return Err(bad("length (truncated or trailing bytes)"));
    }
    verify_parts(&[fields, blob], signature, key)?;
    Ok(Opened {
        model_version: header.model_version,
        blob,
    })
}

/// Checks a signed-model envelope and its signature against `key`; returns the model blob
/// inside it (not yet loaded: see [`Model::from_signed_bytes`]).
pub fn open<'a>(envelope: &'a [u8], key: &PublicKey) -> Result<&'a [u8], Error> {
    Ok(open_versioned(envelope, key)?.blob)
}

impl<'a> Model<'a> {
    /// [`open`], then [`Model::from_bytes`]: loads a model only when its signature verifies
    /// against `key`. The envelope must be 4-byte aligned (the blob starts 80 bytes in).
    pub fn from_signed_bytes(envelope: &'a [u8], key: &PublicKey) -> Result<Self, Error> {
        Model::from_bytes(open(envelope, key)?)
    }
}

/// A signing key (host only, feature `std`): the 32-byte RFC 8032 seed.
#[cfg(feature = "std")]
#[derive(Clone)]
pub struct SigningKey {
    seed: [u8; 32],
}

#[cfg(feature = "std")]
impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SigningKey(public {:02x?})", self.public_key().0)
    }
}

#[cfg(feature = "std")]
impl SigningKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        SigningKey {
            seed: *ed25519_compact::Seed::generate(),
        }
    }
    /// The key with this seed (what [`SigningKey::to_seed`] returns; keep it secret).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        SigningKey { seed }
    }
    /// The seed, to store the key.
    pub fn to_seed(&self) -> [u8; 32] {
        self.seed
    }
    fn pair(&self) -> ed25519_compact::KeyPair {
        ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(self.seed))
    }
    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(*self.pair().pk)
    }
    /// The 64-byte signature of `blob` (deterministic, RFC 8032).
    pub fn sign_detached(&self, blob: &[u8]) -> [u8; SIGNATURE_LEN] {
        *self.pair().sk.sign(blob, None)
    }
    /// The envelope of `blob` with model version `model_version`: header fields, signature
    /// (of the header fields and the blob), blob. Refuses a blob the runtime would not load,
    /// and an envelope already signed.
    pub fn sign(&self, blob: &[u8], model_version: u32) -> Result<std::vec::Vec<u8>, Error> {
        if blob.starts_with(&ENVELOPE_MAGIC) {
            return Err(bad("input, a signed envelope already"));
        }
        Model::from_bytes(crate::format::AlignedBytes::from_slice(blob).as_bytes())?;
        let len = u32::try_from(blob.len()).map_err(|_| Error::TooLong { len: blob.len() })?;
        let mut out = std::vec::Vec::with_capacity(ENVELOPE_HEADER_LEN + blob.len());
        out.extend_from_slice(&ENVELOPE_MAGIC);
        out.extend_from_slice(&ENVELOPE_VERSION.to_le_bytes());
        out.extend_from_slice(&ALGORITHM_ED25519.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&model_version.to_le_bytes());
        let mut message = out.clone();
        message.extend_from_slice(blob);
        out.extend_from_slice(&self.sign_detached(&message));
        out.extend_from_slice(blob);
        Ok(out)
    }
}
