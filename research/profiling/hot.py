#!/usr/bin/env python3
"""hot.py ELF SYMBOL [LOG]: the disassembly of the function whose name contains SYMBOL, each
executed instruction with its count in the QEMU exec log (default /tmp/exec.log)."""
import re, subprocess, sys
from qemu_trace import pcs_of

elf, sym = sys.argv[1], sys.argv[2]
pcs = pcs_of(sys.argv[3] if len(sys.argv) > 3 else "/tmp/exec.log")
names = subprocess.run(["llvm-nm", elf], capture_output=True, text=True).stdout
full = [l.split()[-1] for l in names.splitlines() if sym in l][0]
dis = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", "--disassemble-symbols=" + full, elf],
                     capture_output=True, text=True).stdout
for l in dis.splitlines():
    m = re.match(r"\s*([0-9a-f]+):", l)
    if m and pcs.get(int(m.group(1), 16), 0):
        print(f"{pcs[int(m.group(1), 16)]:>7} {l}")
