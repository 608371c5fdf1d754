//! Meta-training of compact MLPs for few-shot adaptation on microcontrollers.
pub mod bench;
pub mod classify;
pub mod config;
pub mod csvio;
pub mod eval;
pub mod export;
pub mod inspect;
pub mod meta;
pub mod multitask;
pub mod net;
pub mod plots;
pub mod presets;
pub mod real;
pub mod record;
pub mod regression;
pub mod tasks;
pub mod train;
