"""Matching heads (the preset's device head, issue 5), offline study: leave-two-digits-out
cross-validation on the meta-training digits 0-4 only (`cv.py`'s protocol, 100 episodes per set
and fold), never on 5-9.

A matching head keeps P prototypes per class (support samples i, i + P, ... of a class average into
prototype i; a class with fewer samples than P fills the rest with its mean) and scores a query by
u_j = max_w -s |T_w x - mu_j|^2 over affine warps T_w of the 8x8 image (bilinear, zeros outside:
the runtime's `WarpSet`), then class c by log sum_{j in c} exp(u_j). Candidates: warp sets (none,
1-pixel shifts, shifts plus +-h shears), P in {1, 5}, s in {0.5, 1, 2} at 0 steps; then, for the
best, the device's inner-loop rate (5 steps of cross-entropy on the pooled class scores, on the
unwarped support, gradient clip 10). Selection: the best mean over the four validation sets.
The preset makes its own choice in Rust (src/classify/matching.rs, as deployed); this wider grid
(shears 0.15 / 0.25 / 0.35, scales 0.5 / 1 / 2) ranks the candidates the same way.
Run from this directory: python3 matching.py (about 5 minutes on one core).
"""
import itertools
from cv import *

SH = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]


def warp_mat(shear=0.0):
    """Bilinear warp sampling output pixel (x, y) (centred) at (x + shear y, y)."""
    M = np.zeros((64, 64))
    c = 3.5
    for r in range(8):
        for cc in range(8):
            y = r - c
            x = cc - c
            xi = x + shear * y + c
            yi = y + c
            x0 = int(np.floor(xi))
            y0 = int(np.floor(yi))
            fx = xi - x0
            fy = yi - y0
            for (yy, xx, wt) in ((y0, x0, (1 - fx) * (1 - fy)), (y0, x0 + 1, fx * (1 - fy)),
                                 (y0 + 1, x0, (1 - fx) * fy), (y0 + 1, x0 + 1, fx * fy)):
                if 0 <= yy < 8 and 0 <= xx < 8 and wt > 1e-12:
                    M[r * 8 + cc, yy * 8 + xx] += wt
    return M


SHIFTS = [shift(np.eye(64), dx, dy).T for dx, dy in SH]


def prototypes(S, P):
    w, k, _ = S.shape
    out = []
    for c in range(w):
        slots = []
        for i in range(P):
            idx = list(range(i, k, P))
            slots.append(S[c, idx].mean(0) if idx else S[c].mean(0))
        out.append(np.stack(slots))
    return np.stack(out).reshape(w * P, 64)


def matching_acc(E, mats, s, P, alpha=0.0, steps=0, clip=10.0):
    acc = []
    for S, Q in E:
        w, k, _ = S.shape
        mu = prototypes(S, P)
        W = 2 * s * mu
        b = -s * (mu ** 2).sum(1)
        xs = S.reshape(-1, 64)
        ys = np.repeat(np.arange(w), k)
        n = len(ys)
        for _ in range(steps):
            z = xs @ W.T + b
            r = np.exp(z - z.max(1, keepdims=True))
            r /= r.sum(1, keepdims=True)
            own = z.reshape(n, w, P)[np.arange(n), ys]
            q = np.exp(own - own.max(1, keepdims=True))
            q /= q.sum(1, keepdims=True)
            g = r.reshape(n, w, P).copy()
            g[np.arange(n), ys] -= q
            g = g.reshape(n, w * P) / n
            W -= alpha * np.clip(g.T @ xs, -clip, clip)
            b -= alpha * np.clip(g.sum(0), -clip, clip)
        x = Q.reshape(-1, 64)
        best = None
        for M in mats:
            h = x @ M.T
            u = h @ W.T + b - s * (h ** 2).sum(1, keepdims=True)
            best = u if best is None else np.maximum(best, u)
        g = best.reshape(len(x), w, P)
        m = g.max(2, keepdims=True)
        score = (m + np.log(np.exp(g - m).sum(2, keepdims=True)))[..., 0]
        y = np.repeat(np.arange(w), Q.shape[1])
        acc.append((score.argmax(1) == y).mean())
    return np.mean(acc)


def cv_row(val, **kw):
    return np.array([[matching_acc(v[k], **kw) for k in ('e1', 'e5', 'u1', 'u5')]
                     for v in val.values()]).mean(0) * 100


def show(name, r):
    print(f'{name:34s}', ' '.join(f'{x:6.2f}' for x in r), f'| mean {r.mean():6.2f}', flush=True)


if __name__ == '__main__':
    val = make_val(100)
    sets = {'none': [np.eye(64)], 'shift 1': SHIFTS}
    for h in (0.15, 0.25, 0.35):
        sets[f'shift 1 + shear {h}'] = SHIFTS + [warp_mat(h), warp_mat(-h)]
    print('sets: 5-way 1-shot rot, 5-way 5-shot rot, 2-way 1-shot, 2-way 5-shot (held-out digits)')
    rows = []
    for (name, mats), P, s in itertools.product(sets.items(), (1, 5), (0.5, 1.0, 2.0)):
        r = cv_row(val, mats=mats, s=s, P=P)
        show(f'{name}, P {P}, s {s}', r)
        rows.append((r.mean(), name, P, s))
    _, name, P, s = max(rows)
    print(f'chosen: {name}, P {P}, s {s}')
    for alpha in (0.0, 0.03, 0.1, 0.3, 1.0):
        r = cv_row(val, mats=sets[name], s=s, P=P, alpha=alpha, steps=5 if alpha else 0)
        show(f'  rate {alpha}, 5 steps', r)
