//! Meta-training of compact MLPs for few-shot adaptation on microcontrollers.
pub mod bench;
pub mod meta;
pub mod net;
pub mod real;
pub mod tasks;
pub mod train;
