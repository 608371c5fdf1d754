//! The messages: what the host asks ([`Request`]) and what the device answers ([`Reply`]).
//!
//! Every request gets exactly one reply; a request the device cannot serve gets
//! [`Reply::Error`] with a [`DeviceError`], never silence. Variants are only ever appended
//! (postcard encodes the variant's index), so an older host still decodes the replies it knows.

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// Floats of a sample's input one request carries: a wider input goes in chunks
/// ([`Request::StageInput`], then [`Request::WithStaged`]).
pub const MAX_INPUT: usize = 64;
/// Floats in a head's outputs or a sample's regression targets.
pub const MAX_OUTPUTS: usize = 32;
/// Bytes of one [`Request::UpdateChunk`].
pub const MAX_CHUNK: usize = 256;
/// Heads listed by [`Info`].
pub const MAX_HEADS: usize = 8;
/// Bytes of a model or head name in [`Info`] (longer names are cut at a character boundary).
pub const MAX_NAME: usize = 32;
/// Bytes of a [`RuntimeError`]'s message: every text of the runtime's errors fits whole
/// (protocol 6 cut them at 96).
pub const MAX_MESSAGE: usize = 240;
/// Numbers a [`RuntimeError`] carries.
pub const MAX_NUMBERS: usize = 4;
/// Labels of enrolled classes listed by [`BankInfo`] (a larger bank lists its first ones).
pub const MAX_CLASSES: usize = 32;

/// A sample's input, as the model takes it (raw units).
pub type Input = Vec<f32, MAX_INPUT>;

/// What the host asks the device.
// No allocator, so no `Box`: a message exists once at a time, on the stack or in a session.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// The model, its heads, the input width and the support buffer's capacity: [`Reply::Info`].
    Info,
    /// Adds a sample to the device's support buffer: [`Reply::Samples`]. A full buffer is
    /// [`DeviceError::Runtime`] `SupportSetFull`, a class not below the head's classes
    /// `LabelOutOfRange` (the sample is not added).
    PushSample {
        /// Its class or its regression values.
        target: Target,
        /// Its input.
        x: Input,
    },
    /// Empties the support buffer: [`Reply::Samples`].
    ClearSamples,
    /// Adapts the learner on the buffered samples (`None`: the model's default steps):
    /// [`Reply::Adapted`].
    Adapt {
        /// Inner steps.
        steps: Option<u16>,
    },
    /// The adapted head's outputs for `x`: [`Reply::Outputs`].
    Infer {
        /// The input.
        x: Input,
    },
    /// The class of `x` and its probability: [`Reply::Class`].
    Classify {
        /// The input.
        x: Input,
    },
    /// Saves the adapted state to flash (power-cut safe): [`Reply::Saved`].
    Save,
    /// Restores the newest saved state: [`Reply::Restored`].
    Restore,
    /// Back to the meta-learned start (the buffer is kept): [`Reply::Done`].
    Reset,
    /// Starts a signed model update of `total_len` bytes (the envelope `trainer sign` writes):
    /// erases the slot not in use. [`Reply::UpdateStarted`].
    UpdateBegin {
        /// Bytes of the whole envelope.
        total_len: u32,
    },
    /// The envelope's bytes from `offset`, in order: [`Reply::UpdateProgress`].
    UpdateChunk {
        /// Where these bytes go in the envelope.
        offset: u32,
        /// The bytes.
        bytes: Vec<u8, MAX_CHUNK>,
    },
    /// Verifies the whole envelope (signature, model, version above the floor) and makes it the
    /// active model slot: [`Reply::UpdateInstalled`]. It runs from the next boot.
    UpdateFinish,
    /// Answers [`Reply::Done`], then resets the core (the flash and what was saved on it stay).
    Reboot,
    /// Enrolls a new class `label` into the class bank of an enrollable head from every
    /// buffered sample (their targets are ignored), then empties the buffer: [`Reply::Bank`].
    /// An active `label` is `DuplicateLabel`, a full bank `Capacity`, an empty buffer
    /// `LengthMismatch` (the buffer is kept on error).
    Enroll {
        /// The caller's label for the class.
        label: u16,
    },
    /// Forgets class `label` of the bank: [`Reply::Bank`]; `UnknownLabel` when not active.
    Forget {
        /// Its label.
        label: u16,
    },
    /// Gives bank class `old` the label `new`: [`Reply::Bank`]. `UnknownLabel` when `old` is
    /// not active, `DuplicateLabel` when another class has `new`.
    Relabel {
        /// Its label now.
        old: u16,
        /// Its label from now on.
        new: u16,
    },
    /// The bank's most probable active class for `x`, by the caller's label, its probability
    /// over the active classes and its distances: [`Reply::Enrolled`]. (`Classify` stays the
    /// adapted learner's: the bank and the learner are separate states of the same head.)
    ClassifyEnrolled {
        /// The input.
        x: Input,
    },
    /// Saves the class bank to its own flash slots (power-cut safe): [`Reply::Saved`].
    SaveBank,
    /// Restores the newest saved class bank: [`Reply::Restored`].
    RestoreBank,
    /// Sets the margin of the classes enrolled from now on (`ClassBank::set_margin`: each
    /// scores as if every input were `margin` farther from it, in squared feature distance;
    /// 0 after a boot, not saved with the bank): [`Reply::Bank`]. A margin that is not finite
    /// is `NonFinite`, the margin unchanged.
    SetMargin {
        /// The margin.
        margin: f32,
    },
    /// Stages `values` as the input's values from `offset`, for an input wider than one frame
    /// carries ([`MAX_INPUT`]): [`Reply::Staged`]. Offset 0 starts a new input; any other
    /// offset must be where the staged values end ([`DeviceError::InputOutOfOrder`]), and no
    /// value may lie past the model's input width ([`DeviceError::InputTooWide`]). A refused
    /// chunk leaves the staged values as they were. [`InputAction::requests`] writes the
    /// sequence.
    StageInput {
        /// Where `values` go in the input.
        offset: u16,
        /// The values.
        values: Input,
    },
    /// Does `action` with the staged input (all of the model's input width, else
    /// [`DeviceError::InputIncomplete`]): the reply of the request that carries its input
    /// inline. The staged input stays (classify it both ways, or push it twice) until a
    /// [`Request::StageInput`] at offset 0.
    WithStaged(InputAction),
}

