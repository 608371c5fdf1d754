#!/usr/bin/env python3
"""seg.py ELF LOG [N]: like prof.py, counting only the PCs between the first two zz_mark calls."""
import sys
from qemu_trace import Symbols, pcs_of, report

elf, log = sys.argv[1], sys.argv[2]
mark = Symbols(elf).address("zz_mark")
if mark is None:
    sys.exit(f"{elf} has no zz_mark symbol: build the marker binary (see README.md)")
report(elf, pcs_of(log, mark), int(sys.argv[3]) if len(sys.argv) > 3 else 40)
