"""Synthetic two-channel hand images in raw units: a 12 x 10 thermal plane (degrees C, ambient
19-27) and a 12 x 10 distance plane (mm, 300-600), 14 named gestures of 30 rows, each made of
2-4 warm or near blobs, jittered per row: an image data set of several channels the
classification trainer was never tuned on. Writes hands.csv beside this script (channel-major,
each plane row-major, the label column `gesture`); hands.toml trains a conv2d trunk on it.

    python3 research/user_runs/hands.py
    cargo run --release -p trainer -- train --config research/user_runs/hands.toml \
        --out /tmp/hands.postcard
"""
import math
import os
import random

random.seed(3)
H, W = 12, 10
names = ["wave", "fist", "palm", "point", "pinch", "thumbs up", "swipe-l", "swipe-r",
         "circle", "cross", "v sign", "ok", "rock", "call"]
# Each gesture: blobs (row, column, spread, amplitude, channel).
protos = []
for _ in names:
    protos.append([(random.uniform(1, H - 2), random.uniform(1, W - 2), random.uniform(1.0, 2.5),
                    random.uniform(3, 10), random.randint(0, 1))
                   for _ in range(random.randint(2, 4))])
header = [f"c{ch}_r{r}_c{k}" for ch in range(2) for r in range(H) for k in range(W)]
lines = [",".join(header + ["gesture"])]
for ci, name in enumerate(names):
    for _ in range(30):
        dy, dx = random.gauss(0, 0.8), random.gauss(0, 0.8)
        ambient, dist0 = random.uniform(19, 27), random.uniform(300, 600)
        vals = []
        for ch in range(2):
            for r in range(H):
                for k in range(W):
                    v = sum(a * math.exp(-((r - by - dy) ** 2 + (k - bx - dx) ** 2) / (2 * s * s))
                            for (by, bx, s, a, bc) in protos[ci] if bc == ch)
                    if ch == 0:
                        v = ambient + v + random.gauss(0, 0.4)
                    else:
                        v = dist0 - 25 * v + random.gauss(0, 6)
                    vals.append(f"{v:.2f}")
        lines.append(",".join(vals + [f'"{name}"' if " " in name else name]))
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hands.csv")
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
