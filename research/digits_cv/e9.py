from cv import *
from e8 import pow_fitter
val = make_val(100, seed=1)
f = pow_fitter(0.2, sh=0, offset=True)
print('0 steps', cv_ft(val, f, 1, 0, 0).round(2))
for scale in [0.05,0.1,0.2,0.5,1]:
    for alpha in [0.1,0.3,1,3]:
        r = cv_ft(val, f, scale, alpha, 5); print(scale, alpha, r.round(2), round(r.mean(),2), flush=True)
