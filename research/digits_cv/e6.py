from cv import *
from e5help import soft_fitter
val = make_val(200)
for lam in [0.5,1,2,4,8]:
    for p in [0.25,0.5,0.75,1]:
        r = cv(val, soft_fitter(lam,p))
        print('soft', lam, p, r.round(2), round(r.mean(),2), flush=True)
