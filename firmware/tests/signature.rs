//! Signed models on the target: the sinusoid fixture in a signed envelope
//! (`fixtures/sinusoid.signed`) loads only with the public key compiled in
//! (`fixtures/test-signing.pub`, a test key); tampered bytes, another key, a
//! truncated signature and a bare (unsigned) blob are refused. Logs the verify
//! cost in instructions (exact under QEMU `-icount shift=0`).
#![no_std]
#![no_main]

use fewshot_firmware::entry;
use fewshot_firmware::fixtures::SINUSOID;
use fewshot_firmware::{self as fw, measure, Checks};
use fewshot_runtime::signature::{PublicKey, ENVELOPE_HEADER_LEN};
use fewshot_runtime::{Error, Model};

static SIGNED: &[u8] = fewshot_runtime::include_model!("../fixtures/sinusoid.signed");
/// The key a firmware trusts: compiled in.
static KEY: PublicKey = PublicKey::from_bytes(*include_bytes!("../fixtures/test-signing.pub"));

/// A RAM copy of the envelope, 4-byte aligned, to tamper with.
#[repr(C, align(4))]
struct Buf([u8; 16384]);

fn refused_as(bytes: &[u8], key: &PublicKey, want: fn(&Error) -> bool) -> bool {
    match Model::from_signed_bytes(bytes, key) {
        Ok(_) => false,
        Err(e) => want(&e),
    }
}

#[entry]
fn main() -> ! {
    fw::init("signature");
    let mut c = Checks::new();
    measure::start();

    let (loaded, insns) = measure::instructions(|| Model::from_signed_bytes(SIGNED, &KEY));
    let same = match (&loaded, Model::from_bytes(SINUSOID)) {
        (Ok(signed), Ok(plain)) => signed.crc() == plain.crc(),
        _ => false,
    };
    c.check(
        same,
        "the signed sinusoid model loads with the compiled-in key",
    );
    defmt::info!(
        "verify + load of a {=usize}-byte envelope: {=u32} instructions",
        SIGNED.len(),
        insns
    );

    let n = SIGNED.len();
    let mut buf = Buf([0; 16384]);
    if n > buf.0.len() {
        c.check(false, "the envelope fits the test buffer");
        c.finish()
    }
    buf.0[..n].copy_from_slice(SIGNED);
    // One bit flipped in the signature, the blob's header, its weights, its CRC.
    let mut tampered = true;
    for at in [
        12,
        75,
        ENVELOPE_HEADER_LEN + 8,
        ENVELOPE_HEADER_LEN + 1000,
        n - 1,
    ] {
        buf.0[at] ^= 0x04;
        tampered &= refused_as(&buf.0[..n], &KEY, |e| *e == Error::BadSignature);
        buf.0[at] ^= 0x04;
    }
    c.check(tampered, "tampered bytes are refused (BadSignature)");
    buf.0[9] ^= 0x01; // the length field
    c.check(
        refused_as(&buf.0[..n], &KEY, |e| {
            matches!(e, Error::BadEnvelope { .. })
        }),
        "a changed envelope header is refused",
    );
    buf.0[9] ^= 0x01;
    c.check(
        Model::from_signed_bytes(&buf.0[..n], &KEY).is_ok(),
        "the restored copy loads again",
    );

    let mut other = *KEY.as_bytes();
    other[0] ^= 0x01;
    c.check(
        refused_as(SIGNED, &PublicKey::from_bytes(other), |e| {
            *e == Error::BadSignature
        }),
        "another key is refused",
    );
    c.check(
        refused_as(&SIGNED[..40], &KEY, |e| {
            matches!(e, Error::BadEnvelope { .. })
        }),
        "a truncated signature is refused",
    );
    c.check(
        refused_as(&SIGNED[..n - 4], &KEY, |e| {
            matches!(e, Error::BadEnvelope { .. })
        }),
        "a truncated blob is refused",
    );
    c.check(
        refused_as(SINUSOID, &KEY, |e| *e == Error::Unsigned),
        "an unsigned blob is refused",
    );
    c.finish()
}
