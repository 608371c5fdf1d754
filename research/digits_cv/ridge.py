"""Ridge-regression heads on pixels vs nearest centroid (issue 5): lambda picked on 5-way
episodes of digits 0-4, reported on 5-9. Run from this directory.
"""
import gzip, os, numpy as np
D = np.loadtxt(gzip.open(os.environ.get('DIGITS', os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared/data/digits.csv.gz'))), delimiter=',')
X = D[:, :64] / 16.0; Y = D[:, 64].astype(int)
rng = np.random.default_rng(0)
def episodes(classes, k, q, n):
    out = []
    for _ in range(n):
        cs = rng.permutation(classes)[:5]
        s, sl, qq, ql = [], [], [], []
        for i, c in enumerate(cs):
            idx = rng.permutation(np.where(Y == c)[0])[:k+q]
            s.append(X[idx[:k]]); sl += [i]*k; qq.append(X[idx[k:]]); ql += [i]*q
        out.append((np.vstack(s), np.array(sl), np.vstack(qq), np.array(ql)))
    return out
def nc(s, sl, qx):
    P = np.stack([s[sl == c].mean(0) for c in range(5)])
    d = ((qx[:, None, :] - P[None]) ** 2).sum(-1)
    return d.argmin(1)
def ridge(s, sl, qx, lam, center=True, bias=True, proto=0.0):
    F = s.copy(); Q = qx.copy()
    if center:
        mu = F.mean(0); F = F - mu; Q = Q - mu
    if bias:
        F = np.hstack([F, np.ones((len(F), 1))]); Q = np.hstack([Q, np.ones((len(Q), 1))])
    T = np.eye(5)[sl]
    # start: prototype head (scaled) in the same features
    W0 = np.zeros((F.shape[1], 5))
    if proto:
        for c in range(5):
            mu_c = F[sl == c].mean(0)
            W0[:, c] = 2 * proto * mu_c
            if bias: W0[-1, c] = -proto * (mu_c[:-1] ** 2).sum()
    R = T - F @ W0
    A = np.linalg.solve(lam * np.eye(len(F)) + F @ F.T, R)
    W = W0 + F.T @ A
    return (Q @ W).argmax(1)
for k in [1, 5]:
    tr = episodes([0,1,2,3,4], k, 15, 300)
    te = episodes([5,6,7,8,9], k, 15, 2000)
    acc = lambda f, eps: np.mean([np.mean(f(s, sl, qx) == ql) for s, sl, qx, ql in eps]) * 100
    print(f"K={k}: NC val {acc(nc, tr):.2f} test {acc(nc, te):.2f}")
    for center in [False, True]:
        for proto in [0.0, 1.0]:
            for lam in [0.1, 1, 3, 10, 30, 100]:
                f = lambda s, sl, qx: ridge(s, sl, qx, lam, center, True, proto)
                print(f"  ridge center={center} proto={proto} lam={lam}: val {acc(f, tr):.2f} test {acc(f, te):.2f}")
