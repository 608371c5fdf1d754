"""Synthetic accelerometer windows for a regression through a convolution trunk (trainer/README.md,
"Regression on your own data", "Windows of a series"): 40 subjects, 8 to 16 windows each, 32
samples a window, a sine of random frequency and phase whose amplitude in g is the target,
times a per-subject gain, plus a per-subject offset and noise.

    python3 amplitude_windows.py     # writes windows.csv here
    cargo run --release -p trainer -- train --config research/user_runs/amplitude_windows.toml
"""
import math
import random

r = random.Random(11)
with open("windows.csv", "w") as f:
    f.write("subject," + ",".join(f"s{i}" for i in range(32)) + ",amp_g\n")
    for s in range(40):
        gain = r.uniform(0.7, 1.4)
        off = r.gauss(0, 0.2)
        for n in range(r.randint(8, 16)):
            amp = r.uniform(0.5, 3.0)
            fr = r.uniform(1, 4)
            ph = r.uniform(0, 6.28)
            w = [gain * amp * math.sin(2 * math.pi * fr * t / 32 + ph) + off + r.gauss(0, 0.1)
                 for t in range(32)]
            f.write(f"u{s:02d}," + ",".join(f"{v:.4f}" for v in w) + f",{amp:.4f}\n")
