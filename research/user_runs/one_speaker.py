#!/usr/bin/env python3
"""One speaker's own words, as a single user's device records them: for each of 8 speakers
(espeak-ng voice + variant pairs of the words set's *unseen* voice split, so the keyword model
never trained on them), 12 words the keyword vocabulary does not hold, 6 takes a word (speed
and pitch jittered per take, white noise at a seeded 20-30 dB SNR), written as 16-bit WAV at
espeak-ng's 22 050 Hz, with one manifest per speaker for `trainer features`.

    python3 one_speaker.py ../../data/cache/words/manifest.csv OUT
    for s in OUT/speaker-*; do
        trainer features --manifest $s/manifest.csv --out $s/own.csv.gz
        trainer eval --model kw.postcard --data $s/own.csv.gz --ways 3 --shots 3 --steps 0 \
            --query 3 --episodes 500 --unknown-queries 5 --unknown-score SCORE \
            --unknown-threshold T
    done

(`kw.postcard`: a copy of `models/keyword_int8.postcard` without its run record, so `--data`
takes the speaker's words as new classes.) Deterministic from SEED for one espeak-ng build.
"""
import csv
import math
import os
import random
import struct
import subprocess
import sys
import wave

WORDS = ["lights", "garage", "heater", "kettle", "curtain", "blender", "vacuum", "sprinkler",
         "doorbell", "oven", "radio", "camera"]
SPEAKERS = 8
TAKES = 6
SEED = 11


def unseen_speakers(manifest):
    """The (voice, variant) pairs of the words set's unseen voice split, sorted."""
    with open(manifest, newline="") as f:
        pairs = {(r["voice"], r["variant"]) for r in csv.DictReader(f)
                 if r["voice_split"] == "unseen"}
    return sorted(pairs)


def add_noise(path, snr_db, rng):
    with wave.open(path, "rb") as w:
        params = w.getparams()
        raw = w.readframes(w.getnframes())
    n = len(raw) // 2
    s = struct.unpack(f"<{n}h", raw)
    rms = math.sqrt(sum(v * v for v in s) / max(n, 1)) or 1.0
    sigma = rms / (10 ** (snr_db / 20))
    out = [max(-32768, min(32767, round(v + rng.gauss(0.0, sigma)))) for v in s]
    with wave.open(path, "wb") as w:
        w.setparams(params)
        w.writeframes(struct.pack(f"<{n}h", *out))


def main(manifest, out):
    pairs = unseen_speakers(manifest)
    step = max(1, len(pairs) // SPEAKERS)
    rng = random.Random(SEED)
    for k, (voice, variant) in enumerate(pairs[::step][:SPEAKERS]):
        folder = os.path.join(out, f"speaker-{k}")
        os.makedirs(os.path.join(folder, "clips"), exist_ok=True)
        rows = []
        for word in WORDS:
            for take in range(TAKES):
                speed = rng.randint(140, 190)
                pitch = rng.randint(40, 60)
                snr = rng.uniform(20.0, 30.0)
                name = f"clips/{word}-{take}.wav"
                path = os.path.join(folder, name)
                subprocess.run(["espeak-ng", "-v", f"{voice}+{variant}", "-s", str(speed),
                                "-p", str(pitch), "-w", path, word], check=True)
                add_noise(path, snr, rng)
                rows.append({"file": name, "word": word, "speaker": f"{voice}+{variant}",
                             "speed_wpm": speed, "pitch": pitch, "snr_db": f"{snr:.1f}"})
        with open(os.path.join(folder, "manifest.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(f"{folder}: {voice}+{variant}, {len(rows)} clips")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "one_speaker")
