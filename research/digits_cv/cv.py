"""Leave-two-digits-out cross-validation over the meta-training digits 0-4 (never 5-9).

Fold: fit a transform on 3 digits (optionally with their rotations), validate on 5-way episodes
drawn from the 8 classes {2 held-out digits} x {0, 90, 180, 270 degrees} (primary score), and on
2-way episodes of the 2 upright held-out digits; the score is the mean of the four sets. Nearest
centroid (squared Euclidean) in feature space, as the device's prototype head does at 0 steps.
Run from this directory (`python3 e1.py` ...); DIGITS=path overrides the data file.
"""
import gzip
import itertools
import os
import numpy as np

DATA = os.environ.get('DIGITS', os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                             '../../../shared/data/digits.csv.gz'))
D = np.loadtxt(gzip.open(DATA), delimiter=',')
X = D[:, :64] / 16.0
Y = D[:, 64].astype(int)
BASE = [0, 1, 2, 3, 4]


def rot(x, k):
    return np.rot90(x.reshape(-1, 8, 8), k, axes=(1, 2)).reshape(-1, 64)


def shift(x, dx, dy):
    im = x.reshape(-1, 8, 8)
    out = np.zeros_like(im)
    sr = slice(max(dy, 0), 8 + min(dy, 0))
    tr = slice(max(-dy, 0), 8 + min(-dy, 0))
    sc = slice(max(dx, 0), 8 + min(dx, 0))
    tc = slice(max(-dx, 0), 8 + min(-dx, 0))
    out[:, sr, sc] = im[:, tr, tc]
    return out.reshape(-1, 64)


def pool(digits, rots):
    """list of (class id, rows array)"""
    out = []
    for r in rots:
        for d in digits:
            out.append(rot(X[Y == d], r))
    return out


def episodes(classes, ways, shots, q, n, rng):
    eps = []
    for _ in range(n):
        cs = rng.choice(len(classes), ways, replace=False)
        S, Q = [], []
        for c in cs:
            rows = classes[c]
            idx = rng.choice(len(rows), shots + q, replace=False)
            S.append(rows[idx[:shots]])
            Q.append(rows[idx[shots:]])
        eps.append((np.stack(S), np.stack(Q)))  # ways x k x 64, ways x q x 64
    return eps


def nc_acc(eps, f):
    acc = []
    for S, Q in eps:
        w, k, _ = S.shape
        fs = f(S.reshape(-1, 64)).reshape(w, k, -1).mean(1)
        fq = f(Q.reshape(-1, 64))
        d = ((fq[:, None, :] - fs[None]) ** 2).sum(-1)
        pred = d.argmin(1)
        y = np.repeat(np.arange(w), Q.shape[1])
        acc.append((pred == y).mean())
    return np.mean(acc)


FOLDS = list(itertools.combinations(BASE, 2))


def make_val(n=200, seed=0):
    rng = np.random.default_rng(seed)
    val = {}
    for held in FOLDS:
        fit = [d for d in BASE if d not in held]
        cls8 = pool(held, [0, 1, 2, 3])
        cls2 = pool(held, [0])
        val[held] = dict(fit=fit,
                         e1=episodes(cls8, 5, 1, 15, n, rng),
                         e5=episodes(cls8, 5, 5, 15, n, rng),
                         u1=episodes(cls2, 2, 1, 15, n, rng),
                         u5=episodes(cls2, 2, 5, 15, n, rng))
    return val


def cv(val, fitter):
    """fitter(fit_digits) -> feature function; returns (1-shot, 5-shot, up1, up5) means"""
    r = []
    for held, v in val.items():
        f = fitter(v['fit'])
        r.append([nc_acc(v[k], f) for k in ('e1', 'e5', 'u1', 'u5')])
    return np.array(r).mean(0) * 100


def blur_mat(b):
    A = np.eye(64)
    for r in range(8):
        for c in range(8):
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    if dr == dc == 0:
                        continue
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < 8 and 0 <= cc < 8:
                        A[r * 8 + c, rr * 8 + cc] = b / 2 if dr and dc else b
    return A


def lin(A):
    return lambda x: x @ A.T


def ft_acc(eps, f, scale, alpha, steps, clip=10.0):
    """prototype init then `steps` clipped GD steps of the mean support CE on (W, b)"""
    acc = []
    for S, Q in eps:
        w, k, _ = S.shape
        fs = f(S.reshape(-1, 64))
        ys = np.repeat(np.arange(w), k)
        mu = fs.reshape(w, k, -1).mean(1)
        W = 2 * scale * mu
        b = -scale * (mu ** 2).sum(1)
        for _ in range(steps):
            z = fs @ W.T + b
            z -= z.max(1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(ys)), ys] -= 1
            p /= len(ys)
            gW = np.clip(p.T @ fs, -clip, clip)
            gb = np.clip(p.sum(0), -clip, clip)
            W -= alpha * gW
            b -= alpha * gb
        fq = f(Q.reshape(-1, 64))
        pred = (fq @ W.T + b).argmax(1)
        y = np.repeat(np.arange(w), Q.shape[1])
        acc.append((pred == y).mean())
    return np.mean(acc)


def cv_ft(val, fitter, scale, alpha, steps, keys=('e1', 'e5', 'u1', 'u5')):
    r = []
    for held, v in val.items():
        f = fitter(v['fit'])
        r.append([ft_acc(v[k], f, scale, alpha, steps) for k in keys])
    return np.array(r).mean(0) * 100
