"""Triangle-style features from k-means centroids of the base images: ReLU(x.c_k - |c_k|^2/2 - t),
alone or beside the top principal components (one ReLU layer, then linear)."""
from cv import *
val = make_val(200)
def kmeans(Z, k, rng, it=30):
    C = Z[rng.choice(len(Z), k, replace=False)]
    for _ in range(it):
        d = ((Z[:, None] - C[None]) ** 2).sum(-1)
        a = d.argmin(1)
        for j in range(k):
            if (a == j).any():
                C[j] = Z[a == j].mean(0)
    return C
def km_fitter(k, npc, w, rots=(0, 1, 2, 3)):
    def fitter(fit):
        rng = np.random.default_rng(0)
        Z = np.concatenate(pool(fit, rots))
        C = kmeans(Z, k, rng)
        b = -(C ** 2).sum(1) / 2
        m = Z.mean(0)
        Zc = Z - m
        _, _, Vt = np.linalg.svd(Zc, full_matrices=False)
        P = Vt[:npc]
        def f(x):
            h = x @ C.T + b
            h = h - h.mean(1, keepdims=True)  # relative similarity
            return np.concatenate([w * np.maximum(h, 0), (x - m) @ P.T], 1)
        return f
    return fitter
for k, npc in [(32, 32), (16, 48)]:
    for w in [0.5, 1, 2]:
        r = cv(val, km_fitter(k, npc, w)); print('km', k, npc, w, r.round(2), round(r.mean(), 2), flush=True)
