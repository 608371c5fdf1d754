//! The analysis window: a periodic Hann window of the frame's length,
//! `w[n] = 0.5 - 0.5 cos(2 pi n / frame_len)`.
//!
//! Computed once, when the front-end is built, in f64 with `libm`'s `cos` (a port of musl's:
//! IEEE additions, multiplications and divisions only, so x86_64 and the Cortex-M, whose f64 is
//! the compiler's IEEE software float, get the same bits), then rounded to f32. micromath's
//! `cos` (a parabola, error up to 2e-3) would raise the window's side lobes.
//!
//! ```
//! let mut w = [0.0f32; 4];
//! fewshot_runtime::frontend::window::hann(&mut w);
//! assert_eq!(w, [0.0, 0.5, 1.0, 0.5]);
//! ```

/// Fills `window` with the periodic Hann window of its length.
pub fn hann(window: &mut [f32]) {
    let n = window.len() as f64;
    for (i, w) in window.iter_mut().enumerate() {
        let phase = 2.0 * core::f64::consts::PI * i as f64 / n;
        *w = (0.5 - 0.5 * libm::cos(phase)) as f32;
    }
}
