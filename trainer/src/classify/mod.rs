//! Few-shot classification: labelled CSV data, N-way K-shot episodes, prototype heads
//! (ProtoNet / Proto-MAML) on a shared trunk with a multi-task head, the digits preset, and
//! evaluation as deployed.

pub mod data;
pub mod episodes;
pub mod proto;