/// What a request with an input does with it: [`Request::WithStaged`], or inline (the
/// request of the same name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InputAction {
    /// [`Request::PushSample`].
    Push {
        /// Its class or its regression values.
        target: Target,
    },
    /// [`Request::Infer`].
    Infer,
    /// [`Request::Classify`].
    Classify,
    /// [`Request::ClassifyEnrolled`].
    ClassifyEnrolled,
}

impl InputAction {
    /// The requests that do this with `x` (raw units), in order: one inline request when `x`
    /// fits a frame ([`MAX_INPUT`] values), else [`Request::StageInput`] chunks of
    /// [`MAX_INPUT`] values from offset 0, then [`Request::WithStaged`]. `None` when `x` has
    /// more than 65 535 values (what a `u16` offset and width count).
    ///
    /// ```
    /// use fewshot_protocol::{InputAction, Request, MAX_INPUT};
    ///
    /// let wide = vec![0.5f32; 3 * MAX_INPUT + 1];
    /// let requests: Vec<Request> = InputAction::Classify.requests(&wide).unwrap().collect();
    /// assert_eq!(requests.len(), 5); // four chunks, then the action
    /// assert!(matches!(requests[3], Request::StageInput { offset, .. } if offset as usize == 3 * MAX_INPUT));
    /// assert_eq!(requests[4], Request::WithStaged(InputAction::Classify));
    /// let narrow: Vec<Request> = InputAction::Infer.requests(&[1.0, 2.0]).unwrap().collect();
    /// assert!(matches!(&narrow[..], [Request::Infer { x }] if x.len() == 2));
    /// assert!(InputAction::Infer.requests(&vec![0.0; 65_536]).is_none());
    /// ```
    pub fn requests(self, x: &[f32]) -> Option<impl Iterator<Item = Request> + '_> {
        if x.len() > usize::from(u16::MAX) {
            return None;
        }
        let inline = Input::from_slice(x).ok().map(|x| match self.clone() {
            InputAction::Push { target } => Request::PushSample { target, x },
            InputAction::Infer => Request::Infer { x },
            InputAction::Classify => Request::Classify { x },
            InputAction::ClassifyEnrolled => Request::ClassifyEnrolled { x },
        });
        let to_stage = if inline.is_none() { x } else { &[] };
        let chunks = to_stage
            .chunks(MAX_INPUT)
            .enumerate()
            .map(|(i, c)| Request::StageInput {
                // Below x.len(), at most u16::MAX (checked above).
                offset: u16::try_from(i * MAX_INPUT).unwrap_or(u16::MAX),
                values: c.iter().copied().collect(),
            });
        let last = match inline {
            Some(r) => r,
            None => Request::WithStaged(self),
        };
        Some(chunks.chain(core::iter::once(last)))
    }
}

