//! The signed-model fixtures of the firmware's signature test (`firmware/tests/signature.rs`):
//! `firmware/fixtures/sinusoid.signed`, the trainer's sinusoid model (`models/sinusoid.postcard`,
//! which the firmware embeds) in a signed envelope, and
//! `firmware/fixtures/test-signing.pub`, the public key the firmware compiles in; and the
//! update test's (`firmware/tests/update_reset.rs`) `update-v1.signed` and `update-v2.signed`,
//! an update of the multi-head fixture model (the same network, another name and id, so a
//! device shows which one it runs) signed as model versions 1 and 2.
//!
//! The key comes from a fixed seed written in this file: a **test key, not a secret**. Real
//! firmware compiles in the owner's public key (`trainer keygen`) and gets models signed with
//! the matching secret key (`trainer sign`).
//!
//! Fails when the committed files are stale; `cargo xtask fixtures` rewrites them (after
//! `firmware_fixtures`).

use runtime::format::AlignedBytes;
use runtime::signature::SigningKey;
use runtime::writer::ModelDef;
use runtime::Model;
use std::path::PathBuf;

/// The model version the fixture is signed with.
pub const FIXTURE_VERSION: u32 = 1;

/// The test key's seed (public on purpose).
pub const TEST_SEED: [u8; 32] = *b"fewshot firmware TEST key 000001";

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|p| p.join("firmware").join("fixtures"))
        .expect("repository root")
}

/// The multi-head fixture as an update: renamed, another id.
fn update_model(dir: &std::path::Path) -> Vec<u8> {
    let bytes = std::fs::read(dir.join("multihead.fsm")).expect("the multi-head fixture");
    let blob = AlignedBytes::from_slice(&bytes);
    let model = Model::from_bytes(blob.as_bytes()).expect("the multi-head fixture loads");
    let mut def = ModelDef::from_model(&model)
        .expect("copies")
        .with_id(0x3417_0002);
    def.name = "multihead-update".into();
    def.to_bytes().expect("the update model encodes")
}

#[test]
fn signed_fixtures_are_current() {
    let dir = fixtures_dir();
    let model = dir.join("../../models/sinusoid.postcard");
    let blob = std::fs::read(&model).expect("models/sinusoid.postcard (the trainer's export)");
    let multihead = update_model(&dir);
    let key = SigningKey::from_seed(TEST_SEED);
    let files = [
        (
            "sinusoid.signed",
            key.sign(&blob, FIXTURE_VERSION).expect("the fixture signs"),
        ),
        ("test-signing.pub", key.public_key().as_bytes().to_vec()),
        (
            "update-v1.signed",
            key.sign(&multihead, 1).expect("the fixture signs"),
        ),
        (
            "update-v2.signed",
            key.sign(&multihead, 2).expect("the fixture signs"),
        ),
    ];
    let bless = std::env::var_os("FEWSHOT_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, bytes) in &files {
        let path = dir.join(name);
        if bless {
            std::fs::write(&path, bytes).expect("write fixture");
            eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
        } else if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
            stale.push(*name);
        }
    }
    assert!(
        stale.is_empty(),
        "signed fixtures are stale or missing: {stale:?}; regenerate with `cargo xtask fixtures`"
    );
}
