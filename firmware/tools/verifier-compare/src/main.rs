//! One candidate Ed25519 verifier (a cargo feature: `compact`, `salty`, `dalek`, or `none`
//! for the baseline) verifying the signed sinusoid fixture; logs instructions (exact under
//! QEMU `-icount shift=0`) and peak stack. `./measure.sh` runs all four and adds flash.
#![no_std]
// One `cfg` block per candidate, each ending in `return`.
#![allow(clippy::needless_return)]
#![no_main]
use core::hint::black_box;
use cortex_m_rt::entry;
use fewshot_firmware::{self as fw, measure};

/// The signed sinusoid fixture (envelope version 2): signed header fields (16 bytes),
/// signature (64), blob; the signature covers the header fields followed by the blob.
static SIGNED: &[u8] = include_bytes!("../../../fixtures/sinusoid.signed");
static PK: [u8; 32] = *include_bytes!("../../../fixtures/test-signing.pub");

#[inline(never)]
fn verify(msg: &[u8], pk: &[u8; 32], sig: &[u8; 64]) -> bool {
    #[cfg(feature = "compact")]
    {
        let Ok(pk) = ed25519_compact::PublicKey::from_slice(pk) else {
            return false;
        };
        let Ok(sig) = ed25519_compact::Signature::from_slice(sig) else {
            return false;
        };
        return pk.verify(msg, &sig).is_ok();
    }
    #[cfg(feature = "salty")]
    {
        let Ok(pk) = salty::PublicKey::try_from(pk) else {
            return false;
        };
        let sig = salty::Signature::from(sig);
        return pk.verify(msg, &sig).is_ok();
    }
    #[cfg(feature = "dalek")]
    {
        let Ok(pk) = ed25519_dalek::VerifyingKey::from_bytes(pk) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        return pk.verify_strict(msg, &sig).is_ok();
    }
    #[cfg(feature = "none")]
    {
        return !msg.is_empty() && pk[0] != sig[0];
    }
}

#[allow(non_snake_case)]
#[entry]
fn main() -> ! {
    fw::init("sigbench");
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::finish(1)
    };
    measure::start_systick(&mut p.SYST);
    let (Some(fields), Some(sig), Some(blob)) =
        (SIGNED.get(..16), SIGNED.get(16..80), SIGNED.get(80..))
    else {
        fw::finish(1)
    };
    let Ok(SIG) = <[u8; 64]>::try_from(sig) else {
        fw::finish(1)
    };
    // The signed message, contiguous for every candidate's one-shot `verify`.
    let mut buf = [0u8; 16 * 1024];
    let Some(msg) = buf.get_mut(..fields.len() + blob.len()) else {
        fw::finish(1)
    };
    let (head, tail) = msg.split_at_mut(fields.len());
    head.copy_from_slice(fields);
    tail.copy_from_slice(blob);
    let MSG = &*msg;
    let (ok, t) = measure::ticks(|| verify(black_box(MSG), black_box(&PK), black_box(&SIG)));
    let mut bad = SIG;
    bad[3] ^= 1;
    let (ok2, _) = measure::ticks(|| verify(black_box(MSG), black_box(&PK), black_box(&bad)));
    let (_, stack) =
        measure::peak_stack(|| verify(black_box(MSG), black_box(&PK), black_box(&SIG)));
    defmt::info!(
        "valid={=bool} tampered={=bool} instructions={=u32} stack={=u32}",
        ok,
        ok2,
        t * measure::INSTRUCTIONS_PER_TICK,
        stack
    );
    fw::exit(0)
}
