#!/usr/bin/env python3
"""prof.py ELF LOG [N]: executed instructions per function (symbol) and per runtime source line."""
import sys, re, subprocess, collections
elf, log = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 40
pcs = collections.Counter()
for line in open(log):
    m = re.match(r"Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/", line)
    if m: pcs[int(m.group(1), 16)] += 1
syms = []
for l in subprocess.run(["llvm-nm", "-S", "-C", "--defined-only", elf], capture_output=True, text=True).stdout.splitlines():
    p = l.split(None, 3)
    if len(p) == 4 and p[2] in "tTW":
        syms.append((int(p[0], 16) & ~1, int(p[1], 16), p[3]))
syms.sort()
import bisect
starts = [s[0] for s in syms]
def sym(pc):
    i = bisect.bisect_right(starts, pc) - 1
    if i >= 0 and pc < syms[i][0] + max(syms[i][1], 1): return syms[i][2]
    return "?"
fn = collections.Counter()
for pc, c in pcs.items(): fn[sym(pc)] += c
tot = sum(pcs.values())
print("total", tot)
for f, c in fn.most_common(n): print(f"{c:9d} {100*c/tot:5.1f}% {f[:110]}")
addrs = sorted(pcs)
out = subprocess.run(["llvm-addr2line", "-e", elf, "-a", "-C", "-f", "-i"], input="\n".join(hex(a) for a in addrs), capture_output=True, text=True).stdout
cur=None; first={}
lines = out.splitlines(); i=0
while i < len(lines):
    if lines[i].startswith("0x"):
        cur = int(lines[i],16); first[cur]=None; i+=1; continue
    loc = lines[i+1] if i+1 < len(lines) else ""
    if first[cur] is None and "/src/" in loc and "/rustc/" not in loc:
        first[cur] = re.sub(r"^.*?/((runtime|firmware|protocol)/src/)", r"\1", loc).split(" ")[0]
    i += 2
ln = collections.Counter()
for pc, c in pcs.items(): ln[first.get(pc) or "?"] += c
print("--- lines")
for f, c in ln.most_common(n): print(f"{c:9d} {100*c/tot:5.1f}% {f}")
