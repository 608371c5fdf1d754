from cv import *
val = make_val(200)
def pca_fitter(k, rots=(0,1,2,3)):
    def fitter(fit):
        Z = np.concatenate(pool(fit, rots))
        Z = Z - Z.mean(0)
        w, V = np.linalg.eigh(Z.T@Z)
        P = V[:, ::-1][:, :k]
        return lin(P.T)
    return fitter
for k in [10,20,30,40]:
    print('pca',k, cv(val, pca_fitter(k)).round(2), cv(val, pca_fitter(k,(0,))).round(2))
for t in [0.25,0.5,0.75]:
    print('sat',t, cv(val, lambda fit,t=t: (lambda x: np.minimum(x,t))).round(2))
for t in [0.1,0.2,0.3]:
    print('thr',t, cv(val, lambda fit,t=t: (lambda x: np.maximum(x-t,0))).round(2))
def std_fitter(eps, rots=(0,1,2,3)):
    def fitter(fit):
        Z = np.concatenate(pool(fit, rots))
        s = Z.std(0)
        return lambda x: x / (s + eps)
    return fitter
for e in [0.1,0.3,1.0]:
    print('std', e, cv(val, std_fitter(e)).round(2))
def aug_fitter(lam, sh=((1,0),(-1,0),(0,1),(0,-1)), rots=(0,1,2,3), fitdata=True):
    def fitter(fit):
        Z = np.concatenate(pool(fit, rots)) if fitdata else X[np.isin(Y,BASE)]
        devs = [shift(Z,dx,dy)-Z for dx,dy in sh]
        T = np.concatenate(devs)
        S = T.T@T/len(T)
        S = S/np.trace(S)*64
        w,V = np.linalg.eigh(S)
        A = V@np.diag(1/np.sqrt(1+lam*w))@V.T
        return lin(A)
    return fitter
for lam in [0.1,0.3,1,3]:
    print('shiftcov', lam, cv(val, aug_fitter(lam)).round(2))
