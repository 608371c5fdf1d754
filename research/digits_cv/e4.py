from cv import *
val = make_val(200)
def idx(r,c): return r*8+c
# HOG-like: 4x4 cells of 2x2 pixels; dx = right col - left col of cell, dy = bottom - top
def hog_W(pad=False):
    W = np.zeros((64,64))
    u = 0
    for cr in range(4):
        for cc in range(4):
            r0,c0 = 2*cr, 2*cc
            dx = np.zeros(64); dy = np.zeros(64)
            for a in range(2):
                dx[idx(r0+a,c0+1)] += 1; dx[idx(r0+a,c0)] -= 1
                dy[idx(r0+1,c0+a)] += 1; dy[idx(r0,c0+a)] -= 1
            for v in (dx,-dx,dy,-dy):
                W[u] = v; u += 1
    return W
Wh = hog_W()
print('hog', cv(val, lambda fit: (lambda x: np.maximum(x@Wh.T,0))).round(2))
# hog wider: 3x3 pixel neighbourhoods centred on 4x4 grid positions (1,1),(1,3)...: sobel
def sobel_W(cells):
    W=[]
    for (r,c) in cells:
        gx=np.zeros(64); gy=np.zeros(64)
        for dr in (-1,0,1):
            for dc in (-1,0,1):
                rr,cc=r+dr,c+dc
                if 0<=rr<8 and 0<=cc<8:
                    wgt = 2 if (dr==0 or dc==0) else 1
                    if dc: gx[idx(rr,cc)] += dc*wgt*(1 if dr==0 else 0.5)
                    if dr: gy[idx(rr,cc)] += dr*wgt*(1 if dc==0 else 0.5)
        for v in (gx,-gx,gy,-gy): W.append(v)
    return np.array(W)
cells=[(r,c) for r in (1,3,5,7) for c in (0,2,4,6)]
cells2=[(r,c) for r in (0.5,2.5,4.5,6.5) for c in (0.5,2.5,4.5,6.5)]
Ws = sobel_W([(r,c) for r in (1,3,4,6) for c in (1,3,4,6)])
print('sobel', cv(val, lambda fit: (lambda x: np.maximum(x@Ws.T,0))).round(2))
for wpix in [0.5,1,2]:
    print('hog+pix', wpix, cv(val, lambda fit: (lambda x: np.concatenate([np.maximum(x@Wh.T,0), wpix*x],1))).round(2))
