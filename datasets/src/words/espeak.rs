//! espeak-ng: installing it, its version, its English voices and variants, one synthesis.
//!
//! The voices come from espeak-ng itself (`--voices=en`, `--voices=variant`), never from a
//! list written here. MBROLA voices (files under `mb/`) are left out: they need the separate
//! MBROLA program and diphone databases, which espeak-ng does not ship.

use super::wav;
use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The program this module runs.
const PROGRAM: &str = "espeak-ng";

/// The name of "no variant" (the voice as it is) in the variant list and the manifest.
pub const NO_VARIANT: &str = "none";

/// Installs espeak-ng from Debian (`apt-get update`, `apt-get install -y espeak-ng`) when
/// `espeak-ng --version` fails.
pub fn ensure_installed() -> Result<()> {
    if version().is_ok() {
        return Ok(());
    }
    for args in [&["update"][..], &["install", "-y", "espeak-ng"]] {
        eprintln!("+ apt-get {}", args.join(" "));
        let start = Instant::now();
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("espeak-ng is missing and apt-get cannot start: install espeak-ng")?;
        eprintln!(
            "+ [{:.1} s] apt-get {}",
            start.elapsed().as_secs_f64(),
            args.join(" ")
        );
        if !status.success() {
            bail!("`apt-get {}` failed with {status}", args.join(" "));
        }
    }
    version().map(|_| ())
}

/// The version espeak-ng reports (`1.51` from `eSpeak NG text-to-speech: 1.51  Data at: ...`).
pub fn version() -> Result<String> {
    let text = run(&["--version"]).context("espeak-ng is not installed (`cargo xtask setup`)")?;
    let text = String::from_utf8_lossy(&text);
    parse_version(&text).with_context(|| format!("unexpected `espeak-ng --version`: {text}"))
}

fn parse_version(text: &str) -> Option<String> {
    let after = text.split_once(':')?.1.trim_start();
    let version = after.split_whitespace().next()?;
    Some(version.to_string())
}

/// The English voices and the voice variants espeak-ng ships, in its listing order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Voices {
    /// Voice identifiers for `-v` (the voice file's name: `en`, `en-US`, `en-GB-scotland`...).
    pub voices: Vec<String>,
    /// Variant identifiers for `-v VOICE+VARIANT` ([`NO_VARIANT`] first, then the files of
    /// the `!v` folder: `f3`, `klatt`, `Mr serious`...).
    pub variants: Vec<String>,
}

/// Lists the English voices (no MBROLA) and every variant.
pub fn voices() -> Result<Voices> {
    let english = String::from_utf8_lossy(&run(&["--voices=en"])?).into_owned();
    let variants = String::from_utf8_lossy(&run(&["--voices=variant"])?).into_owned();
    let mut voices = Voices {
        voices: Vec::new(),
        variants: vec![NO_VARIANT.to_string()],
    };
    for file in listed_files(&english) {
        if !file.starts_with("mb/") && !file.starts_with("!v/") {
            push_unique(&mut voices.voices, last_component(&file));
        }
    }
    for file in listed_files(&variants) {
        if let Some(name) = file.strip_prefix("!v/") {
            if name == NO_VARIANT {
                bail!("espeak-ng ships a variant named {NO_VARIANT:?}, the name of no variant");
            }
            push_unique(&mut voices.variants, name);
        }
    }
    if voices.voices.is_empty() || voices.variants.len() < 2 {
        bail!("espeak-ng lists no English voice or no variant:\n{english}\n{variants}");
    }
    Ok(voices)
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|x| x == item) {
        list.push(item.to_string());
    }
}

fn last_component(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}

/// The `File` column of a `--voices` listing: after the priority, language, age/gender and
/// name columns, up to the `(language priority)` groups. File names may hold a space
/// (`!v/Mr serious`), so the column is not split on whitespace.
fn listed_files(listing: &str) -> Vec<String> {
    listing
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut rest = line.trim_start();
            for _ in 0..4 {
                let end = rest.find(char::is_whitespace)?;
                rest = rest[end..].trim_start();
            }
            let file = rest.split(" (").next().unwrap_or(rest).trim_end();
            (!file.is_empty()).then(|| file.to_string())
        })
        .collect()
}

/// One word by `voice` with `variant` at `speed_wpm` words per minute and `pitch` (0-99):
/// the sample rate and the samples espeak-ng writes.
pub fn say(
    word: &str,
    voice: &str,
    variant: &str,
    speed_wpm: u32,
    pitch: u32,
) -> Result<(u32, Vec<i16>)> {
    let spec = if variant == NO_VARIANT {
        voice.to_string()
    } else {
        format!("{voice}+{variant}")
    };
    let (speed, pitch) = (speed_wpm.to_string(), pitch.to_string());
    let args = [
        "-v", &spec, "-s", &speed, "-p", &pitch, "--stdout", "--", word,
    ];
    let bytes = run(&args)?;
    wav::parse_stream(&bytes).with_context(|| format!("espeak-ng {}", args.join(" ")))
}

/// Runs espeak-ng; its standard output, or an error with its standard error.
fn run(args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new(PROGRAM)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {PROGRAM}"))?;
    if !out.status.success() {
        bail!(
            "`{PROGRAM} {}` failed with {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_columns_keep_spaces_and_drop_other_languages() {
        let listing = "Pty Language       Age/Gender VoiceName          File                 Other Languages\n \
             2  en-gb           --/M      English_(Great_Britain) gmw/en               (en 2)\n \
             5  variant         --/M      Mr_Serious         !v/Mr serious        \n \
             5  variant         --/M      Storm              !v/Storm             (en-us 5)\n";
        assert_eq!(
            listed_files(listing),
            ["gmw/en", "!v/Mr serious", "!v/Storm"]
        );
    }

    #[test]
    fn version_is_the_number_after_the_colon() {
        let text = "eSpeak NG text-to-speech: 1.51  Data at: /usr/lib/espeak-ng-data\n";
        assert_eq!(parse_version(text).as_deref(), Some("1.51"));
        assert_eq!(parse_version("nonsense"), None);
    }
}
