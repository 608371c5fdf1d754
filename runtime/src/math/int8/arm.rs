//! Cortex-M4F kernels of [`super::kernel`]: the DSP extension's `SMLAD` (two 16 x 16-bit
//! products added to a 32-bit accumulator in one instruction) on weights widened by `SXTB16`
//! (bytes 0 and 2, or rotated by 8 bytes 1 and 3, sign-extended into two int16 lanes), as
//! CMSIS-NN's `arm_nn_mat_mult_kernel_s8_s16` does. Each instruction is one `asm!` statement;
//! the loops, loads and register allocation are the compiler's.
//!
//! The sums are the portable kernels' exactly: every product fits 32 bits and `SMLAD` keeps
//! the low 32 bits of the exact sum (it only sets the Q flag on overflow), which is the
//! portable code's wrapping addition; integer addition does not depend on the order.

use core::arch::asm;

/// `acc + a.lo * b.lo + a.hi * b.hi` (signed 16-bit lanes).
#[inline(always)]
fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: a register-only DSP instruction of the Cortex-M4 (ARMv7E-M).
    unsafe {
        asm!("smlad {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
             c = in(reg) acc, options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// Bytes 0 and 2 of `x` sign-extended into the low and high int16 lanes, and bytes 1 and 3
/// likewise (`SXTB16` and `SXTB16 ..., ROR #8`).
#[inline(always)]
fn sxtb16_pair(x: u32) -> (u32, u32) {
    let (even, odd): (u32, u32);
    // SAFETY: register-only DSP instructions of the Cortex-M4 (ARMv7E-M). `e` is written
    // before `x` is read again, so it must not share `x`'s register (`out`, not `lateout`).
    unsafe {
        asm!("sxtb16 {e}, {x}", "sxtb16 {o}, {x}, ror #8", e = out(reg) even,
             o = lateout(reg) odd, x = in(reg) x, options(pure, nomem, nostack, preserves_flags));
    }
    (even, odd)
}

/// Four weights as one little-endian word (one unaligned `LDR`).
#[inline(always)]
fn word(w: &[i8]) -> u32 {
    match w {
        [a, b, c, d, ..] => u32::from_le_bytes([*a as u8, *b as u8, *c as u8, *d as u8]),
        _ => 0,
    }
}

/// See [`super::kernel::dot_c1`]. Not inlined: the loop keeps its accumulators and pointers in
/// registers instead of sharing them with a large caller.
#[inline(never)]
pub fn dot_c1(w: &[i8], x: &[u32], acc: i32) -> i32 {
    w.chunks_exact(4)
        .zip(x.chunks_exact(2))
        .fold(acc, |a, (wb, xb)| {
            let (w02, w13) = sxtb16_pair(word(wb));
            smlad(w13, xb[1], smlad(w02, xb[0], a))
        })
}

/// See [`super::kernel::dot_r2c1`]. Not inlined: the loop keeps its accumulators and pointers in
/// registers instead of sharing them with a large caller.
#[inline(never)]
pub fn dot_r2c1(w0: &[i8], w1: &[i8], x: &[u32], acc: [i32; 2]) -> [i32; 2] {
    w0.chunks_exact(4)
        .zip(w1.chunks_exact(4))
        .zip(x.chunks_exact(2))
        .fold(acc, |[a0, a1], ((wa, wb), xb)| {
            let (x02, x13) = (xb[0], xb[1]);
            let (a02, a13) = sxtb16_pair(word(wa));
            let (b02, b13) = sxtb16_pair(word(wb));
            [
                smlad(a13, x13, smlad(a02, x02, a0)),
                smlad(b13, x13, smlad(b02, x02, a1)),
            ]
        })
}

/// See [`super::kernel::dot_c4`]. Inlined: out of line, its four accumulators go through memory.
#[inline(always)]
pub fn dot_c4(w: &[i8], x: &[u32], acc: [i32; 4]) -> [i32; 4] {
    w.chunks_exact(4)
        .zip(x.chunks_exact(8))
        .fold(acc, |[a0, a1, a2, a3], (wb, xb)| {
            let (w02, w13) = sxtb16_pair(word(wb));
            [
                smlad(w13, xb[1], smlad(w02, xb[0], a0)),
                smlad(w13, xb[3], smlad(w02, xb[2], a1)),
                smlad(w13, xb[5], smlad(w02, xb[4], a2)),
                smlad(w13, xb[7], smlad(w02, xb[6], a3)),
            ]
        })
}