/// The target of a support sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// A class index, below the head's classes.
    Class(u16),
    /// Regression values, one per output of the head.
    Values(Vec<f32, MAX_OUTPUTS>),
}

/// What the device answers.
// No allocator, so no `Box`: a message exists once at a time, on the stack or in a session.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// To [`Request::Info`].
    Info(Info),
    /// The support buffer after [`Request::PushSample`] or [`Request::ClearSamples`].
    Samples {
        /// Samples held.
        stored: u16,
        /// Samples it holds at most.
        capacity: u16,
    },
    /// To [`Request::Adapt`].
    Adapted {
        /// Inner steps run.
        steps: u16,
        /// Support loss before the first step.
        initial_loss: f32,
        /// Support loss after the last step.
        final_loss: f32,
    },
    /// To [`Request::Infer`]: the head's outputs (values, or one probability per class).
    Outputs(Vec<f32, MAX_OUTPUTS>),
    /// To [`Request::Classify`]: the class index.
    Class {
        /// The most probable class.
        class: u16,
        /// Its probability.
        score: f32,
    },
    /// To [`Request::Save`] and [`Request::SaveBank`]: the record written.
    Saved {
        /// Its sequence number (one more than the previous save's).
        sequence: u32,
        /// The flash slot it went to.
        slot: u8,
    },
    /// To [`Request::Restore`] and [`Request::RestoreBank`]: the record read.
    Restored {
        /// Its sequence number.
        sequence: u32,
        /// The flash slot it came from.
        slot: u8,
    },
    /// To [`Request::Reset`] and [`Request::Reboot`].
    Done,
    /// To [`Request::UpdateBegin`].
    UpdateStarted {
        /// The model slot being written (the one not in use).
        slot: u8,
    },
    /// To [`Request::UpdateChunk`].
    UpdateProgress {
        /// Bytes written so far: where the next chunk starts.
        written: u32,
    },
    /// To [`Request::UpdateFinish`]: the new active model slot.
    UpdateInstalled {
        /// Its slot.
        slot: u8,
        /// Its signed model version (the new version floor).
        model_version: u32,
    },
    /// The request was refused; nothing changed except as the error says.
    Error(DeviceError),
    /// The class bank after [`Request::Enroll`], [`Request::Forget`], [`Request::Relabel`] or
    /// [`Request::SetMargin`].
    Bank {
        /// Active classes.
        classes: u16,
        /// Classes it holds at most.
        capacity: u16,
    },
    /// To [`Request::ClassifyEnrolled`]: the bank's answer (`ClassBank::score`), by which a
    /// host also decides "none of the taught classes".
    Enrolled {
        /// The most probable active class, by the caller's label.
        class: u16,
        /// Its probability over the active classes.
        score: f32,
        /// The squared feature distance to its prototype.
        distance: f32,
        /// That distance over the enrolled samples' within-class variance (`None` until a
        /// class was enrolled from 2 samples or more).
        relative_distance: Option<f32>,
    },
    /// To [`Request::StageInput`]: the input staged so far.
    Staged {
        /// Values staged (from offset 0).
        staged: u16,
        /// Values the model takes (the input is complete when `staged` is this).
        width: u16,
    },
}

/// The device, its model and its buffers: the reply to [`Request::Info`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Info {
    /// [`crate::PROTOCOL_VERSION`] of the device.
    pub protocol_version: u16,
    /// The running model's id (`Model::model_id`).
    pub model_id: u32,
    /// Its bytes' CRC-32 (`Model::crc`): another export of the same model has the same id and
    /// another CRC.
    pub model_crc: u32,
    /// Its name.
    pub model_name: String<MAX_NAME>,
    /// Floats per input sample.
    pub input_len: u16,
    /// Its heads, by index.
    pub heads: Vec<HeadInfo, MAX_HEADS>,
    /// The head the device adapts.
    pub adapted_head: u8,
    /// Support samples the buffer holds at most.
    pub max_samples: u16,
    /// Samples that still fit.
    pub free_samples: u16,
    /// The signed model installed in the update slots (`None`: none yet).
    pub installed: Option<Installed>,
    /// The class bank of the served head (`None`: the head is not enrollable).
    pub bank: Option<BankInfo>,
    /// The model slot the running model is read from (`None`: the firmware's built-in model).
    /// It differs from `installed`'s slot after an update was accepted and before the reboot
    /// that runs it.
    pub served_slot: Option<u8>,
    /// The installed update was in its slot at this boot and the device does not serve it:
    /// the boot refused it (a model this firmware cannot serve; the device's log says why)
    /// and runs the built-in model. False for an update accepted since the boot (it runs from
    /// the next one).
    pub installed_refused: bool,
    /// The most inner steps [`Request::Adapt`] takes (the learner's loss log; `Learner::
    /// max_steps`). Protocol 7.
    pub max_steps: u16,
}

