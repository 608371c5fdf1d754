//! Multi-task learning: one trunk, several heads trained jointly. Each iteration draws one batch
//! per head (fixed heads: a batch of rows, plain loss; adaptable heads: a meta-batch of tasks,
//! the meta-loss of their algorithm), sums the weighted head losses (fixed weights or learned
//! uncertainty weighting) and takes one Adam step on trunk + heads (+ learned rates and
//! log-variances). The exported model carries every head.

pub mod config;
pub mod deployed;
mod export;
mod heads;
pub mod plots;
pub mod record;
pub mod relatedness;
mod train;

pub use crate::engine::RunFlags;
pub use export::{model_def, print_deployed, train_and_export, DEPLOYED_TASKS};
pub use heads::{
    batch, build_heads, draws, head_eval, head_grad, input_normalisation, Batch, Draw, Head,
    Origin, Rows, Source,
};
pub use train::{train, train_from, validate, MtState, MtTrained, Params, Point};
