"""Synthetic 3-axis accelerometer gestures in raw units (m/s^2, gravity on z), 12 classes of
30 rows, 32 samples per axis, with per-row gain, time shift, speed and noise: a data set the
classification trainer was never tuned on. Writes gestures.csv and gestures.toml here.

    python3 gestures.py
    cargo run --release -p trainer -- train --config research/user_runs/gestures.toml \
        --out /tmp/gestures.postcard
"""
import math
import random

random.seed(7)
C, N, L = 12, 30, 32
protos = []
for c in range(C):
    ch = []
    for k in range(3):
        f = random.uniform(0.5, 3.0)
        ph = random.uniform(0, 6.28)
        a = random.uniform(1, 4)
        centre = random.uniform(0.2, 0.8)
        width = random.uniform(0.1, 0.3)
        ch.append((f, ph, a, centre, width))
    protos.append(ch)
header = [f"{axis}{t}" for axis in ("ax", "ay", "az") for t in range(L)] + ["label"]
lines = [",".join(header)]
for c in range(C):
    for n in range(N):
        gain = random.uniform(0.6, 1.6)
        shift = random.uniform(-0.08, 0.08)
        speed = random.uniform(0.85, 1.15)
        row = []
        for k, (f, ph, a, centre, width) in enumerate(protos[c]):
            off = 9.81 if k == 2 else 0.0
            for t in range(L):
                u = (t / (L - 1) - 0.5) * speed + 0.5 + shift
                env = math.exp(-(((u - centre) / width) ** 2))
                v = off + gain * a * env * math.sin(2 * math.pi * f * u + ph)
                v += random.gauss(0, 0.4)
                row.append(f"{v:.3f}")
        lines.append(",".join(row + [str(c)]))
with open("gestures.csv", "w") as out:
    out.write("\n".join(lines) + "\n")
with open("gestures.toml", "w") as out:
    out.write(
        'task = "classification"\n'
        'data = "gestures.csv"\n'
        "train_classes = [0, 1, 2, 3, 4, 5, 6, 7]\n"
        "test_classes = [8, 9, 10, 11]\n"
        "ways = 4\n\n"
        "[input]\n"
        'kind = "series"\n'
        "channels = 3\n"
        "length = 32\n"
    )
print(len(lines) - 1, "rows: gestures.csv, gestures.toml")
