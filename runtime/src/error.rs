//! The runtime's one error type.
//!
//! Every fallible entry point returns [`Error`]; nothing in the runtime panics on bytes or samples
//! it is given. Each variant but one describes something about the caller's input;
//! [`Error::Internal`] is a state the runtime's own validation rules out (a bug in the runtime),
//! so that such a bug never reads as a user error such as [`Error::StateMismatch`].
//!
//! ```
//! use fewshot_runtime::{Error, Model};
//! let err = Model::from_bytes(&[0u8; 3]).unwrap_err();
//! assert!(matches!(err, Error::TooShort { .. }));
//! println!("{err}");
//! ```

use core::fmt;

/// What went wrong. Variants carry the numbers needed to act on the error.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The blob is shorter than the smallest valid model.
    TooShort {
        /// Bytes present.
        len: usize,
    },
    /// The blob is longer than [`crate::MAX_BLOB_LEN`].
    TooLong {
        /// Bytes present.
        len: usize,
    },
    /// The blob does not start at a 4-byte boundary (use [`crate::include_model!`]).
    Misaligned,
    /// The blob does not start with [`crate::MAGIC`].
    BadMagic,
    /// The blob's format version is not [`crate::FORMAT_VERSION`].
    UnsupportedVersion {
        /// Version found in the blob.
        found: u16,
    },
    /// The CRC-32 trailer does not match the bytes: damaged, or cut short (a truncated file's
    /// last four bytes are read as its trailer; the format stores no length).
    CrcMismatch {
        /// CRC stored in the blob.
        stored: u32,
        /// CRC computed over the bytes.
        computed: u32,
    },
    /// The postcard header could not be decoded (malformed, or more layers or heads than the
    /// runtime's format capacities).
    HeaderDecode,
    /// The header decoded but describes an impossible model; the field names what is wrong.
    InvalidHeader {
        /// The offending field.
        field: &'static str,
    },
    /// A weight tensor does not lie where the canonical layout puts it, or the weights section's
    /// size disagrees with the header.
    LayoutMismatch {
        /// Offset (in f32) where the tensor was expected.
        expected: u32,
        /// Offset (in f32) found in the header.
        found: u32,
    },
    /// A weight, normalisation value or learning rate is NaN or infinite, or a learning rate is
    /// negative.
    BadWeight {
        /// Index (in f32) into the weights section.
        index: usize,
    },
    /// A dimension exceeds a runtime capacity.
    Capacity {
        /// What is too small.
        what: &'static str,
        /// What the model or call needs.
        needed: usize,
        /// What is available.
        available: usize,
    },
    /// A caller-provided buffer is too small.
    BufferTooSmall {
        /// Which buffer.
        what: &'static str,
        /// Floats (or entries) needed.
        needed: usize,
        /// Floats (or entries) provided.
        provided: usize,
    },
    /// A slice does not have the length the model expects.
    LengthMismatch {
        /// Which slice.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Provided length.
        found: usize,
    },
    /// No head with this index or id.
    NoSuchHead {
        /// The index or id asked for.
        head: usize,
    },
    /// A head selection ([`crate::Heads`]) names none of the model's heads, e.g.
    /// `Heads::only(i)` with `i` at or above the model's head count (or at or above 8, which
    /// selects nothing).
    NoHeadSelected {
        /// The selection's bits.
        heads: u8,
        /// Heads the model has.
        model_heads: usize,
    },
    /// The head has no adaptation spec.
    HeadNotAdaptable {
        /// Head index.
        head: usize,
    },
    /// The adapted state belongs to another model or head: its model's id and CRC, adapted
    /// layers or parameter count differ from the model it is used with.
    StateMismatch,
    /// A state the runtime's own validation rules out: a bug in the runtime (please report it);
    /// `at` names the place, e.g. `"adapt::inner::run"`. No model bytes, samples, state or
    /// buffers passed to the runtime's entry points lead here (too small a buffer is
    /// [`Error::BufferTooSmall`], a state of another model [`Error::StateMismatch`]). The one
    /// exception is the kernels of [`crate::math::block`], public for the on-target tests: they
    /// trust the caller's dimensions and report slices that disagree with them here.
    Internal {
        /// The function where the impossible state was found.
        at: &'static str,
    },
    /// An input or target is NaN or infinite.
    NonFinite {
        /// Which value.
        what: &'static str,
        /// Sample index.
        sample: usize,
    },
    /// A class label is not below the head's number of classes.
    LabelOutOfRange {
        /// Sample index.
        sample: usize,
        /// The label.
        label: u16,
        /// Classes of the head.
        classes: u16,
    },
    /// The support set's kind (labels or values) does not match the head's kind.
    TargetKindMismatch,
    /// The support set is empty.
    EmptySupport,
    /// Prototype initialisation needs every class in the support set.
    ClassWithoutSamples {
        /// The missing class.
        class: u16,
    },
    /// Zero inner steps asked of a head that does not start from prototypes.
    ZeroSteps,
    /// More inner steps than the runtime ([`crate::MAX_STEPS`]) or a learner's loss log
    /// (`Learner::max_steps`, the generated module's `MAX_STEPS`) takes.
    TooManySteps {
        /// Steps asked for.
        steps: u16,
        /// The most this takes.
        max: u16,
    },
    /// The support set is full.
    SupportSetFull {
        /// Its capacity (K).
        capacity: usize,
    },
    /// The inputs are so large that the adaptation could overflow f32; refused before any change.
    MayOverflow,
    /// The implicit (proximal) step's `K x K` system is too ill-conditioned for f32: in its
    /// `L D L^T` factors, the pivot of `sample` is below `1 / limit` of its diagonal (rounding
    /// would decide the step). In exact arithmetic every pivot is at least `K m / 2`, so this
    /// means that sample's features are too large for the head's step sizes: scale the inputs
    /// down (the system grows with the square of the features). Refused before any change.
    IllConditioned {
        /// Output (row of the head layer) whose system it is.
        output: usize,
        /// Support sample of the pivot.
        sample: usize,
        /// Its diagonal over its pivot, rounded down (`u32::MAX`: the pivot was not positive).
        ratio: u32,
        /// The largest ratio accepted (`ops::step::proximal::PIVOT_LIMIT`).
        limit: u32,
    },
    /// The support loss became NaN or infinite at this step.
    NonFiniteLoss {
        /// The step at which the loss was not finite.
        step: u16,
    },
    /// The flash device failed an operation.
    Flash {
        /// `"read"`, `"write"`, `"erase"` or `"verify"`.
        op: &'static str,
        /// What the device reported.
        kind: &'static str,
    },
    /// The flash region given for saved state does not suit the device (alignment, size).
    FlashLayout {
        /// What is wrong.
        what: &'static str,
    },
    /// Neither slot holds a whole saved record of the kind asked for (adapted state, class
    /// bank): none was saved, or a save was cut short before it completed.
    NoSavedState,
    /// The newest saved state belongs to another model, head or parameter count; it was not
    /// restored.
    SavedStateMismatch {
        /// `"model"`, `"head"` or `"parameter count"`.
        what: &'static str,
    },
    /// The bytes are not a signed-model envelope (a bare blob, say) where a signature is
    /// required.
    Unsigned,
    /// The signed-model envelope is malformed: truncated, or a header field is wrong.
    BadEnvelope {
        /// What is wrong.
        what: &'static str,
    },
    /// The signature does not verify: the bytes were changed or signed with another key.
    BadSignature,
    /// The signed-model envelope has a version this runtime does not read (version 1 carried no
    /// model version: re-sign the model with `trainer sign --version N`).
    UnsupportedEnvelope {
        /// Envelope version found.
        found: u16,
    },
    /// A signed model is not newer than the newest this device accepted (anti-rollback).
    Rollback {
        /// The model version offered.
        offered: u32,
        /// The version floor: the highest model version accepted so far.
        floor: u32,
    },
    /// No model slot holds a signed model that verifies, loads and is not older than the floor.
    NoValidModel,
    /// An update chunk does not continue where the last one ended (or is misaligned, or runs
    /// past the announced length); send again from `expected`.
    ChunkOutOfOrder {
        /// Byte offset the next chunk must start at.
        expected: u32,
        /// Byte offset given.
        offset: u32,
    },
    /// An update would be written into the model slot that holds the model being served (in
    /// place, from the memory-mapped flash): an update was installed since the last reboot.
    /// Reboot (the installed update is then served), then send the next one.
    SlotInUse {
        /// The model slot (0 or 1).
        slot: u8,
    },
    /// `finish` was called before every announced byte of the update was written.
    UpdateIncomplete {
        /// Bytes written.
        written: u32,
        /// Bytes announced at `begin`.
        len: u32,
    },
    /// The model needs a part of the runtime that this build leaves out (a cargo feature).
    FeatureDisabled {
        /// The cargo feature of `fewshot-runtime` to enable (or the op no build runs yet:
        /// `conv`, `int8`).
        feature: &'static str,
    },
    /// The model's header declares a capability this runtime has no name for (a newer
    /// runtime's op): update the runtime.
    UnknownCapability {
        /// The capability's bit.
        bit: u8,
    },
    /// The capabilities a v3 header declares are not those of what the model contains.
    InvalidModel {
        /// The header's capability bits.
        declared: u32,
        /// The capability bits of the decoded model.
        contains: u32,
    },
    /// No active class of the class bank has this label.
    UnknownLabel {
        /// The label asked for.
        label: u16,
    },
    /// An active class of the class bank already has this label (forget it first to enroll it
    /// anew).
    DuplicateLabel {
        /// The label.
        label: u16,
    },
    /// A head's adaptation scope would reach into the model's frozen stem (format v4): with a
    /// stem, only `HeadOnly` and `HeadAndLastTrunk(k)` (counting dense trunk layers) adapt.
    ScopeReachesStem {
        /// The head.
        head: usize,
    },
    /// A setting of an audio front-end ([`crate::frontend::FrontEndSpec`]) is out of its
    /// range: `value` is not within `min..=max` (frequencies in Hz, rounded down, `u32::MAX`
    /// when not finite or negative; `field` says when more is required, e.g. a power of two).
    FrontEndSetting {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: u32,
        /// The smallest accepted.
        min: u32,
        /// The largest accepted.
        max: u32,
    },
    /// The audio given to a model's front-end is not the audio it was trained on.
    AudioMismatch {
        /// `"sample_rate"` or `"channels"`.
        what: &'static str,
        /// The model's value.
        model: u32,
        /// The value given.
        given: u32,
    },
    /// The model carries no audio front-end (format v6, `Extension::front_end`).
    NoFrontEnd,
    /// A class bank asked to classify holds no class yet: enroll one first; or a learner of a
    /// head that starts from prototypes asked before any support set: adapt first.
    NoClassEnrolled,
    /// A class bank of a head exported without a maximum class count (`trainer export --head H
    /// --max-classes C` makes it enrollable).
    NotEnrollable {
        /// Head index.
        head: usize,
    },
    /// A setting given to the runtime (not a sample's value) is NaN or infinite, or becomes so
    /// in the units the runtime keeps it in.
    NonFiniteSetting {
        /// Which setting, e.g. `"enrollment margin"`.
        what: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::TooShort { len } => write!(f, "model blob too short ({len} bytes)"),
            Error::TooLong { len } => write!(
                f,
                "model blob too long ({len} bytes, cap {})",
                crate::MAX_BLOB_LEN
            ),
            Error::Misaligned => write!(f, "model blob is not 4-byte aligned"),
            Error::BadMagic => write!(f, "not a model blob (bad magic)"),
            Error::UnsupportedVersion { found } => write!(
                f,
                "model format version {found} is not supported (this runtime reads {})",
                crate::FORMAT_VERSION
            ),
            Error::CrcMismatch { stored, computed } => write!(
                f,
                "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}: the model's bytes are damaged or cut short (copied or flashed in part?)"
            ),
            Error::HeaderDecode => write!(f, "model header cannot be decoded"),
            Error::InvalidHeader { field } => write!(f, "invalid model header field `{field}`"),
            Error::LayoutMismatch { expected, found } => {
                write!(f, "weight tensor at offset {found}, expected {expected}")
            }
            Error::BadWeight { index } => {
                write!(
                    f,
                    "weight {index} is not finite (or a negative learning rate)"
                )
            }
            Error::Capacity {
                what,
                needed,
                available,
            } => write!(f, "{what} too small: needs {needed}, capacity {available}"),
            Error::BufferTooSmall {
                what,
                needed,
                provided,
            } => write!(f, "{what} buffer too small: needs {needed}, got {provided}"),
            Error::LengthMismatch {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected length {expected}, got {found}"),
            Error::NoSuchHead { head } => write!(f, "no head {head}"),
            Error::NoHeadSelected { heads, model_heads } => write!(
                f,
                "head selection {heads:#010b} names none of the model's {model_heads} heads"
            ),
            Error::HeadNotAdaptable { head } => write!(f, "head {head} has no adaptation spec"),
            Error::StateMismatch => write!(f, "adapted state belongs to another model or head"),
            Error::Internal { at } => write!(f, "internal error in the runtime at {at} (a bug)"),
            Error::NonFinite { what, sample } => {
                write!(f, "{what} of sample {sample} is not finite")
            }
            Error::LabelOutOfRange {
                sample,
                label,
                classes,
            } => write!(
                f,
                "label {label} of sample {sample} out of range (head has {classes} classes)"
            ),
            Error::TargetKindMismatch => {
                write!(f, "support targets do not match the head's kind")
            }
            Error::EmptySupport => write!(f, "support set is empty"),
            Error::NotEnrollable { head } => write!(
                f,
                "head {head} is not enrollable: export it with `trainer export --head {head} --max-classes C`"
            ),
            Error::NoClassEnrolled => {
                write!(f, "no class yet: enroll one, or adapt the head on a support set, first")
            }
            Error::ClassWithoutSamples { class } => {
                write!(
                    f,
                    "class {class} has no support sample: every class needs one (for fewer: `trainer export --ways`)"
                )
            }
            Error::ZeroSteps => write!(f, "zero inner steps"),
            Error::TooManySteps { steps, max } => {
                write!(f, "{steps} inner steps (at most {max})")
            }
            Error::SupportSetFull { capacity } => {
                write!(f, "support set full (capacity {capacity})")
            }
            Error::MayOverflow => write!(f, "inputs too large: adaptation could overflow f32"),
            Error::IllConditioned {
                output,
                sample,
                ratio,
                limit,
            } => write!(
                f,
                "implicit step ill-conditioned in f32: support sample {sample} (output {output}) \
                 has diagonal / pivot {ratio} (at most {limit}); scale the inputs down"
            ),
            Error::NonFiniteLoss { step } => write!(f, "support loss not finite at step {step}"),
            Error::Flash { op, kind } => write!(f, "flash {op} failed: {kind}"),
            Error::FlashLayout { what } => write!(f, "flash region for saved state: {what}"),
            Error::NoSavedState => write!(
                f,
                "nothing saved in flash (neither slot holds a whole record of this kind)"
            ),
            Error::SavedStateMismatch { what } => {
                write!(f, "saved state belongs to another {what}; not restored")
            }
            Error::Unsigned => write!(f, "model is not signed"),
            Error::BadEnvelope { what } => write!(f, "signed-model envelope: bad {what}"),
            Error::BadSignature => write!(f, "model signature does not verify against the key"),
            Error::UnsupportedEnvelope { found } => write!(
                f,
                "signed-model envelope version {found} is not supported (this runtime reads {}; \
                 re-sign with `trainer sign --version N`)",
                crate::signature::ENVELOPE_VERSION
            ),
            Error::Rollback { offered, floor } => write!(
                f,
                "model version {offered} refused: not newer than version {floor}, the newest accepted"
            ),
            Error::NoValidModel => write!(f, "no model slot holds a valid signed model"),
            Error::ChunkOutOfOrder { expected, offset } => write!(
                f,
                "update chunk at offset {offset} refused: the next chunk starts at {expected}"
            ),
            Error::SlotInUse { slot } => write!(
                f,
                "model slot {slot} holds the served model: reboot first (the installed update \
                 is served after it)"
            ),
            Error::UpdateIncomplete { written, len } => {
                write!(f, "update incomplete: {written} of {len} bytes written")
            }
            Error::FeatureDisabled { feature } => write!(
                f,
                "the model needs the runtime's `{feature}` feature, which this build leaves out"
            ),
            Error::UnknownCapability { bit } => write!(
                f,
                "the model needs capability bit {bit}, unknown to this runtime (update it)"
            ),
            Error::InvalidModel { declared, contains } => write!(
                f,
                "the header declares capabilities {declared:#x} but the model contains {contains:#x}"
            ),
            Error::UnknownLabel { label } => write!(f, "no enrolled class has label {label}"),
            Error::DuplicateLabel { label } => {
                write!(f, "label {label} is already enrolled (forget it first)")
            }
            Error::ScopeReachesStem { head } => write!(
                f,
                "head {head} adapts every trunk layer or bias, but the model's convolution stem is frozen (use HeadOnly or HeadAndLastTrunk)"
            ),
            Error::FrontEndSetting {
                field,
                value,
                min,
                max,
            } => write!(
                f,
                "audio front-end: {field} is {value}, expected {min} to {max}"
            ),
            Error::AudioMismatch { what, model, given } => write!(
                f,
                "audio {what} {given} does not match the model's front-end ({model})"
            ),
            Error::NoFrontEnd => write!(f, "the model carries no audio front-end"),
            Error::NonFiniteSetting { what } => write!(f, "{what} is not finite"),
        }
    }
}

impl Error {
    /// [`Error::Internal`] at `at`.
    pub(crate) const fn internal(at: &'static str) -> Error {
        Error::Internal { at }
    }

    /// `Err(`[`Error::Capacity`]`)` when `needed` exceeds `available`: the one check a buffer
    /// sized by a const generic makes against what a model needs.
    pub fn check_capacity(
        what: &'static str,
        needed: usize,
        available: usize,
    ) -> Result<(), Error> {
        if needed > available {
            return Err(Error::Capacity {
                what,
                needed,
                available,
            });
        }
        Ok(())
    }
}

/// `core::error::Error` (stable since Rust 1.81), so `no_std` code can box or chain it too;
/// with std it is `std::error::Error`.
impl core::error::Error for Error {}
