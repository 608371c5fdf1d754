"""Synthetic 28 x 28 images for a convolution trunk on images larger than the presets' (the
"Your model" rows of firmware/README.md and the int8 note of trainer/README.md): 12 classes, 30
images each, a short stroke at the class's orientation (15 degrees apart) placed anywhere in
the middle of the image, on pixel noise, in raw 0-255 units. Nearest centroid on the pixels is
near chance (the classes differ by orientation, not place); a trunk that pools over the image
is not.

    python3 strokes28.py          # writes strokes28.csv here
    cargo run --release -p trainer -- train --config research/user_runs/strokes28.toml --out /tmp/s28.postcard
    cargo xtask bench-firmware --model /tmp/s28.postcard
"""
import math
import random

r = random.Random(5)
with open("strokes28.csv", "w") as f:
    f.write(",".join(f"p{i}" for i in range(784)) + ",label\n")
    for c in range(12):
        ang = c * math.pi / 12
        for n in range(30):
            cx, cy = r.uniform(8, 20), r.uniform(8, 20)
            v = []
            for y in range(28):
                for x in range(28):
                    d = abs((x - cx) * math.sin(ang) - (y - cy) * math.cos(ang))
                    along = abs((x - cx) * math.cos(ang) + (y - cy) * math.sin(ang))
                    on = 255 * math.exp(-d * d / 2) if along < 7 else 0
                    v.append(int(max(0, min(255, on + r.gauss(0, 25)))))
            f.write(",".join(map(str, v)) + f",c{c}\n")
