from cv import *
import time
val = make_val(200)
t=time.time()
print('identity', cv(val, lambda fit: (lambda x: x)).round(2), time.time()-t)
for b in [0.05,0.1,0.2,0.3,0.5]:
    print('blur',b, cv(val, lambda fit,b=b: lin(blur_mat(b))).round(2))

def sw_fitter(lam, rots=(0,1,2,3), shifts=0):
    def fitter(fit):
        cls = pool(fit, rots)
        devs = []
        for c in cls:
            devs.append(c - c.mean(0))
        Z = np.concatenate(devs)
        S = Z.T @ Z / len(Z)
        S = S / np.trace(S) * 64
        w, V = np.linalg.eigh(S)
        A = V @ np.diag(1/np.sqrt(w + lam)) @ V.T
        return lin(A)
    return fitter
for rots in [(0,),(0,1,2,3)]:
    for lam in [0.1,0.3,1,3,10]:
        print('Sw', rots, lam, cv(val, sw_fitter(lam, rots)).round(2))
