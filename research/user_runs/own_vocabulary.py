#!/usr/bin/env python3
"""A keyword model trained on a user's own vocabulary, from the README's audio section alone:
42 words the words set does not hold, espeak-ng's 8 English voices at 2 speeds and 2 pitches
(32 clips a word, WAV at the 22 050 Hz espeak-ng writes), an 8 kHz front-end of 13 MFCCs
(another rate, frame and band count than the shipped keyword model's), and a small DS-CNN
configuration naming the words.

    python3 own_vocabulary.py OUT        # OUT/clips, OUT/manifest.csv, OUT/fe.toml, OUT/kw.toml
    cd OUT
    trainer features --manifest manifest.csv --front-end fe.toml --out words.csv.gz
    trainer train --config kw.toml --out kw.postcard
    trainer quantise --model kw.postcard --export kw_int8.postcard
    trainer eval --model kw_int8.postcard --ways 3 --shots 3,5 --steps 0 --episodes 500 \
        --unknown-queries 10 --unknown-score distance      # or relative

Deterministic: espeak-ng's output for a word, voice, speed and pitch does not vary between
runs of the same espeak-ng.
"""
import csv
import os
import subprocess
import sys

WORDS = ["banana", "cherry", "grape", "mango", "melon", "peach", "pear", "plum", "berry",
         "bedroom", "hallway", "garage", "basement", "attic", "curtain", "lantern", "kettle",
         "toaster", "blender", "fridge", "oven", "heater", "cooler", "speaker", "printer",
         "camera", "tablet", "laptop", "router", "charger", "battery", "doorbell", "lights",
         "fan", "pump", "valve", "motor", "sensor", "switch", "lever", "pedal", "brake"]
VOICES = ["en", "en-US", "en-GB-scotland", "en-GB-x-gbclan", "en-GB-x-rp", "en-GB-x-gbcwmd",
          "en-029", "en-US-nyc"]
FRONT_END = """sample_rate = 8000
frame_len = 256
hop = 160
fft_size = 256
mel_bins = 26
f_min = 20.0
f_max = 4000.0
dct_coeffs = 13
"""
TRUNK = """
[[trunk]]
kind = "conv2d"
channels = 16
kernel = 3
stride = 2
padding = 1

[[trunk]]
kind = "depthwise_conv2d"
kernel = 3
stride = 2
padding = 1

[[trunk]]
kind = "conv2d"
channels = 32
kernel = 1

[[trunk]]
kind = "flatten"

[[trunk]]
kind = "dense"
units = 64
"""


def quoted(words):
    return "[" + ", ".join(f'"{w}"' for w in words) + "]"


def main(out):
    os.makedirs(os.path.join(out, "clips"), exist_ok=True)
    rows = []
    for word in WORDS:
        for voice in VOICES:
            for speed in (130, 175):
                for pitch in (35, 65):
                    name = f"clips/{word}-{voice}-{speed}-{pitch}.wav"
                    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p",
                                    str(pitch), "-w", os.path.join(out, name), word],
                                   check=True)
                    rows.append({"file": name, "word": word})
    with open(os.path.join(out, "manifest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "word"])
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(out, "fe.toml"), "w") as f:
        f.write(FRONT_END)
    train, test = WORDS[:34], WORDS[34:]
    with open(os.path.join(out, "kw.toml"), "w") as f:
        f.write(f"""task = "classification"
data = "words.csv.gz"
train_classes = {quoted(train)}
val_classes = {quoted(train[2::5])}
test_classes = {quoted(test)}
iterations = 1500
shots = [1, 3]
query = 5
unknown_queries = 10

[input]
kind = "image"
width = 13
height = 49

[front_end]
{FRONT_END}{TRUNK}""")
    print(f"{len(rows)} clips of {len(WORDS)} words in {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "own_vocabulary")
