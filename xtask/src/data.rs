//! `cargo xtask data words`: the spoken-words set, made by `fewshot-datasets` with espeak-ng
//! (installed from Debian when missing) into a git-ignored cache (`data/README.md`).

use anyhow::{bail, Context, Result};
use fewshot_datasets::words::{self, Params};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The default output folder, relative to the repository root (ignored by git).
pub const DEFAULT_OUT: &str = "data/cache/words";

/// The word list, relative to the repository root.
const WORD_LIST: &str = "data/words.txt";

const USAGE: &str = "usage: cargo xtask data words [--small] [--out DIR] [--words N] \
                     [--renditions R] [--seed S] [--jobs J]\n       \
                     cargo xtask data keyword [the same options]\n       cargo xtask data check\n       \
                     cargo xtask data keyword-clips [--words DIR]";

/// The voice splits `cargo xtask data keyword` writes features of (`<out>/<split>.csv.gz`).
const VOICE_SPLITS: [&str; 2] = ["seen", "unseen"];

/// Options of `cargo xtask data words`.
#[derive(Debug, PartialEq)]
struct Options {
    params: Params,
    out: PathBuf,
    jobs: usize,
}

/// `cargo xtask data words [options]`, `cargo xtask data check`.
pub fn command(root: &Path, args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("words") => words_set(root, &args[1..]).map(|_| ()),
        Some("keyword") => keyword_features(root, &args[1..]),
        Some("check") => small_check(root),
        Some("keyword-clips") => crate::keyword_clips::command(root, &args[1..]),
        _ => bail!("{USAGE}"),
    }
}

/// `cargo xtask data words --small` into a temporary folder, twice: the second run must be a
/// cache hit (`cargo xtask data check`, part of `cargo ci`).
pub fn small_check(root: &Path) -> Result<()> {
    let out = std::env::temp_dir().join(format!("fewshot-words-ci-{}", std::process::id()));
    let args: Vec<String> = ["--small", "--out", &out.to_string_lossy()]
        .map(str::to_string)
        .to_vec();
    let made = words_set(root, &args).and_then(|first| {
        let second = words_set(root, &args)?;
        if first == 0 || second != 0 {
            bail!("the small words set was made {first} then {second} times, not once");
        }
        Ok(())
    });
    std::fs::remove_dir_all(&out).ok();
    made
}

/// `cargo xtask data keyword`: the words set, then the log-mel features of its seen and
/// unseen voices (`trainer features --voice-split S`, the runtime's front-end) beside its
/// manifest, the data `trainer/configs/keyword.toml` trains on. A features file whose record
/// names the current manifest's SHA-256 is kept.
fn keyword_features(root: &Path, args: &[String]) -> Result<()> {
    words_set(root, args)?;
    let out = parse(root, args)?.out;
    let manifest = out.join("manifest.csv");
    let sha = words::sha256_hex(
        &std::fs::read(&manifest).with_context(|| manifest.display().to_string())?,
    );
    for split in VOICE_SPLITS {
        let csv = out.join(format!("{split}.csv.gz"));
        let record = out.join(format!("{split}.front_end.json"));
        let current = std::fs::read_to_string(&record).is_ok_and(|r| r.contains(&sha));
        if current && csv.exists() {
            println!("{}: features of this manifest, kept", csv.display());
            continue;
        }
        let (m, c) = (manifest.to_string_lossy(), csv.to_string_lossy());
        crate::run(
            root,
            "cargo",
            &[
                "run",
                "--release",
                "-q",
                "-p",
                "trainer",
                "--",
                "features",
                "--manifest",
                &m,
                "--voice-split",
                split,
                "--out",
                &c,
            ],
        )?;
    }
    Ok(())
}

/// Makes (or finds cached) the words set `args` describe; the number of clips synthesised.
fn words_set(root: &Path, args: &[String]) -> Result<usize> {
    let opts = parse(root, args)?;
    words::ensure_installed()?;
    let list = words::read_word_list(&root.join(WORD_LIST))?;
    let start = Instant::now();
    let step = (opts.params.renditions * opts.params.words.unwrap_or(list.len()) / 10).max(1);
    let progress = |done: usize, total: usize| {
        if done.is_multiple_of(step) || done == total {
            eprintln!("  {done}/{total} clips");
        }
    };
    let summary = words::generate(&list, &opts.params, &opts.out, opts.jobs, &progress)?;
    let c = &summary.info.counts;
    let action = if summary.synthesised == 0 {
        "cache hit: nothing to do".to_string()
    } else {
        format!("synthesised {} clips", summary.synthesised)
    };
    println!(
        "{}: {action} in {:.1} s with espeak-ng {}, {} jobs\n\
         {} clips ({} seen, {} unseen voices), {} words ({} train, {} novel), {} voices, \
         {} variants, {} cut to 1 s, noise {:?}, {:.1} MB",
        opts.out.display(),
        start.elapsed().as_secs_f64(),
        summary.info.espeak_ng,
        opts.jobs,
        c.clips,
        c.seen_clips,
        c.unseen_clips,
        c.words,
        c.train_words,
        c.novel_words,
        c.voices,
        c.variants,
        c.trimmed_clips,
        c.clips_per_noise,
        folder_bytes(&opts.out)? as f64 / 1e6,
    );
    Ok(summary.synthesised)
}

fn parse(root: &Path, args: &[String]) -> Result<Options> {
    let mut opts = Options {
        params: Params::default(),
        out: root.join(DEFAULT_OUT),
        jobs: std::thread::available_parallelism().map_or(2, usize::from),
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "--small" {
            let small = Params::small();
            opts.params.words = small.words;
            opts.params.renditions = small.renditions;
            continue;
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || -> Result<usize> {
            value
                .parse()
                .with_context(|| format!("{flag} {value}: not a number"))
        };
        match flag.as_str() {
            "--out" => opts.out = PathBuf::from(value),
            "--words" => opts.params.words = Some(number()?),
            "--renditions" => opts.params.renditions = number()?,
            "--seed" => opts.params.seed = number()? as u64,
            "--jobs" => opts.jobs = number()?.max(1),
            _ => bail!("unknown option {flag}\n{USAGE}"),
        }
    }
    Ok(opts)
}

/// Bytes of the files in `dir` and its sub-folders.
fn folder_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            folder_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn options() {
        let root = Path::new("/r");
        let o = parse(root, &args("--small --out /tmp/w --seed 3 --jobs 1")).unwrap();
        assert_eq!(o.out, Path::new("/tmp/w"));
        assert_eq!(o.jobs, 1);
        assert_eq!(
            o.params,
            Params {
                seed: 3,
                ..Params::small()
            }
        );
        let o = parse(root, &args("--words 5 --renditions 2")).unwrap();
        assert_eq!(o.out, Path::new("/r/data/cache/words"));
        assert_eq!((o.params.words, o.params.renditions), (Some(5), 2));
        assert!(parse(root, &args("--words")).is_err());
        assert!(parse(root, &args("--words x")).is_err());
        assert!(parse(root, &args("--bogus 1")).is_err());
    }
}
