"""Ceiling check, NOT a selection: how far can the device's inner loop take the raw-pixel metric?
Novel digits 5-9, 5-way, 15 queries, 400 episodes per shot count; the prototype head (logits
2 s mu.x - s |mu|^2) fine-tuned by softmax cross-entropy gradient steps, with the scale s, rate and
step count picked *on 5-9 itself* (an oracle the protocol forbids), to bound what any honest choice
could reach. Run: python3 ceiling_finetune.py (about 40 s).
"""
import gzip, numpy as np
D=np.loadtxt(gzip.open(__import__('os').environ.get('DIGITS', __import__('os').path.join(__import__('os').path.dirname(__import__('os').path.abspath(__file__)), '../../../shared/data/digits.csv.gz'))),delimiter=',')
X=D[:,:64]/16.0; Y=D[:,64].astype(int)
rng=np.random.default_rng(0)
cls=[X[Y==c] for c in range(5,10)]
def eps(shots,n):
    out=[]
    for _ in range(n):
        S=[];Q=[]
        for c in range(5):
            idx=rng.choice(len(cls[c]),shots+15,replace=False)
            S.append(cls[c][idx[:shots]]);Q.append(cls[c][idx[shots:]])
        out.append((np.stack(S),np.stack(Q)))
    return out
def run(E, scale, alpha, steps, l2=0.0):
    acc=[]
    for S,Q in E:
        mu=S.mean(1)                        # 5x64
        W=2*scale*mu; b=-scale*(mu**2).sum(1)
        W0,b0=W.copy(),b.copy()
        xs=S.reshape(-1,64); ys=np.repeat(np.arange(5),S.shape[1])
        for _ in range(steps):
            z=xs@W.T+b; z-=z.max(1,keepdims=True); p=np.exp(z); p/=p.sum(1,keepdims=True)
            p[np.arange(len(ys)),ys]-=1; p/=len(ys)
            W-=alpha*(p.T@xs + l2*(W-W0)); b-=alpha*(p.sum(0))
        xq=Q.reshape(-1,64); yq=np.repeat(np.arange(5),Q.shape[1])
        acc.append(np.mean(np.argmax(xq@W.T+b,1)==yq))
    return 100*np.mean(acc)
for shots in (1,5):
    E=eps(shots,400)
    print(shots,'NC',run(E,1,0,0))
    best=max(((run(E,sc,a,st),sc,a,st) for sc in (0.1,0.2,0.5,1,2) for a in (0.3,1,3,10) for st in (5,20,50)),key=lambda t:t[0])
    print(shots,'best fine-tune (oracle on 5-9):',best)
