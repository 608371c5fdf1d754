//! # fewshot-runtime
//!
//! Loads a meta-trained model straight from flash, runs multi-head inference (the trunk once,
//! every head from its features) and few-shot adaptation (a few gradient steps on a K-shot
//! support set, with the model's meta-learned step sizes) in statically bounded RAM: no
//! allocator, no heap, and no panic on any bytes or samples it is given.
//!
//! The data path, one module each:
//! - [`mod@format`]: bytes -> validated [`Model`] (format v1; the writer behind `std`),
//! - [`infer`]: trunk -> heads ([`Network`]),
//! - [`adapt`]: support set -> inner loop -> [`AdaptState`],
//! - [`ops`]: the op boundary: each kind of layer, head and step rule in its own file,
//!   dispatched in one place (matching heads behind the cargo feature `matching-head`, the
//!   implicit step behind `implicit-step`),
//! - [`math`]: the kernels they share.
//!
//! Before it, for audio: [`frontend`] turns 16-bit PCM into log-mel (or MFCC) frames, the
//! same bits on the host and the device (cargo feature `audio-frontend`).
//!
//! Around it: [`persist`] keeps adapted state across power cuts on NOR flash; [`signature`]
//! accepts only models signed with the owner's key; [`update`] writes a signed model into the
//! second of two flash slots and switches to it, refusing older versions (anti-rollback).
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use fewshot_runtime::writer::{Dense, HeadDef, ModelDef};
//! use fewshot_runtime::{Activation, Heads, Model};
//!
//! let blob = ModelDef::new("id", 1)
//!     .head(HeadDef::regression(0, "y", vec![Dense::new(1, 1, Activation::Identity, vec![2.0], vec![1.0])]))
//!     .to_aligned_bytes()
//!     .unwrap();
//! let model = Model::from_bytes(&blob).unwrap();
//! let mut scratch = [0.0; 4];
//! let mut y = [0.0];
//! model.network().infer(&[3.0], Heads::ALL, &mut scratch, &mut y).unwrap();
//! assert_eq!(y, [7.0]);
//! # }
//! ```
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod adapt;
pub mod enroll;
mod error;
pub mod format;
pub mod frontend;
pub mod in_place;
pub mod infer;
pub mod learner;
pub mod math;
pub mod ops;
pub mod persist;
pub mod signature;
pub mod update;

#[cfg(feature = "std")]
pub use format::writer;

pub use adapt::{AdaptReport, AdaptState, Capacities, RamNeeds, Support, SupportSet, Targets};
pub use enroll::{BankState, ClassBank, ClassScore};
pub use error::Error;
pub use format::{
    Activation, AdaptScope, AdaptSpec, Capabilities, HeadKind, HeadSpec, Header, LayerSpec,
    LearningRate, Model, FORMAT_VERSION, MAGIC, MAX_BLOB_LEN, MAX_STEPS,
};
pub use infer::{Heads, Network};
pub use learner::Learner;

/// The examples of `runtime/README.md`, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

/// A fixed-capacity scratch buffer of `N` floats for inference and adaptation.
///
/// ```
/// let mut ws = fewshot_runtime::Workspace::<128>::new();
/// assert_eq!(ws.as_mut_slice().len(), 128);
/// ```
#[derive(Debug, Clone)]
pub struct Workspace<const N: usize>([f32; N]);

impl<const N: usize> Default for Workspace<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Workspace<N> {
    /// A zeroed workspace.
    pub const fn new() -> Self {
        const { assert!(N > 0, "Workspace capacity must be non-zero") };
        Workspace([0.0; N])
    }
    /// The floats.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.0
    }
}
