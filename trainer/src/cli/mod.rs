//! The command line's subcommands that need more than a few lines.

pub mod bench;
pub mod device;
pub mod device_sim;
pub mod enroll;
pub mod eval;
pub mod features;
pub mod inspect;
pub mod keys;
pub mod quantise;
pub mod relatedness;
pub mod train;

use anyhow::{anyhow, Result};

/// Sizes rayon's global pool (0: one thread per core).
pub fn threads(n: usize) -> Result<()> {
    if n > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| anyhow!("thread pool: {e}"))?;
    }
    Ok(())
}
