#!/usr/bin/env python3
"""A user's own few words for a shipped keyword model: nine words the keyword vocabulary does
not hold, spoken by espeak-ng's 8 English voices at two speeds (16 clips a word, WAV at the
22 050 Hz espeak-ng writes), and the manifest `trainer features` reads.

    python3 own_words.py OUT            # OUT/clips/*.wav, OUT/manifest.csv
    trainer features --manifest OUT/manifest.csv --out OUT/own.csv.gz
    trainer eval --model models/keyword_int8.postcard --data OUT/own.csv.gz \
        --ways 5 --shots 1,3,5 --query 5 --episodes 500 --steps 0

("A model you did not train" in trainer/README.md.) Deterministic: espeak-ng's output for a
word, voice and speed does not vary between runs of the same espeak-ng.
"""
import csv
import os
import subprocess
import sys

WORDS = ["lights", "garage", "heater", "kettle", "curtain", "blender", "vacuum", "sprinkler",
         "doorbell"]
VOICES = ["en", "en-US", "en-GB-scotland", "en-GB-x-gbclan", "en-GB-x-rp", "en-GB-x-gbcwmd",
          "en-029", "en-US-nyc"]
SPEEDS = [140, 180]


def main(out):
    os.makedirs(os.path.join(out, "clips"), exist_ok=True)
    rows = []
    for word in WORDS:
        for voice in VOICES:
            for speed in SPEEDS:
                name = f"clips/{word}-{voice}-{speed}.wav"
                subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w",
                                os.path.join(out, name), word], check=True)
                rows.append({"file": name, "word": word, "voice": voice, "speed_wpm": speed})
    with open(os.path.join(out, "manifest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "word", "voice", "speed_wpm"])
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} clips of {len(WORDS)} words in {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "own_words")
