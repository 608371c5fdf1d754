//! Synthetic test clips: a linear chirp plus seeded white noise, as 16-bit PCM. The runtime's,
//! the trainer's and the firmware fixtures' tests use them (no recording needed, the same
//! samples everywhere: `libm`'s `sin` in f64 and a xorshift generator).
//!
//! ```
//! use fewshot_runtime::frontend::synth::Chirp;
//! let mut clip = [0i16; 160];
//! Chirp { from_hz: 300.0, to_hz: 3000.0, amplitude: 0.5, noise: 0.01, seed: 7 }.fill(&mut clip, 16_000);
//! assert!(clip.iter().any(|&s| s > 8000) && clip.iter().all(|&s| s.unsigned_abs() <= 16_712));
//! ```

/// A chirp from `from_hz` to `to_hz` over the clip, of `amplitude` (of full scale), plus
/// uniform noise of `noise` (of full scale) from `seed`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chirp {
    /// Frequency at the first sample, Hz.
    pub from_hz: f64,
    /// Frequency at the end of the clip, Hz.
    pub to_hz: f64,
    /// Peak of the tone, as a fraction of full scale.
    pub amplitude: f64,
    /// Peak of the noise, as a fraction of full scale.
    pub noise: f64,
    /// The noise's seed.
    pub seed: u32,
}

impl Chirp {
    /// Fills `clip` with the chirp sampled at `sample_rate`, saturated to 16 bits.
    pub fn fill(&self, clip: &mut [i16], sample_rate: u32) {
        let rate = f64::from(sample_rate);
        let seconds = clip.len() as f64 / rate;
        let sweep = (self.to_hz - self.from_hz) / seconds.max(1e-9);
        let mut state = self.seed | 1;
        for (n, s) in clip.iter_mut().enumerate() {
            let t = n as f64 / rate;
            let phase = 2.0 * core::f64::consts::PI * (self.from_hz * t + 0.5 * sweep * t * t);
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let uniform = f64::from(state) / f64::from(u32::MAX) * 2.0 - 1.0;
            let v = self.amplitude * libm::sin(phase) + self.noise * uniform;
            *s = (v * 32768.0).clamp(-32768.0, 32767.0) as i16;
        }
    }
}
