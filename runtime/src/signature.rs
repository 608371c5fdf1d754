//! Signed models: an update is accepted only when its Ed25519 signature verifies against a
//! public key compiled into the firmware.
//!
//! **Container.** A signed model is an envelope: a 76-byte header, then the model blob
//! unchanged (format v1, with its own CRC), so a 4-byte aligned envelope holds a 4-byte aligned
//! blob that [`Model::from_bytes`] reads in place:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 4 | [`ENVELOPE_MAGIC`] `"FSSG"` |
//! | 4 | 2 | envelope version, little-endian ([`ENVELOPE_VERSION`]) |
//! | 6 | 2 | algorithm, little-endian ([`ALGORITHM_ED25519`]) |
//! | 8 | 4 | blob length `n`, little-endian |
//! | 12 | 64 | Ed25519 signature (RFC 8032, pure) of the blob's `n` bytes |
//! | 76 | n | the model blob |
//!
//! The signature covers the blob only; every header field must hold exactly the values above
//! and the envelope must be exactly `76 + n` bytes, so a changed header is refused as well.
//! [`open`] checks the envelope and the signature and returns the blob;
//! [`Model::from_signed_bytes`] also loads it. A bare blob (no envelope) is refused with
//! [`Error::Unsigned`], a short or inconsistent envelope with [`Error::BadEnvelope`], a
//! signature that does not verify (tampered bytes, another key) with
//! [`Error::BadSignature`]. [`verify_detached`] serves a signature kept apart from the blob.
//!
//! **Verifier.** `ed25519-compact` (no_std, no allocation, feature `opt_size`): on a
//! Cortex-M4F about 21.7 KB of flash and 3.8 M instructions to verify a 14 KB model (about
//! 1.7 M plus 150 per byte; see `firmware/README.md` for the comparison with `salty` and
//! `ed25519-dalek`).
//!
//! **Host side** (feature `std`): [`SigningKey`] makes keys and envelopes; the trainer's
//! `keygen` and `sign` commands call it.
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use fewshot_runtime::signature::{open, SigningKey};
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
//! let signed = AlignedBytes::from_slice(&key.sign(&blob).unwrap());
//!
//! let model = Model::from_signed_bytes(&signed, &public).unwrap();
//! assert_eq!(model.name(), "m");
//!
//! let mut tampered = signed.as_bytes().to_vec();
//! *tampered.last_mut().unwrap() ^= 1;
//! assert_eq!(open(&tampered, &public).unwrap_err(), Error::BadSignature);
//! let other = SigningKey::from_seed([8; 32]).public_key();
//! assert_eq!(open(&signed, &other).unwrap_err(), Error::BadSignature);
//! assert_eq!(open(&blob, &public).unwrap_err(), Error::Unsigned);
//! # }
//! ```

use crate::{Error, Model};

/// The first four bytes of a signed-model envelope.
pub const ENVELOPE_MAGIC: [u8; 4] = *b"FSSG";
/// The envelope version this runtime reads and writes.
pub const ENVELOPE_VERSION: u16 = 1;
/// Algorithm number of Ed25519 (RFC 8032, pure).
pub const ALGORITHM_ED25519: u16 = 1;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Bytes of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes of the envelope before the blob.
pub const ENVELOPE_HEADER_LEN: usize = 12 + SIGNATURE_LEN;

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
    let sig =
        ed25519_compact::Signature::from_slice(signature).map_err(|_| Error::LengthMismatch {
            what: "signature",
            expected: SIGNATURE_LEN,
            found: signature.len(),
        })?;
    let pk = ed25519_compact::PublicKey::new(key.0);
    pk.verify(blob, &sig).map_err(|_| Error::BadSignature)
}

fn bad(what: &'static str) -> Error {
    Error::BadEnvelope { what }
}

/// Checks a signed-model envelope and its signature against `key`; returns the model blob
/// inside it (not yet loaded: see [`Model::from_signed_bytes`]).
pub fn open<'a>(envelope: &'a [u8], key: &PublicKey) -> Result<&'a [u8], Error> {
    let magic = envelope.get(..4).ok_or(Error::Unsigned)?;
    if magic != ENVELOPE_MAGIC {
        return Err(Error::Unsigned);
    }
    let header = envelope
        .get(..ENVELOPE_HEADER_LEN)
        .ok_or(bad("truncated header or signature"))?;
    let (fields, signature) = header.split_at(12);
    if u16::from_le_bytes([fields[4], fields[5]]) != ENVELOPE_VERSION {
        return Err(bad("version"));
    }
    if u16::from_le_bytes([fields[6], fields[7]]) != ALGORITHM_ED25519 {
        return Err(bad("algorithm"));
    }
    let len = u32::from_le_bytes([fields[8], fields[9], fields[10], fields[11]]) as usize;
    let blob = envelope.get(ENVELOPE_HEADER_LEN..).unwrap_or(&[]);
    if blob.len() != len {
        return Err(bad("length (truncated or trailing bytes)"));
    }
    verify_detached(blob, signature, key)?;
    Ok(blob)
}

impl<'a> Model<'a> {
    /// [`open`], then [`Model::from_bytes`]: loads a model only when its signature verifies
    /// against `key`. The envelope must be 4-byte aligned (the blob starts 76 bytes in).
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
    /// The envelope of `blob`: header, signature, blob. Refuses a blob the runtime would not
    /// load, and an envelope already signed.
    pub fn sign(&self, blob: &[u8]) -> Result<std::vec::Vec<u8>, Error> {
        if blob.starts_with(&ENVELOPE_MAGIC) {
            return Err(bad("already signed"));
        }
        Model::from_bytes(crate::format::AlignedBytes::from_slice(blob).as_bytes())?;
        let len = u32::try_from(blob.len()).map_err(|_| Error::TooLong { len: blob.len() })?;
        let mut out = std::vec::Vec::with_capacity(ENVELOPE_HEADER_LEN + blob.len());
        out.extend_from_slice(&ENVELOPE_MAGIC);
        out.extend_from_slice(&ENVELOPE_VERSION.to_le_bytes());
        out.extend_from_slice(&ALGORITHM_ED25519.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.sign_detached(blob));
        out.extend_from_slice(blob);
        Ok(out)
    }
}
