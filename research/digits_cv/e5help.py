from cv import *
def soft_fitter(lam, p=0.5, rots=(0,1,2,3), center=True):
    def fitter(fit):
        Z = np.concatenate(pool(fit, rots))
        if center: Z = Z - Z.mean(0)
        S = Z.T@Z/len(Z); S = S/np.trace(S)*64
        w, V = np.linalg.eigh(S)
        g = (np.maximum(w,0)/(w+lam))**p
        A = V@np.diag(g)@V.T
        return lin(A)
    return fitter
