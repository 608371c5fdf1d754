"""Nuisance projections: out the fit data's mean image, or the top-k within-class directions."""
from cv import *
val = make_val(200)
def mean_fitter(beta, rots=(0, 1, 2, 3)):
    def fitter(fit):
        m = np.concatenate(pool(fit, rots)).mean(0)
        u = m / np.linalg.norm(m)
        return lin(np.eye(64) - beta * np.outer(u, u))
    return fitter
def nap_fitter(k, rots=(0, 1, 2, 3)):
    def fitter(fit):
        Z = np.concatenate([c - c.mean(0) for c in pool(fit, rots)])
        w, V = np.linalg.eigh(Z.T @ Z)
        U = V[:, ::-1][:, :k]
        return lin(np.eye(64) - U @ U.T)
    return fitter
for beta in [0.5, 1.0]:
    r = cv(val, mean_fitter(beta)); print('mean', beta, r.round(2), round(r.mean(), 2), flush=True)
for k in [1, 2, 4, 8]:
    for rots in [(0,), (0, 1, 2, 3)]:
        r = cv(val, nap_fitter(k, rots)); print('nap', k, rots, r.round(2), round(r.mean(), 2), flush=True)
