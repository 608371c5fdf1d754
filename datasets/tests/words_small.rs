//! The small words set made with the real espeak-ng (installed from Debian when missing): the
//! same seed gives the same bytes, a complete cache is not redone, a damaged one is, and the
//! files are what the manifest says.

use fewshot_datasets::words::{
    ensure_installed, generate, read_word_list, Manifest, Params, Summary, VoiceSplit, WordSplit,
    CLIP_SAMPLES, MANIFEST_CSV, MANIFEST_JSON,
};
use std::path::Path;

fn words() -> Vec<String> {
    read_word_list(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/words.txt")).unwrap()
}

fn make(out: &Path, params: &Params) -> Summary {
    generate(&words(), params, out, 2, &|_, _| {}).unwrap()
}

#[test]
fn the_small_set_is_deterministic_cached_and_well_formed() {
    ensure_installed().unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let params = Params::small();
    let first = make(a.path(), &params);
    assert_eq!(first.synthesised, 24);
    assert_eq!(make(b.path(), &params).synthesised, 24);
    for file in [MANIFEST_CSV, MANIFEST_JSON] {
        let (x, y) = (a.path().join(file), b.path().join(file));
        assert_eq!(
            std::fs::read(x).unwrap(),
            std::fs::read(y).unwrap(),
            "{file}"
        );
    }

    let set = Manifest::read(a.path()).unwrap();
    assert_eq!(set.records.len(), 24);
    assert_eq!(set.info, first.info);
    assert_eq!(set.info.counts.clips, 24);
    let header = std::fs::read_to_string(a.path().join(MANIFEST_CSV)).unwrap();
    assert!(header.starts_with(
        "file,word,word_split,voice,variant,voice_split,speed_wpm,pitch,noise,snr_db,seed,sha256\n"
    ));
    assert!(set.records.iter().any(|r| r.word_split == WordSplit::Novel));
    assert!(set.records.iter().any(|r| r.word_split == WordSplit::Train));
    assert!(set.info.voices.len() >= 2 && set.info.variants.len() >= 10);
    assert!(set
        .info
        .voices
        .iter()
        .any(|v| v.split == VoiceSplit::Unseen));
    for record in &set.records {
        let samples = set.load(record).unwrap();
        assert_eq!(samples.len(), CLIP_SAMPLES);
        let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!(peak > 3_000, "{} is nearly silent", record.file);
    }
    let distinct: std::collections::HashSet<&str> =
        set.records.iter().map(|r| r.sha256.as_str()).collect();
    assert_eq!(distinct.len(), 24);

    // A complete cache is kept; a damaged file makes the set again, to the same bytes.
    assert_eq!(make(a.path(), &params).synthesised, 0);
    let victim = set.path(&set.records[5]);
    std::fs::write(&victim, b"RIFF").unwrap();
    assert!(set.verify().is_err());
    assert_eq!(make(a.path(), &params).synthesised, 24);
    set.verify().unwrap();

    // Another seed is another set, and the clips of the old one do not linger.
    let other = Params {
        seed: params.seed + 1,
        ..params
    };
    make(a.path(), &other);
    let reseeded = Manifest::read(a.path()).unwrap();
    assert_ne!(reseeded.records, set.records);
    let on_disk = std::fs::read_dir(a.path().join("clips")).unwrap().count();
    assert_eq!(on_disk, 24);
}
