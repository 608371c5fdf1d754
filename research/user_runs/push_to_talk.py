#!/usr/bin/env python3
"""Push-to-talk recordings, as a user's device would make them: every clip of the words set's
novel words (`cargo xtask data words`), put at a seeded random offset in 2.5 s of a -61 dBFS
Gaussian noise floor, 16 kHz 16-bit mono WAV, and the manifest `trainer features` reads; for
the `--window centred` / `--window first` comparison in trainer/README.md ("Audio: features of
WAV clips").

    python3 push_to_talk.py ../../data/cache/words OUT
    trainer features --manifest OUT/manifest.csv --out OUT/centred.csv.gz
    trainer features --manifest OUT/manifest.csv --window first --out OUT/first.csv.gz
    trainer eval --model models/keyword_int8.postcard --data OUT/centred.csv.gz \
        --ways 5 --shots 1,5 --query 5 --episodes 500 --steps 0
"""
import csv
import math
import os
import random
import struct
import sys
import wave

RATE = 16_000
LENGTH = int(2.5 * RATE)
FLOOR_DBFS = -61.0
SEED = 7


def read_pcm(path):
    with wave.open(path, "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            sys.exit(f"{path}: not 16 kHz 16-bit mono")
        data = w.readframes(w.getnframes())
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def main(words_dir, out):
    rng = random.Random(SEED)
    sigma = 32768.0 * 10 ** (FLOOR_DBFS / 20)
    os.makedirs(os.path.join(out, "clips"), exist_ok=True)
    rows = []
    with open(os.path.join(words_dir, "manifest.csv"), newline="") as f:
        for rec in csv.DictReader(f):
            if rec["word_split"] != "novel":
                continue
            pcm = read_pcm(os.path.join(words_dir, rec["file"]))
            at = rng.randrange(LENGTH - len(pcm) + 1)
            mix = [rng.gauss(0.0, sigma) for _ in range(LENGTH)]
            for i, v in enumerate(pcm):
                mix[at + i] += v
            samples = [max(-32768, min(32767, int(round(v)))) for v in mix]
            name = "clips/" + os.path.basename(rec["file"])
            with wave.open(os.path.join(out, name), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(RATE)
                w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
            rows.append({"file": name, "word": rec["word"]})
    with open(os.path.join(out, "manifest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "word"])
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} clips of 2.5 s in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: push_to_talk.py WORDS_DIR OUT")
    main(sys.argv[1], sys.argv[2])
