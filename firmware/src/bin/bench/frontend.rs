//! The audio front-end's rows of the benchmark: instructions per feature frame (one hop of
//! 320 samples pushed, one frame computed: window, 512-point real FFT, power, 40 mel bands, log,
//! and the DCT to 10 MFCCs), per 1 s clip (49 frames), and to build the front-end (its window,
//! mel weights and DCT cosines, in the Cortex-M4F's software f64); then its RAM.

use core::hint::black_box;
use fewshot_firmware::fixtures::frontend::{clip, LOGMEL, MFCC};
use fewshot_firmware::measure::instructions_x100;
use fewshot_runtime::frontend::{FrontEnd, FrontEndSpec};

use super::row;

/// The rows of one spec (`RING`: its second of features).
fn spec_rows<const RING: usize>(name: &str, spec: &FrontEndSpec, clip: &[i16]) {
    let build = instructions_x100(1, || {
        black_box(FrontEnd::<512, 40, RING>::new(black_box(spec)).is_ok());
    });
    let Ok(mut fe) = FrontEnd::<512, 40, RING>::new(spec) else {
        defmt::error!("front-end {=str} does not build", name);
        return;
    };
    // Primed: from now on each hop of 320 samples completes exactly one frame.
    black_box(fe.push(clip.get(..480).unwrap_or(&[])).is_ok());
    let mut at = 480;
    let frame = instructions_x100(20, || {
        let hop = clip.get(at..at + 320).unwrap_or(&[]);
        black_box(fe.push(black_box(hop)).is_ok());
        at += 320;
    });
    let second = instructions_x100(2, || {
        fe.reset();
        for hop in clip.chunks(320) {
            black_box(fe.push(black_box(hop)).is_ok());
        }
    });
    defmt::info!("front-end {=str}: 49 frames a second", name);
    row("front-end frame (320-sample hop)", frame, "frame", 1);
    row("front-end 1 s clip, 49 frames", second, "frame", 49);
    row(
        "front-end build (window, mel weights, DCT)",
        build,
        "FFT point",
        512,
    );
    defmt::info!(
        "front-end {=str} RAM: {=usize} bytes (FrontEnd<512, 40, {=usize}>: its ring of 1 s is {=usize} bytes)",
        name,
        core::mem::size_of::<FrontEnd<512, 40, RING>>(),
        RING,
        4 * RING
    );
}

pub fn rows() {
    let clip = clip(0);
    defmt::info!("| front-end operation | instructions | per unit |");
    defmt::info!("|---|---:|---:|");
    spec_rows::<LOGMEL>(
        "log-mel (16 kHz, 480/320, FFT 512, 40 bands)",
        &FrontEndSpec::KEYWORD,
        clip,
    );
    let mfcc = FrontEndSpec {
        dct_coeffs: 10,
        ..FrontEndSpec::KEYWORD
    };
    spec_rows::<MFCC>("MFCC (the same, DCT to 10)", &mfcc, clip);
}
