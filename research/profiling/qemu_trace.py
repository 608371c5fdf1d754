"""Shared helpers of the profiling scripts: the QEMU exec log, the ELF's symbols and source lines."""
import bisect, collections, re, subprocess

TRACE = re.compile(r"Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/")


def pcs_of(log, mark=None):
    """Executed PCs and their counts; with `mark`, only those between its first two calls."""
    pcs = collections.Counter()
    inside, marks = mark is None, 0
    for line in open(log):
        m = TRACE.match(line)
        if not m:
            continue
        pc = int(m.group(1), 16)
        if mark is not None and pc == mark:
            marks += 1
            inside = marks == 1
            continue
        if inside:
            pcs[pc] += 1
    return pcs


class Symbols:
    """The ELF's defined text symbols, looked up by address."""

    def __init__(self, elf):
        nm = subprocess.run(["llvm-nm", "-S", "-C", "--defined-only", elf], capture_output=True, text=True).stdout
        self.syms = []
        for l in nm.splitlines():
            p = l.split(None, 3)
            if len(p) == 4 and p[2] in "tTW":
                self.syms.append((int(p[0], 16) & ~1, int(p[1], 16), p[3]))
        self.syms.sort()
        self.starts = [s[0] for s in self.syms]

    def address(self, name):
        return next((a for a, _, n in self.syms if n == name), None)

    def name(self, pc):
        i = bisect.bisect_right(self.starts, pc) - 1
        if i >= 0 and pc < self.syms[i][0] + max(self.syms[i][1], 1):
            return self.syms[i][2]
        return "?"


def inline_frames(elf, addrs):
    """Each address's inline chain, innermost first: [(function, location), ...]."""
    out = subprocess.run(["llvm-addr2line", "-e", elf, "-a", "-C", "-f", "-i"],
                         input="\n".join(hex(a) for a in addrs), capture_output=True, text=True).stdout
    frames, cur, lines, i = {}, None, out.splitlines(), 0
    while i < len(lines):
        if lines[i].startswith("0x"):
            cur = int(lines[i], 16)
            frames[cur] = []
            i += 1
            continue
        frames[cur].append((lines[i], lines[i + 1] if i + 1 < len(lines) else ""))
        i += 2
    return frames


def first_project_line(frames):
    """The first frame of the chain in the project's own sources, as `crate/src/file.rs:line`."""
    for _, loc in frames:
        if "/src/" in loc and "/rustc/" not in loc:
            return re.sub(r"^.*?/((runtime|firmware|protocol)/src/)", r"\1", loc).split(" ")[0]
    return None


def report(elf, pcs, n):
    """Print the total, the top `n` functions and the top `n` source lines."""
    syms = Symbols(elf)
    fn = collections.Counter()
    for pc, c in pcs.items():
        fn[syms.name(pc)] += c
    tot = sum(pcs.values())
    print("total", tot)
    for f, c in fn.most_common(n):
        print(f"{c:9d} {100*c/tot:5.1f}% {f[:120]}")
    frames = inline_frames(elf, sorted(pcs))
    ln = collections.Counter()
    for pc, c in pcs.items():
        ln[first_project_line(frames.get(pc, [])) or "?"] += c
    print("--- lines")
    for f, c in ln.most_common(n):
        print(f"{c:9d} {100*c/tot:5.1f}% {f}")
