#!/bin/sh
# Flash (.text + .rodata over the `none` baseline) and verify instructions of each candidate
# Ed25519 verifier on the Cortex-M4F (mps2-an386, QEMU -icount shift=0), release, fat LTO.
set -e
cd "$(dirname "$0")"
for f in none compact salty dalek; do
    cargo build -q --release --features "$f" --target-dir "target/$f"
    elf="target/$f/thumbv7em-none-eabihf/release/verifier-compare"
    bytes=$(size -A "$elf" | awk '/^\.text|^\.rodata/ {s += $2} END {print s}')
    echo "$f: .text+.rodata $bytes bytes"
    cargo run -q --release --features "$f" --target-dir "target/$f" 2>/dev/null | grep instructions
done
