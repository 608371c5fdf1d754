//! The power spectrum of a windowed frame: `microfft`'s real FFT, then `|X_k|^2`.
//!
//! `microfft` (no_std, f32) runs an `N`-point real FFT as an `N/2`-point complex FFT and a
//! recombination, with twiddles from a table of f32 constants in its source: IEEE additions
//! and multiplications only, no fused multiply-add (Rust never contracts `a * b + c`, and
//! neither x86_64 nor the Cortex-M4F build enables it), so the host and the device compute the
//! same bits. The table depends on the crate's largest size feature: the runtime pins
//! `size-1024` (real FFTs up to 2048 points), and nothing else in the build may enable another.
//!
//! ```
//! use fewshot_runtime::frontend::fft::power_spectrum;
//! // A cosine of 4 cycles in 64 samples: all its power in bin 4, (64 / 2)^2 = 1024.
//! let mut buf = [0.0f32; 64];
//! for (n, v) in buf.iter_mut().enumerate() {
//!     *v = (2.0 * core::f64::consts::PI * 4.0 * n as f64 / 64.0).cos() as f32;
//! }
//! power_spectrum::<64>(&mut buf).unwrap();
//! assert!((buf[4] - 1024.0).abs() < 1e-2);
//! assert!(buf[..=32].iter().enumerate().all(|(k, p)| k == 4 || *p < 1e-6));
//! ```

use super::spec::{MAX_FFT_SIZE, MIN_FFT_SIZE};
use crate::Error;
use core::cell::Cell;

/// Transforms `buf` (a power of two from [`MIN_FFT_SIZE`] to `FFT`, at most [`MAX_FFT_SIZE`],
/// samples) in place; after it, `buf[k]` for `k` in `0..=len/2` is the power `|X_k|^2` of bin
/// `k` (the rest of `buf` is scratch). Only the sizes up to `FFT` are compiled in (each size is
/// its own code: about 1 KB of Cortex-M flash).
pub fn power_spectrum<const FFT: usize>(buf: &mut [f32]) -> Result<(), Error> {
    rfft::<FFT>(buf)?;
    // `buf` holds the complex bins interleaved (re, im), the Nyquist bin's real part in bin 0's
    // imaginary slot. Power `k` goes to index `k`, whose value (bin k / 2) was read before.
    let n = buf.len();
    let (dc, nyquist) = (buf[0], buf[1]);
    // As cells, the buffer is read as pairs and written in place in one loop without bounds
    // checks: iteration k reads pair k (values 2k, 2k + 1, ahead of k) and writes value k.
    let cells = Cell::from_mut(&mut *buf).as_slice_of_cells();
    let pairs = cells.as_chunks::<2>().0.get(1..).unwrap_or_default();
    for (power, [re, im]) in cells.get(1..).unwrap_or_default().iter().zip(pairs) {
        let (re, im) = (re.get(), im.get());
        power.set(re * re + im * im);
    }
    buf[0] = dc * dc;
    buf[n / 2] = nyquist * nyquist;
    Ok(())
}

/// `microfft`'s real FFT of `buf`'s length (at most `FFT`), in place.
fn rfft<const FFT: usize>(buf: &mut [f32]) -> Result<(), Error> {
    macro_rules! sizes {
        ($($n:literal => $f:ident),*) => {
            match buf.len() {
                // `$n <= FFT` is a constant: the sizes above the capacity are not compiled in.
                $($n if $n <= FFT => {
                    let array: &mut [f32; $n] =
                        buf.try_into().map_err(|_| Error::internal("frontend::fft::rfft"))?;
                    let _ = microfft::real::$f(array);
                })*
                n => {
                    return Err(Error::FrontEndSetting {
                        field: "fft_size (a power of two)",
                        value: n as u32,
                        min: u32::from(MIN_FFT_SIZE),
                        max: u32::from(MAX_FFT_SIZE),
                    })
                }
            }
        };
    }
    sizes!(64 => rfft_64, 128 => rfft_128, 256 => rfft_256, 512 => rfft_512, 1024 => rfft_1024,
        2048 => rfft_2048);
    Ok(())
}
