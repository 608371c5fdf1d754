"""How good could ONE inner step be if it formed second-order statistics? (trainer/README.md,
"Quality"). Least-squares fit, over simulated sinusoid tasks (issue 3's protocol), of predictors
that are linear in the support targets y:
  first order:  f(x) = a.phi(x) + phi(x)^T C (1/K sum_k y_k phi(x_k)) + phi(x)^T D (1/K sum_k phi(x_k))
                (a kernel smoother: what one gradient step is to first order in the rates)
  + second order: adds phi(x) (x) (1/K sum_k y_k phi(x_k)) (x) (1/K sum_j phi(x_j))  (a Gram
                correction: target-weighted features times the support set's own layout) and
                phi(x) (x) (1/K sum_k y_k phi(x_k) phi(x_k)^T).
phi: 1, sin x, cos x, sin 2x, cos 2x, x/5, (x/5)^2. Prints the held-out query MSE for K = 5, 10, 20
(about 0.46 / 0.25 / 0.14 first order, 0.13 / 0.037 / 0.010 with the second-order terms; the
Rust example kernel_smoother_bound gives the first-order bound with a richer basis).
Run: python3 second_order.py (about 1 minute, numpy).
"""
import numpy as np, sys
rng=np.random.default_rng(1)
def feats(x):
    return np.stack([np.ones_like(x), np.sin(x), np.cos(x), np.sin(2*x), np.cos(2*x), x/5, (x/5)**2],-1)
def sample(n,K,Q):
    A=rng.uniform(0.1,5,n); P=rng.uniform(0,np.pi,n)
    xs=rng.uniform(-5,5,(n,K)); xq=rng.uniform(-5,5,(n,Q))
    return A[:,None]*np.sin(xs-P[:,None]), xs, A[:,None]*np.sin(xq-P[:,None]), xq
for K in (5, 10, 20):
    n,Q=40000,10
    ys,xs,yq,xq=sample(n,K,Q)
    Fs=feats(xs); Fq=feats(xq); d=Fs.shape[-1]
    Sy=np.einsum('nk,nkd->nd',ys,Fs)/K
    S1=Fs.mean(1)
    # first order: phi_q, phi_q x Sy, phi_q x S1
    X1=[Fq, np.einsum('nqa,nb->nqab',Fq,Sy).reshape(n,Q,-1), np.einsum('nqa,nb->nqab',Fq,S1).reshape(n,Q,-1)]
    # second order (Gram correction): phi_q x Sy x S1  and phi_q x (G applied..) : phi_q(a) * Sy(b) * S1(c)
    X2=X1+[np.einsum('nqa,nb,nc->nqabc',Fq,Sy,S1).reshape(n,Q,-1),
           np.einsum('nqa,nbc->nqabc',Fq,np.einsum('nk,nkb,nkc->nbc',ys,Fs,Fs)/K).reshape(n,Q,-1)]
    for name,XX in (('first order',X1),('+ second order',X2)):
        X=np.concatenate(XX,-1).reshape(n*Q,-1); y=yq.reshape(-1)
        h=n*Q//2
        w=np.linalg.solve(X[:h].T@X[:h]+1e-3*np.eye(X.shape[1]), X[:h].T@y[:h])
        print(K,name,X.shape[1],'params: test MSE %.4f'%np.mean((X[h:]@w-y[h:])**2))
