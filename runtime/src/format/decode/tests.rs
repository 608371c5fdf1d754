//! The hand-written decoder against postcard's own on the repository's models and their
//! mutations: both refuse, or both decode the same value and leave the same bytes.

use super::{take, Decode};
use crate::format::enrollable::ExtensionV3;
use crate::format::spec::*;
use heapless::Vec as HVec;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Every model blob of the repository (trained exports and the firmware's fixtures).
fn blobs() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for dir in ["models", "firmware/fixtures"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let ext = path.extension().and_then(|e| e.to_str());
            if matches!(ext, Some("postcard" | "fsm")) {
                found.push(std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

/// Decodes a `T` from `bytes` both ways; panics unless they agree. True when both decoded.
fn same<'a, T>(bytes: &'a [u8]) -> bool
where
    T: Decode<'a> + Deserialize<'a> + Serialize + std::fmt::Debug,
{
    match (take::<T>(bytes), postcard::take_from_bytes::<T>(bytes)) {
        (Ok((mine, rest)), Ok((theirs, their_rest))) => {
            assert_eq!(rest.len(), their_rest.len(), "{mine:?} / {theirs:?}");
            let encoded = |v: &T| postcard::to_stdvec(v).unwrap();
            assert_eq!(encoded(&mine), encoded(&theirs), "{mine:?} / {theirs:?}");
            true
        }
        (Err(_), Err(_)) => false,
        (mine, theirs) => panic!("{:?} decoded {mine:?}, postcard {theirs:?}", bytes),
    }
}

/// Every section type and every part of one, from the front of `bytes`: how many decoded.
fn all_types(bytes: &[u8]) -> usize {
    [
        same::<Header>(bytes),
        same::<Extension>(bytes),
        same::<ExtensionV3>(bytes),
        same::<HVec<StemLayer, MAX_STEM_LAYERS>>(bytes),
        same::<Option<WarpSet>>(bytes),
        same::<Option<crate::frontend::FrontEndSpec>>(bytes),
        same::<HeadSpec>(bytes),
        same::<AdaptSpec>(bytes),
        same::<LayerSpec>(bytes),
        same::<StemLayer>(bytes),
        same::<&str>(bytes),
    ]
    .iter()
    .filter(|&&ok| ok)
    .count()
}

#[test]
fn agrees_with_postcard_at_every_offset_of_every_model() {
    let blobs = blobs();
    assert!(blobs.len() >= 20, "{} model blobs", blobs.len());
    let mut decoded = 0;
    for blob in &blobs {
        // Format v3 and later: the header follows magic, version and capabilities.
        assert!(same::<Header>(&blob[10..]), "a model's own header");
        let end = blob.len().min(600);
        for start in 6..end {
            decoded += all_types(&blob[start..end]);
        }
    }
    assert!(decoded > 10_000, "{decoded} values decoded");
}

#[test]
fn agrees_with_postcard_on_mutated_headers() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut decoded, mut changed) = (0, 0);
    for blob in blobs() {
        let original = blob[10..blob.len().min(400)].to_vec();
        for _ in 0..300 {
            let mut bytes = original.clone();
            for _ in 0..1 + next() % 3 {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = match next() % 4 {
                    0 => 0x80,
                    1 => 0xFF,
                    2 => bytes[at] ^ (1 << (next() % 8)),
                    _ => next() as u8,
                };
            }
            bytes.truncate(bytes.len() - (next() % 8) as usize);
            if take::<Header>(&bytes).ok().map(|(h, _)| h)
                != take::<Header>(&original).ok().map(|(h, _)| h)
            {
                changed += 1;
            }
            decoded += all_types(&bytes);
        }
    }
    assert!(
        decoded > 1_000 && changed > 1_000,
        "{decoded} decoded, {changed} changed"
    );
}

#[test]
fn varints_follow_postcards_limits() {
    // u16: at most three bytes, the third at most 3; u32: five, the fifth at most 15.
    for (bytes, ok) in [
        (&[0xFF, 0xFF, 0x03][..], true),
        (&[0xFF, 0xFF, 0x04][..], false),
        (&[0x80, 0x80, 0x00][..], true),
        (&[0x80, 0x80, 0x80, 0x00][..], false),
        (&[0x80][..], false),
    ] {
        assert_eq!(same::<u16>(bytes), ok, "{bytes:?}");
    }
    for (bytes, ok) in [
        (&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F][..], true),
        (&[0xFF, 0xFF, 0xFF, 0xFF, 0x10][..], false),
        (&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00][..], false),
    ] {
        assert_eq!(same::<u32>(bytes), ok, "{bytes:?}");
    }
    assert!(!same::<bool>(&[2]) && !same::<Option<u8>>(&[2, 0]) && !same::<&str>(&[1, 0xFF]));
}
