from cv import *
val = make_val(200)
def soft_fitter(lam, p=0.5, rots=(0,1,2,3)):
    def fitter(fit):
        Z = np.concatenate(pool(fit, rots))
        Z = Z - Z.mean(0)
        S = Z.T@Z/len(Z); S = S/np.trace(S)*64
        w, V = np.linalg.eigh(S)
        g = (np.maximum(w,0)/(w+lam))**p
        A = V@np.diag(g)@V.T
        return lin(A)
    return fitter
for rots in [(0,1,2,3),(0,)]:
  for lam in [0.03,0.1,0.3,1]:
    for p in [0.5,1]:
        print('soft', rots, lam, p, cv(val, soft_fitter(lam,p,rots)).round(2), flush=True)
