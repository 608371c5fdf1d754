from cv import *
val = make_val(200)
def pow_fitter(p, rots=(0,1,2,3), center=True, eps=1e-6):
    def fitter(fit):
        Z = np.concatenate(pool(fit, rots))
        if center: Z = Z - Z.mean(0)
        S = Z.T@Z/len(Z); S = S/np.trace(S)*64
        w, V = np.linalg.eigh(S)
        A = V@np.diag(np.maximum(w,eps)**p)@V.T
        return lin(A)
    return fitter
for p in [0.1,0.15,0.2,0.25,0.3,0.4]:
    r = cv(val, pow_fitter(p)); print('pow', p, r.round(2), round(r.mean(),2), flush=True)
for p in [0.15,0.25]:
    r = cv(val, pow_fitter(p, center=False)); print('pow nocenter', p, r.round(2), round(r.mean(),2), flush=True)
    r = cv(val, pow_fitter(p, rots=(0,))); print('pow norot', p, r.round(2), round(r.mean(),2), flush=True)
