#!/usr/bin/env python3
"""Attribute .text bytes of an ELF to runtime source files / functions via addr2line inlines.
usage: attr.py ELF  (prints per-file, per-function and outermost-function totals)"""
import subprocess, sys, re, collections
from qemu_trace import inline_frames
elf = sys.argv[1]
dis = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", "-j", ".text", elf], capture_output=True, text=True).stdout
addrs = [int(m.group(1), 16) for m in re.finditer(r"^\s*([0-9a-f]+):", dis, re.M)]
addrs.sort()
blocks = inline_frames(elf, addrs)
end = addrs[-1] + 4
files = collections.Counter(); funcs = collections.Counter(); outer = collections.Counter()
for k, a in enumerate(addrs):
    size = (addrs[k+1] if k+1 < len(addrs) else end) - a
    fr = blocks.get(a, [])
    key = None
    for fn, loc in fr:
        if "/runtime/src/" in loc:
            key = (loc.split("/runtime/src/")[1].split(":")[0], fn); break
    if key is None:
        loc = fr[0][1] if fr else "?"
        m = re.search(r"/(?:registry/src/[^/]+/)?([A-Za-z0-9_.-]+)-[0-9][^/]*/", loc)
        if "/rustc/" in loc: crate = "core:" + loc.split("library/")[-1].split(":")[0]
        elif m: crate = m.group(1)
        else: crate = loc.split(":")[0][-50:]
        key = (crate, fr[0][0] if fr else "?")
    files[key[0]] += size; funcs[key] += size
    outer[(fr[-1][0][:90] if fr else "?")] += size
print("total", sum(files.values()))
for f, s in files.most_common(45): print(f"{s:7d} {f}")
print("--- functions")
for f, s in funcs.most_common(45): print(f"{s:7d} {f[0]} :: {f[1][:100]}")
print("--- outermost")
for f, s in outer.most_common(25): print(f"{s:7d} {f}")
