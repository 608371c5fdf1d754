//! Few-shot classification: labelled CSV data, N-way K-shot episodes, prototype heads
//! (ProtoNet / Proto-MAML) on a shared trunk with a multi-task head, image-only machinery (rotations, warps), and
//! evaluation as deployed.

pub mod augment;
pub mod class_names;
pub mod config;
pub mod cv;
pub mod data;
pub mod deploy;
pub mod enroll;
pub mod episodes;
pub mod folds;
pub mod host;
mod job;
pub mod matching;
pub mod metric;
pub mod open_set;
pub mod plots;
pub mod proto;
pub mod record;
pub mod run;
pub mod select;
pub mod setup;
pub mod subjects;
pub mod train;
pub mod unknown;

/// Seed of the fixed evaluation episodes.
pub const EVAL_SEED: u64 = 20_260_105;
