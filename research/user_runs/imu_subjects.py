"""Synthetic IMU window features in raw units (12 per row: the mean and spread of 3 accelerometer
axes in mg and 3 gyroscope axes in deg/s): a labelled activity file and a per-subject regression
file, the data of the multi-task and multi-target trials in trainer/README.md.

- activity.csv: subject, t_ms, the 12 features, activity (8 named activities, 12 subjects with
  a per-subject offset, 8-19 rows per subject and activity);
- cadence.csv: subject, the 12 features, cadence_spm (40 subjects, 10-24 rows each; cadence a
  linear function of the features with a per-subject gain and offset, plus noise);
- cadence_stride.csv: the same with stride_m (a per-subject function of the cadence).

    python3 imu_subjects.py          # writes the three files here
"""
import csv
import random

rng = random.Random(7)


def normal(s, n):
    return [rng.gauss(0, s) for _ in range(n)]


acts = ["walk", "run", "sit", "stairs", "cycle", "jump", "stand", "rowing"]
F = 12
proto = {a: normal(1, F) for a in acts}
names = ["ax_mean", "ay_mean", "az_mean", "ax_sd", "ay_sd", "az_sd",
         "gx_mean", "gy_mean", "gz_mean", "gx_sd", "gy_sd", "gz_sd"]
scale = [900, 900, 900, 300, 300, 300, 40, 40, 40, 15, 15, 15.0]
with open("activity.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["subject", "t_ms"] + names + ["activity"])
    for s in range(12):
        off = normal(0.4, F)
        for a in acts:
            for i in range(rng.randint(8, 19)):
                e = normal(0.5, F)
                x = [(proto[a][j] + off[j] + e[j]) * scale[j] for j in range(F)]
                w.writerow([f"s{s:02d}", 1000 * i] + [f"{v:.1f}" for v in x] + [a])
wv = normal(1, F)
rows = []
with open("cadence.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["subject"] + names + ["cadence_spm"])
    for s in range(40):
        gain, off = rng.uniform(0.6, 1.4), rng.gauss(0, 10)
        for i in range(rng.randint(10, 24)):
            z = normal(1, F)
            x = [z[j] * scale[j] for j in range(F)]
            y = 100 + gain * 15 * sum(z[j] * wv[j] for j in range(F)) + off + rng.gauss(0, 2)
            row = [f"u{s:02d}"] + [f"{v:.1f}" for v in x] + [f"{y:.1f}"]
            w.writerow(row)
            rows.append(row)
rng = random.Random(3)
per_subject = {}
with open("cadence_stride.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["subject"] + names + ["cadence_spm", "stride_m"])
    for r in rows:
        if r[0] not in per_subject:
            per_subject[r[0]] = (rng.uniform(0.8, 1.2), rng.gauss(0, 0.05))
        g, o = per_subject[r[0]]
        stride = 0.4 + g * 0.004 * float(r[-1]) + o + rng.gauss(0, 0.01)
        w.writerow(r + [f"{stride:.3f}"])
