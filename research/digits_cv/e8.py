from cv import *
val = make_val(200) if __name__=="__main__" else None
def pow_fitter(p, sh=1, offset=False):
    def fitter(fit):
        Z = np.concatenate(pool(fit, (0,1,2,3)))
        if sh:
            Z = np.concatenate([shift(Z,dx,dy) for dx in range(-sh,sh+1) for dy in range(-sh,sh+1)])
        Z = Z - Z.mean(0)
        S = Z.T@Z/len(Z); S = S/np.trace(S)*64
        w, V = np.linalg.eigh(S)
        A = V@np.diag(np.maximum(w,1e-6)**p)@V.T
        c = np.maximum(-A,0).sum(1) + 0.01 if offset else 0
        return lambda x: x@A.T + c
    return fitter
if __name__=="__main__":
  for p in [0.15,0.2,0.25,0.3]:
      r = cv(val, pow_fitter(p)); print('pow shift1', p, r.round(2), round(r.mean(),2), flush=True)
