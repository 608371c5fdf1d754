//! The classification commands behind `trainer train --preset digits` (resumable, like every
//! training run) and `trainer eval --task digits`.

use super::config::ClsConfig;
use super::deploy::{evaluate, model_def, table, AccRow};
use super::episodes::{parse_file, Episode};
pub use super::train::Setup;
use super::train::{finish, train_from, ClsState, Trained};
use crate::export;
use crate::train::{train_checkpointed, RunFlags};
use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Fixed-seed episodes of the meta-test classes for one shot count.
pub fn test_episodes(
    setup: &Setup,
    ways: usize,
    shots: usize,
    query: usize,
    n: usize,
    seed: u64,
) -> Result<Vec<Episode>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(shots as u64);
    (0..n)
        .map(|_| setup.test.sample(&setup.ds, ways, shots, query, &mut rng))
        .collect()
}

/// Where the episodes of an evaluation come from.
pub enum EpisodeSpec<'a> {
    /// `n` seeded episodes per shot count, `query` per class.
    Sampled { n: usize, query: usize, seed: u64 },
    /// Exactly the episodes listed in a file (one shot count).
    File(&'a Path),
}

pub fn eval_rows(
    bytes: &[u8],
    setup: &Setup,
    ways: usize,
    shots: &[usize],
    steps: &[usize],
    spec: &EpisodeSpec<'_>,
) -> Result<Vec<AccRow>> {
    let mut rows = Vec::new();
    match spec {
        EpisodeSpec::Sampled { n, query, seed } => {
            for &k in shots {
                let eps = test_episodes(setup, ways, k, *query, *n, *seed)?;
                rows.extend(evaluate(bytes, &eps, steps)?);
            }
        }
        EpisodeSpec::File(path) => {
            let [k] = shots else {
                bail!("--episodes FILE takes one --shots value");
            };
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let fields = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .map_or(0, |l| l.split(',').count());
            if fields % ways != 0 || fields / ways <= *k {
                bail!(
                    "{}: first episode has {fields} rows: not {ways} x ({k} + queries)",
                    path.display()
                );
            }
            let q = fields / ways - k;
            let eps = parse_file(&text, &path.display().to_string(), &setup.ds, ways, *k, q)?;
            rows.extend(evaluate(bytes, &eps, steps)?);
        }
    }
    Ok(rows)
}

/// Train (or resume), export `out`, write `<out>.trained.json`, evaluate as deployed
/// (`<out>.eval.json`) and plot unless `flags.no_eval`. `flags`' configuration overrides must
/// already be in `cfg` (checked with the file's values, see [`crate::train::RunFlags::apply`]).
/// Returns None when the run was interrupted (its checkpoint written).
pub fn train_and_export(
    cfg: &ClsConfig,
    name: &str,
    out: &Path,
    flags: &RunFlags,
    stop: &AtomicBool,
) -> Result<Option<Trained>> {
    let setup = Setup::new(cfg)?;
    let t0 = std::time::Instant::now();
    let Some(st) = train_checkpointed(
        out,
        flags,
        stop,
        |ckpt| ClsState::resume(ckpt, cfg, &setup),
        || ClsState::new(cfg, &setup, true),
        |st, ckpts| train_from(st, &setup, ckpts, true),
    )?
    else {
        return Ok(None);
    };
    let trained = finish(&st, &setup)?;
    let secs = t0.elapsed().as_secs_f64();
    let def = model_def(name, &trained)?;
    let bytes = export::write(out, &def)?;
    eprintln!(
        "trained {} iterations in {secs:.1} s (best validation {:.2}% at iteration {}); device: scale {}, rate {}, {} steps; wrote {} ({bytes} bytes)",
        st.iter,
        100.0 * trained.best_val,
        trained.best_iter,
        trained.device.scale,
        trained.device.alpha,
        trained.device.steps,
        out.display()
    );
    std::fs::write(
        out.with_extension("trained.json"),
        serde_json::to_string(&trained)?,
    )?;
    if flags.no_eval {
        return Ok(Some(trained));
    }
    let blob = export::read(out)?;
    let rows = eval_rows(
        &blob,
        &setup,
        cfg.ways,
        &[1, 5],
        &[0, trained.device.steps],
        &EpisodeSpec::Sampled {
            n: 2000,
            query: 15,
            seed: crate::classify::EVAL_SEED,
        },
    )?;
    println!(
        "novel classes {:?}, {}-way, 15 queries per class, as deployed:",
        cfg.test_classes, cfg.ways
    );
    print!("{}", table(&rows));
    std::fs::write(
        out.with_extension("eval.json"),
        serde_json::to_string_pretty(&rows)?,
    )?;
    for p in super::plots::write_all(out, &trained, &blob, &setup)? {
        eprintln!("plot: {}", p.display());
    }
    Ok(Some(trained))
}