/// The class bank of an enrollable head, in [`Info`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankInfo {
    /// Classes it holds at most.
    pub capacity: u16,
    /// The active classes' labels, in slot order (the first [`MAX_CLASSES`]).
    pub labels: Vec<u16, MAX_CLASSES>,
    /// The margin of the classes enrolled from now on ([`Request::SetMargin`]).
    pub margin: f32,
}

/// One head of the running model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadInfo {
    /// Its name.
    pub name: String<MAX_NAME>,
    /// What it predicts.
    pub kind: HeadKind,
    /// Its outputs: values, or one probability per class.
    pub outputs: u16,
    /// Whether the device can adapt it.
    pub adaptable: bool,
}

/// What a head predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeadKind {
    /// Real values (mean squared error).
    Regression,
    /// Classes (softmax).
    Classification,
    /// Classes, each a mixture of prototypes matched to the input.
    Matching,
}

/// The model in the update slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// Its slot.
    pub slot: u8,
    /// Its signed model version.
    pub model_version: u32,
}

/// Why a request was refused.
// No allocator, so no `Box`: a reply exists once at a time, on the stack or in a session.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DeviceError {
    /// The frame is damaged: not COBS-encoded, or its check ([`crate::frame::CHECK`]) does not
    /// hold (corrupted or truncated on the line, or a frame of a protocol before 7, which had
    /// no check).
    BadFrame {
        /// Bytes in the frame (COBS-encoded, without its delimiter).
        len: u16,
    },
    /// The frame was longer than [`crate::MAX_FRAME`]; its bytes were dropped up to the next
    /// delimiter.
    FrameTooLong {
        /// The limit.
        max: u16,
    },
    /// [`Request::UpdateChunk`] or [`Request::UpdateFinish`] without [`Request::UpdateBegin`]
    /// (or after the update ended, accepted or refused).
    NoUpdate,
    /// The runtime refused: its error's name, numbers and text.
    Runtime(RuntimeError),
    /// A class bank request ([`Request::Enroll`], ...) to a device whose head is not
    /// enrollable.
    NoBank,
    /// [`Request::StageInput`] at an offset other than 0 or where the staged values end.
    InputOutOfOrder {
        /// The chunk's offset.
        offset: u16,
        /// Values staged: where the next chunk starts.
        staged: u16,
    },
    /// [`Request::StageInput`] with values past the model's input width.
    InputTooWide {
        /// Where the chunk ends.
        end: u32,
        /// Values the model takes.
        width: u16,
    },
    /// [`Request::WithStaged`] before the whole input was staged.
    InputIncomplete {
        /// Values staged.
        staged: u16,
        /// Values the model takes.
        width: u16,
    },
    /// The frame arrived whole (its check holds) but is not a request of this device's
    /// protocol version ([`crate::PROTOCOL_VERSION`] in [`Info`]): a request variant it does
    /// not know (`tag`), or one whose fields are another version's. A damaged frame is
    /// [`DeviceError::BadFrame`].
    UnknownRequest {
        /// The request's variant index (`u32::MAX` when unreadable).
        tag: u32,
    },
}

/// An error of the runtime (`fewshot_runtime::Error`), compactly: the variant's name, the
/// numbers it carries in order, and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeError {
    /// The variant, e.g. `Rollback`.
    pub kind: String<MAX_NAME>,
    /// Its numbers in order, e.g. `[offered, floor]`.
    pub numbers: Vec<u32, MAX_NUMBERS>,
    /// Its text (cut at [`MAX_MESSAGE`] bytes).
    pub message: String<MAX_MESSAGE>,
}
