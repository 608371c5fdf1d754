//! The op boundary: every kind of thing the runtime executes, one file each, dispatched in
//! one place per family.
//!
//! - [`layer`]: trunk and head layers ([`layer::Layer`]; dense f32 layers) and the frozen stem's
//!   convolutions and poolings ([`layer::Stem`], cargo feature `conv`),
//! - [`head`]: head kinds (regression, classification, matching), dispatched on
//!   [`HeadKind`](crate::HeadKind),
//! - [`views`]: the input views, affine warps of an image input the trunk runs on before the
//!   heads read their features (cargo feature `input-views`),
//! - [`step`]: the inner loop's step rules (scalar, per layer per step, per parameter,
//!   implicit), dispatched on [`LearningRate`](crate::LearningRate).
//!
//! Each op declares its own geometry (parameters, scratch, state), validation and execution;
//! the format, inference and the inner loop ask the dispatch, never a variant. An op behind a
//! cargo feature (`matching-head`, `implicit-step`, `conv`) is compiled only with it; input
//! views are refused at load without `input-views`, and their code is then unreachable and left
//! out of the binary.
//!
//! Adding an op: its file here, its arm in the dispatch (and its variant in the header's
//! enum in [`crate::format::spec`]), its encoding in the writer, and its training in the
//! trainer.

pub mod head;
pub mod layer;
pub mod step;
pub mod views;
