//! The padded copy of a map (`math::pad_planes`' values in `vldmia`/`vstmia` runs).

use core::arch::global_asm;

/// What the padded copy reads besides its pointers (`#[repr(C)]`, offsets fixed in the asm).
#[repr(C)]
struct PadGeometry {
    /// Planes (channels), > 0.
    planes: u32,
    /// Rows of a plane, > 0.
    rows: u32,
    /// Values of a row.
    width: u32,
    /// Zero columns left and right of each row.
    left: u32,
    /// Zero values above (and below) each plane: padded rows x padded row length.
    top: u32,
}

/// r12 values (clobbered) of r0's words (post-incremented) to r1: sixteen at a time through
/// s0-s15 (caller-saved) while as many are left (the count's low four bits survive the
/// subtractions of 16), then eight, four, two and one by the bits of what is left (`lsls #29`:
/// carry = bit 3, negative = bit 2; `lsls #31`: bits 1 and 0), without a loop: a row of 8 costs
/// 9 instructions. Labels 1-5 (local); lr clobbered.
macro_rules! copy_run {
    () => {
        "    subs r12, r12, #16
    blo 2f
1:
    vldmia r0!, {{s0-s15}}
    vstmia r1!, {{s0-s15}}
    subs r12, r12, #16
    bhs 1b
2:
    lsls lr, r12, #29
    bcc 3f
    vldmia r0!, {{s0-s7}}
    vstmia r1!, {{s0-s7}}
3:
    bpl 4f
    vldmia r0!, {{s0-s3}}
    vstmia r1!, {{s0-s3}}
4:
    ands lr, r12, #3
    beq 5f
    lsls lr, r12, #31
    itt cs
    vldmiacs r0!, {{s0-s1}}
    vstmiacs r1!, {{s0-s1}}
    itt mi
    vldmiami r0!, {{s0}}
    vstmiami r1!, {{s0}}
5:
"
    };
}
/// r12 zeros (clobbered) to r1 (post-incremented): four at a time from r8-r11, then the last
/// two and one by the bits of what is left (`lsls #31`: carry = bit 1, negative = bit 0),
/// without a loop: a gap of two zeros between rows costs 7 instructions. Labels 1-2 (local).
macro_rules! zero_run {
    () => {
        "1:
    cmp r12, #4
    blo 2f
    stmia r1!, {{r8, r9, r10, r11}}
    subs r12, r12, #4
    b 1b
2:
    lsls r12, r12, #31
    it cs
    strdcs r8, r9, [r1], #8
    it mi
    strmi r8, [r1], #4
"
    };
}

/// A padded copy of a map of floats, `$name`: each plane's rows above, its rows with their zero
/// columns, its rows below, every value written once (the zeros between two rows, and below
/// one plane and above the next, in one run each), sixteen values at a time by
/// `vldmia`/`vstmia`; `$gap` writes the zeros between two rows, `$row` copies a row (r4 values).
/// r0 = the map, r1 = the padded map, r2 = the [`PadGeometry`]; r5 = the zeros between two
/// rows, r6 = those above a plane's first value (and below its last).
macro_rules! pad_kernel {
    ($name:literal, $gap:expr) => {
        pad_kernel!($name, $gap, concat!("    mov r12, r4\n", copy_run!()));
    };
    ($name:literal, $gap:expr, $row:expr) => {
        global_asm!(concat!(
            asm_fn_start!($name),
            "    push {{r4, r5, r6, r7, r8, r9, r10, r11, lr}}
    ldr r6, [r2, #16]
    ldm r2, {{r2, r3, r4, r5}}
    movs r8, #0
    movs r9, #0
    movs r10, #0
    movs r11, #0
    add r6, r6, r5
    lsl r5, r5, #1
7:
    mov r12, r6
",
            zero_run!(),
            "    mov r7, r3
    b 8f
0:
",
            $gap,
            "8:
",
            $row,
            "    subs r7, r7, #1
    bne 0b
    mov r12, r6
",
            zero_run!(),
            "    subs r2, r2, #1
    bne 7b
    pop {{r4, r5, r6, r7, r8, r9, r10, r11, pc}}
",
            asm_fn_end!($name)
        ));
    };
}

// Any padding: a row of 8 costs its copy (9 instructions), its run of zeros (7 for two, 12
// for four) and the loop (3), where the portable loop (`math::pad_planes`) took 68 and a
// `memclr` of the whole map.
pad_kernel!("fewshot_pad_f32", concat!("    mov r12, r5\n", zero_run!()));
// One zero column either side (padding 1, the usual): the two zeros between rows are one
// `strd`, 13 instructions for a row of 8.
pad_kernel!("fewshot_pad1_f32", "    strd r8, r9, [r1], #8\n");
// Padding 1 around rows of 16 or 8 (the usual maps of small images): a row is one `vldmia` and
// one `vstmia`, 5 instructions with its gap and the loop.
pad_kernel!(
    "fewshot_pad1w16_f32",
    "    strd r8, r9, [r1], #8\n",
    "    vldmia r0!, {{s0-s15}}\n    vstmia r1!, {{s0-s15}}\n"
);
pad_kernel!(
    "fewshot_pad1w8_f32",
    "    strd r8, r9, [r1], #8\n",
    "    vldmia r0!, {{s0-s7}}\n    vstmia r1!, {{s0-s7}}\n"
);

extern "C" {
    fn fewshot_pad_f32(x: *const f32, p: *mut f32, g: *const PadGeometry);
    fn fewshot_pad1_f32(x: *const f32, p: *mut f32, g: *const PadGeometry);
    fn fewshot_pad1w16_f32(x: *const f32, p: *mut f32, g: *const PadGeometry);
    fn fewshot_pad1w8_f32(x: *const f32, p: *mut f32, g: *const PadGeometry);
}

/// Writes the planes of `x` (`[rows, columns]` each) into `p` with `padding` zeros around each
/// (`math::pad_planes`' values): true; false, with nothing written, unless `p` holds exactly
/// the padded planes and `x` the planes (then the caller's portable copy runs).
pub fn pad(x: &[f32], [h, w]: [usize; 2], [py, px]: [usize; 2], p: &mut [f32]) -> bool {
    let (hp, wp) = (h + 2 * py, w + 2 * px);
    let planes = x.len().checked_div(h * w).unwrap_or(0);
    let fits =
        planes > 0 && planes * h * w == x.len() && Some(p.len()) == planes.checked_mul(hp * wp);
    let g = (|| {
        Some(PadGeometry {
            planes: u32::try_from(planes).ok()?,
            rows: u32::try_from(h).ok().filter(|&r| r > 0)?,
            width: u32::try_from(w).ok()?,
            left: u32::try_from(px).ok()?,
            top: u32::try_from(py.checked_mul(wp)?).ok()?,
        })
    })();
    let (true, Some(g)) = (fits, g) else {
        return false;
    };
    // SAFETY: reads the `planes * h * w == x.len()` values of `x` and writes
    // `planes * (2 top + h (2 px + w)) = planes * hp * wp == p.len()` values of `p`, each
    // once, through r0 and r1 only (AAPCS-VFP; s0-s15 are caller-saved).
    unsafe {
        match (px, w) {
            (1, 16) => fewshot_pad1w16_f32(x.as_ptr(), p.as_mut_ptr(), &g),
            (1, 8) => fewshot_pad1w8_f32(x.as_ptr(), p.as_mut_ptr(), &g),
            (1, _) => fewshot_pad1_f32(x.as_ptr(), p.as_mut_ptr(), &g),
            _ => fewshot_pad_f32(x.as_ptr(), p.as_mut_ptr(), &g),
        }
    };
    true
}
