//! A guard below the stack. `memory.x` puts the stack at the start of the RAM, below the
//! statics (as flip-link does), so a stack that overflows leaves the RAM instead of running
//! into the statics; [`install`] makes the megabyte below the RAM an MPU region no code may
//! read or write, so the overflow faults there (QEMU's mps2 machines leave that range
//! unmapped, reading 0 and ignoring writes: the run would carry on with zeros). The run stops:
//! QEMU reports a lockup, since the fault cannot push its frame either. [`crate::init`]
//! installs it.

/// Bytes of the guard (1 MiB: a power of two, and a multiple of it ends at the RAM's start).
const GUARD: usize = 1 << 20;

/// The lowest address the stack may use.
pub fn floor() -> usize {
    crate::arch::stack_floor()
}

/// Makes the guard a no-access region (MPU region 0, the default memory map elsewhere).
pub fn install() {
    let start = floor().saturating_sub(GUARD);
    // SAFETY: the MPU's registers, written once at start-up before anything relies on them;
    // region 0 covers only the megabyte below the RAM (no code, data or device of the
    // firmware), and PRIVDEFENA keeps the default map for every other address.
    unsafe {
        let mpu = &*cortex_m::peripheral::MPU::PTR;
        // SIZE field n: 2^(n + 1) bytes.
        let size = GUARD.trailing_zeros() - 1;
        mpu.rnr.write(0);
        mpu.rbar.write(start as u32);
        // XN, AP = 0b000 (no access), SIZE, ENABLE.
        mpu.rasr.write((1 << 28) | (size << 1) | 1);
        // ENABLE, PRIVDEFENA.
        mpu.ctrl.write(0b101);
        cortex_m::asm::dsb();
        cortex_m::asm::isb();
    }
}
