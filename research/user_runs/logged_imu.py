"""A logged IMU file as a phone app writes it: subject and timestamp columns beside the named
gesture and the 3 x 32 accelerometer samples (m/s^2, gravity on z); 10 gestures of 24 rows,
4 subjects. Also a regression file of 14 units with a timestamp column. Writes imu.csv,
imu.toml (train/test split by name, ignore_columns), drift.csv and drift.toml here.

    python3 logged_imu.py
    cargo run --release -p trainer -- train --config research/user_runs/imu.toml --out /tmp/imu.postcard
    cargo run --release -p trainer -- train --config research/user_runs/drift.toml --out /tmp/drift.postcard

Six other class splits of it (seeded shuffles, `trunk_folds = 0` and `3`) were the device
steps' study in the note of 2026-12-05.
"""
import math
import random

random.seed(11)
C, N, L = 10, 24, 32
names = ["swipe_left", "swipe_right", "circle", "shake", "tap", "double_tap", "flick_up",
         "flick_down", "twist", "wave"]
subjects = ["ana", "ben", "chen", "dara"]
protos = [[(random.uniform(0.5, 3), random.uniform(0, 6.28), random.uniform(1, 4),
            random.uniform(.2, .8), random.uniform(.1, .3)) for _ in range(3)] for _ in range(C)]
lines = [",".join(["subject", "timestamp", "gesture"]
                  + [f"{a}{t}" for a in ("ax", "ay", "az") for t in range(L)])]
ts = 1700000000
for c in range(C):
    for n in range(N):
        gain, shift = random.uniform(.6, 1.6), random.uniform(-.08, .08)
        speed = random.uniform(.85, 1.15)
        row = []
        for k, (f, ph, a, ce, w) in enumerate(protos[c]):
            off = 9.81 if k == 2 else 0.0
            for t in range(L):
                u = (t / (L - 1) - .5) * speed + .5 + shift
                v = off + gain * a * math.exp(-((u - ce) / w) ** 2) * math.sin(2 * math.pi * f * u + ph)
                row.append(f"{v + random.gauss(0, .4):.3f}")
        ts += random.randint(5, 50)
        lines.append(",".join([subjects[n % 4], str(ts), names[c]] + row))
with open("imu.csv", "w") as out:
    out.write("\n".join(lines) + "\n")
with open("imu.toml", "w") as out:
    out.write('''task = "classification"
data = "imu.csv"
label_column = "gesture"
ignore_columns = ["subject", "timestamp"]
train_classes = ["circle", "double_tap", "flick_down", "flick_up", "shake", "swipe_left"]
test_classes = ["swipe_right", "tap", "twist", "wave"]
ways = 4

[input]
kind = "series"
channels = 3
length = 32
''')

random.seed(3)
lines = ["logged_at,unit,temp_c,load_pct,drift_mv"]
ts = 1700000000
for u in range(14):
    a, b, c = random.uniform(-3, 3), random.uniform(0.5, 2), random.uniform(100, 300)
    for r in range(25):
        t, l = random.uniform(-10, 40), random.uniform(0, 100)
        ts += 60
        lines.append(f"{ts},unit{u},{t:.2f},{l:.1f},{c + a * t + b * l * 0.3 + random.gauss(0, 2):.2f}")
with open("drift.csv", "w") as out:
    out.write("\n".join(lines) + "\n")
with open("drift.toml", "w") as out:
    out.write('''[task]
kind = "csv"
path = "drift.csv"
task_column = "unit"
targets = ["drift_mv"]
ignore_columns = ["logged_at"]

[model]
hidden = [32, 32]

[train]
iterations = 1500
''')
print("imu.csv (240 rows), imu.toml, drift.csv (350 rows), drift.toml")
