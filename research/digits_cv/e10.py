"""Projecting out (part of) the total-ink direction: A = I - beta u u^T, u uniform."""
from cv import *
val = make_val(200)
u = np.ones(64) / 8.0
for beta in [0.0, 0.5, 0.8, 1.0]:
    A = np.eye(64) - beta * np.outer(u, u)
    r = cv(val, lambda fit, A=A: lin(A))
    print('ink', beta, r.round(2), round(r.mean(), 2), flush=True)
