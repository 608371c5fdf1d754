#!/usr/bin/env python3
"""Synthetic 8-sensor metal-oxide gas array, 12 devices with per-device drift (the
"Within one subject" figures of trainer/README.md).

Physics (roughly): R_s = R0_s * gain_ds * (1 + k_gs * C)^(-beta_s) * humidity * noise + offset_ds
Resistances in kOhm (about 1..200), C in ppm (10..1000, log-uniform). Writes, next to this
file: gas_cls.csv (which of 7 gases, a `device` column), and the per-device regression files
gas_reg.csv, gas_reg_later.csv (2 devices that arrive later) and gas_reg_v2.csv (a header
with a timestamp and the device column in the middle).

    python3 gas_devices.py
    cargo run --release -p trainer -- train --config research/user_runs/gas_devices.toml --out /tmp/gas.postcard
"""
import os
import math
import random

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(1234)
N_SENSORS = 8
GASES = ["ethanol", "acetone", "ammonia", "toluene", "methane", "co", "h2s"]  # 7th = h2s, added on device
R0 = [rng.uniform(30, 200) for _ in range(N_SENSORS)]          # clean-air baseline, kOhm
BETA = [rng.uniform(0.35, 0.7) for _ in range(N_SENSORS)]      # power-law exponent
# sensitivity of sensor s to gas g (selectivity pattern), log-normal
K = {g: [math.exp(rng.gauss(math.log(0.03), 1.2)) for _ in range(N_SENSORS)] for g in GASES}
HUM = [rng.uniform(-0.3, 0.3) for _ in range(N_SENSORS)]       # humidity cross-sensitivity

# 12 devices, uneven sizes (some tiny)
ROWS = {"dev01": 15, "dev02": 18, "dev03": 22, "dev04": 25, "dev05": 40, "dev06": 55,
        "dev07": 60, "dev08": 80, "dev09": 85, "dev10": 90, "dev11": 100, "dev12": 120}
LATER = {"dev13": 30, "dev14": 70}   # devices that arrive later


def device_params(r):
    return {
        "gain": [math.exp(r.gauss(0, 0.35)) for _ in range(N_SENSORS)],   # R0 drift x0.5..x2
        "offset": [r.uniform(-1.0, 3.0) for _ in range(N_SENSORS)],      # kOhm
        "beta": [b * r.uniform(0.85, 1.15) for b in BETA],               # aged response slope
        "noise": r.uniform(0.02, 0.06),                                  # multiplicative noise
    }


def reading(dev, gas, c, r):
    h = r.uniform(-1, 1)  # relative humidity deviation
    out = []
    for s in range(N_SENSORS):
        rr = R0[s] * dev["gain"][s] * (1 + K[gas][s] * c) ** (-dev["beta"][s])
        rr *= math.exp(HUM[s] * h) * math.exp(r.gauss(0, dev["noise"]))
        rr += dev["offset"][s]
        out.append(max(rr, 0.5))
    return out


def conc(r):
    return math.exp(r.uniform(math.log(10), math.log(1000)))


def write(path, header, rows, sep=","):
    with open(path, "w") as f:
        f.write(sep.join(header) + "\n")
        for row in rows:
            f.write(sep.join(x if isinstance(x, str) else f"{x:.4f}" for x in row) + "\n")


devs = {d: device_params(random.Random(int(d[3:]) * 7919 + 7)) for d in list(ROWS) + list(LATER)}
sensors = [f"r{s+1}_kohm" for s in range(N_SENSORS)]

# ---- Task A: regression, ethanol ppm --------------------------------------
reg, reg_later = [], []
for d, n in list(ROWS.items()) + list(LATER.items()):
    for i in range(n):
        c = conc(rng)
        row = [d] + reading(devs[d], "ethanol", c, rng) + [c]
        (reg_later if d in LATER else reg).append(row)
write(os.path.join(HERE, "gas_reg.csv"), ["device"] + sensors + ["ppm"], reg)
write(os.path.join(HERE, "gas_reg_later.csv"), ["device"] + sensors + ["ppm"], reg_later)
# variant: timestamp first, device id in the middle, target before last sensor columns
var = []
for t, row in enumerate(reg):
    d, xs, c = row[0], row[1:9], row[9]
    var.append([f"{1700000000 + 60 * t}", *xs[:3], d, f"{c:.2f}", *xs[3:]])
write(os.path.join(HERE, "gas_reg_v2.csv"), ["timestamp"] + sensors[:3] + ["Device ID"] + ["ppm"] + sensors[3:], var)

# ---- Task B: classification, which gas -------------------------------------
cls = []
for d, n in ROWS.items():
    for i in range(n):
        g = GASES[i % len(GASES)]
        c = conc(rng)
        cls.append([d] + reading(devs[d], g, c, rng) + [g])
rng.shuffle(cls)
write(os.path.join(HERE, "gas_cls.csv"), ["device"] + sensors + ["gas"], cls)
print("regression rows", len(reg), "later", len(reg_later), "classification rows", len(cls))
mins = min(min(r[1:9]) for r in reg + cls)
maxs = max(max(r[1:9]) for r in reg + cls)
print(f"resistance range {mins:.2f} .. {maxs:.2f} kOhm")
