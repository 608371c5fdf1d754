#!/usr/bin/env python3
"""prof.py ELF LOG [N]: executed instructions per function (symbol) and per runtime source line."""
import sys
from qemu_trace import pcs_of, report

elf, log = sys.argv[1], sys.argv[2]
report(elf, pcs_of(log), int(sys.argv[3]) if len(sys.argv) > 3 else 40)
