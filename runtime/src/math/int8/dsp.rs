//! Cortex-M4 DSP instructions as functions, with portable equivalents that give the same
//! integers on every target: `SXTB16` (bytes 0 and 2 of a word, or with `ror #8` bytes 1 and
//! 3, sign-extended into two int16 lanes), `SXTAB16` (the same added to two int16 lanes,
//! each lane wrapping) and `SMLAD` (two 16 x 16-bit products added to an accumulator; the low
//! 32 bits of the exact sum, which is wrapping addition). On the
//! Cortex-M4F (`cfg(m4f_kernels)`) each is one instruction in inline `asm!`, so the compiler
//! allocates the registers of the loops around them.
//!
//! ```
//! use fewshot_runtime::math::int8::dsp::{smlad, sxtab16, sxtab16_ror8, sxtb16, sxtb16_ror8};
//! let x = u32::from_le_bytes([1, 0xfe, 3, 4]); // 1, -2, 3, 4
//! assert_eq!(sxtb16(x), 1 | 3 << 16);
//! assert_eq!(sxtb16_ror8(x), 0xfffe | 4 << 16);
//! assert_eq!(smlad(sxtb16(x), 2 | 10 << 16, 5), 5 + 1 * 2 + 3 * 10);
//! // 100 added to each lane: 101, 103 and 98, 104.
//! let hundred = 100 | 100 << 16;
//! assert_eq!((sxtab16(hundred, x), sxtab16_ror8(hundred, x)), (101 | 103 << 16, 98 | 104 << 16));
//! ```

use super::pack::{lanes, pair};

/// Bytes 0 and 2 of `x`, sign-extended, in the low and high int16 lanes.
#[inline(always)]
pub fn sxtb16(x: u32) -> u32 {
    #[cfg(m4f_kernels)]
    {
        let r: u32;
        // SAFETY: one register-to-register instruction; no memory, stack or flags.
        unsafe {
            core::arch::asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(m4f_kernels))]
    {
        pair(i16::from(x as u8 as i8), i16::from((x >> 16) as u8 as i8))
    }
}

/// Bytes 1 and 3 of `x`, sign-extended, in the low and high int16 lanes.
#[inline(always)]
pub fn sxtb16_ror8(x: u32) -> u32 {
    #[cfg(m4f_kernels)]
    {
        let r: u32;
        // SAFETY: one register-to-register instruction; no memory, stack or flags.
        unsafe {
            core::arch::asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(m4f_kernels))]
    {
        sxtb16(x.rotate_right(8))
    }
}

/// `add`'s int16 lanes plus bytes 0 and 2 of `x`, sign-extended (each lane wrapping).
#[inline(always)]
pub fn sxtab16(add: u32, x: u32) -> u32 {
    #[cfg(m4f_kernels)]
    {
        let r: u32;
        // SAFETY: one register-to-register instruction; no memory, stack or flags.
        unsafe {
            core::arch::asm!("sxtab16 {r}, {a}, {x}", r = lateout(reg) r, a = in(reg) add,
                x = in(reg) x, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(m4f_kernels))]
    {
        let ((a0, a1), (x0, x1)) = (lanes(add), lanes(sxtb16(x)));
        pair((a0 + x0) as i16, (a1 + x1) as i16)
    }
}

/// `add`'s int16 lanes plus bytes 1 and 3 of `x`, sign-extended (each lane wrapping).
#[inline(always)]
pub fn sxtab16_ror8(add: u32, x: u32) -> u32 {
    #[cfg(m4f_kernels)]
    {
        let r: u32;
        // SAFETY: one register-to-register instruction; no memory, stack or flags.
        unsafe {
            core::arch::asm!("sxtab16 {r}, {a}, {x}, ror #8", r = lateout(reg) r,
                a = in(reg) add, x = in(reg) x, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(m4f_kernels))]
    {
        sxtab16(add, x.rotate_right(8))
    }
}

/// `acc + a.lo b.lo + a.hi b.hi` (int16 lanes), wrapping.
#[inline(always)]
pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    #[cfg(m4f_kernels)]
    {
        let _ = (lanes, pair);
        let r: i32;
        // SAFETY: one register-to-register instruction (it may set the sticky Q flag, which
        // nothing reads); no memory or stack.
        unsafe {
            core::arch::asm!("smlad {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a,
                b = in(reg) b, c = in(reg) acc, options(pure, nomem, nostack));
        }
        r
    }
    #[cfg(not(m4f_kernels))]
    {
        let ((a0, a1), (b0, b1)) = (lanes(a), lanes(b));
        acc.wrapping_add((a0 * b0).wrapping_add(a1 * b1))
    }
}
