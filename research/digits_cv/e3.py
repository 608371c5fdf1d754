from cv import *
val = make_val(100)
ident = lambda fit: (lambda x: x + 0.01)
for scale in [0.2,0.5,1,2]:
    for alpha in [0.3,1,3,10]:
        print(scale, alpha, cv_ft(val, ident, scale, alpha, 5).round(2), flush=True)
