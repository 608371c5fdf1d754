//! WAV bytes: espeak-ng's stream (sizes left unset) in, the data set's clips (RIFF PCM,
//! 16-bit, mono, 16 kHz, exactly one second) out and back, through `hound`.

use anyhow::{bail, ensure, Context, Result};
use std::io::Cursor;

/// The clips' sample rate (Hz).
pub const SAMPLE_RATE: u32 = 16_000;

/// Samples in a clip: one second.
pub const CLIP_SAMPLES: usize = SAMPLE_RATE as usize;

/// A clip's WAV file bytes (`samples` must be [`CLIP_SAMPLES`] long).
pub fn encode(samples: &[i16]) -> Result<Vec<u8>> {
    ensure!(
        samples.len() == CLIP_SAMPLES,
        "a clip has {CLIP_SAMPLES} samples, not {}",
        samples.len()
    );
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut bytes, spec)?;
    let mut samples_writer = writer.get_i16_writer(CLIP_SAMPLES as u32);
    for &s in samples {
        samples_writer.write_sample(s);
    }
    samples_writer.flush()?;
    writer.finalize()?;
    Ok(bytes.into_inner())
}

/// The samples of a clip's WAV file bytes; anything but 16-bit mono 16 kHz PCM of exactly
/// [`CLIP_SAMPLES`] samples is an error.
pub fn decode(bytes: &[u8]) -> Result<Vec<i16>> {
    let reader = hound::WavReader::new(Cursor::new(bytes))?;
    let spec = reader.spec();
    ensure!(
        spec.channels == 1
            && spec.sample_rate == SAMPLE_RATE
            && spec.bits_per_sample == 16
            && spec.sample_format == hound::SampleFormat::Int,
        "not 16-bit mono {SAMPLE_RATE} Hz PCM: {spec:?}"
    );
    let samples = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()?;
    ensure!(
        samples.len() == CLIP_SAMPLES,
        "{} samples, not {CLIP_SAMPLES}",
        samples.len()
    );
    Ok(samples)
}

/// The sample rate and samples of the WAV espeak-ng writes to its standard output: a RIFF
/// header whose sizes are placeholders, a 16-bit mono PCM `fmt ` chunk, then a `data` chunk
/// that runs to the end of the stream.
pub fn parse_stream(bytes: &[u8]) -> Result<(u32, Vec<i16>)> {
    ensure!(
        bytes.get(..4) == Some(b"RIFF") && bytes.get(8..12) == Some(b"WAVE"),
        "not a RIFF WAVE stream ({} bytes)",
        bytes.len()
    );
    let mut at = 12;
    let mut rate = None;
    while let Some(header) = bytes.get(at..at + 8) {
        let (id, size) = header.split_at(4);
        let size = u32::from_le_bytes(size.try_into()?) as usize;
        let body = bytes.get(at + 8..).context("truncated chunk")?;
        match id {
            b"fmt " => {
                let fmt = body.get(..16).context("truncated fmt chunk")?;
                let word = |i: usize| u16::from_le_bytes([fmt[i], fmt[i + 1]]);
                let (format, channels, bits) = (word(0), word(2), word(14));
                ensure!(
                    format == 1 && channels == 1 && bits == 16,
                    "not 16-bit mono PCM (format {format}, {channels} channels, {bits} bits)"
                );
                rate = Some(u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]));
            }
            b"data" => {
                let rate = rate.context("data before fmt")?;
                let data = body.get(..size.min(body.len())).unwrap_or(body);
                let samples = data
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                return Ok((rate, samples));
            }
            _ => {}
        }
        at = at + 8 + size + (size & 1);
    }
    bail!("no data chunk")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn espeak_like(samples: &[i16]) -> Vec<u8> {
        let mut b = b"RIFF\x24\xf0\xff\x7fWAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
        b.extend(22_050u32.to_le_bytes());
        b.extend(44_100u32.to_le_bytes());
        b.extend([2, 0, 16, 0]);
        b.extend(b"data\x00\xf0\xff\x7f");
        b.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
        b
    }

    #[test]
    fn stream_with_placeholder_sizes_reads_to_the_end() {
        let (rate, samples) = parse_stream(&espeak_like(&[1, -2, 300])).unwrap();
        assert_eq!((rate, samples), (22_050, vec![1, -2, 300]));
        assert!(parse_stream(b"RIFF").is_err());
        let mut stereo = espeak_like(&[0]);
        stereo[22] = 2;
        assert!(parse_stream(&stereo).is_err());
    }

    #[test]
    fn clips_round_trip_and_other_shapes_are_refused() {
        let samples: Vec<i16> = (0..CLIP_SAMPLES)
            .map(|i| (i as i16).wrapping_mul(7))
            .collect();
        let bytes = encode(&samples).unwrap();
        assert_eq!(bytes.len(), 44 + 2 * CLIP_SAMPLES);
        assert_eq!(decode(&bytes).unwrap(), samples);
        assert!(encode(&samples[1..]).is_err());
        assert!(decode(&espeak_like(&[0; 10])).is_err());
    }
}
