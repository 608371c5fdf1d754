//! Cortex-M4F/M7 (hard-float) kernels: `vldmia` loads eight floats in one instruction, so the
//! inner loops reach about 1.2 (four rows at a time) to 1.3 (two) instructions per
//! multiply-accumulate.
//!
//! They perform exactly the operations of the portable code, in the same order: one `vmla.f32`
//! (multiply, round, add, round: not fused) per term, accumulated sequentially. Results are
//! therefore bit-identical to the portable kernels on any IEEE-754 target.
//!
//! The kernels of [`super::dense`] for a ReLU layer apply it as they store, with the integer
//! `bic` of [`super::activate`] (each value whose sign bit is set becomes +0): the same bits as
//! the activation applied afterwards.
//!
//! They are plain AAPCS-VFP functions (`global_asm!`): pointers and the chunk count in r0-r3,
//! accumulators in s0/s1, callee-saved s16-s31 saved and restored.

use core::arch::global_asm;

/// Two rows' terms of one chunk of 8 inputs (in s8-s15): `$a += s16..s23 x`, `$b += s24..s31
/// x`, each sequentially.
macro_rules! two_rows_of_8 {
    ($a:literal, $b:literal) => {
        concat!(
            "    vmla.f32 ",
            $a,
            ", s16, s8\n",
            "    vmla.f32 ",
            $a,
            ", s17, s9\n",
            "    vmla.f32 ",
            $a,
            ", s18, s10\n",
            "    vmla.f32 ",
            $a,
            ", s19, s11\n",
            "    vmla.f32 ",
            $a,
            ", s20, s12\n",
            "    vmla.f32 ",
            $a,
            ", s21, s13\n",
            "    vmla.f32 ",
            $a,
            ", s22, s14\n",
            "    vmla.f32 ",
            $a,
            ", s23, s15\n",
            "    vmla.f32 ",
            $b,
            ", s24, s8\n",
            "    vmla.f32 ",
            $b,
            ", s25, s9\n",
            "    vmla.f32 ",
            $b,
            ", s26, s10\n",
            "    vmla.f32 ",
            $b,
            ", s27, s11\n",
            "    vmla.f32 ",
            $b,
            ", s28, s12\n",
            "    vmla.f32 ",
            $b,
            ", s29, s13\n",
            "    vmla.f32 ",
            $b,
            ", s30, s14\n",
            "    vmla.f32 ",
            $b,
            ", s31, s15\n",
        )
    };
}

/// A dense layer's rows in pairs: `y[2p + r] = b[2p + r] + sum_j W[2p + r][j] x[j]`, with
/// `$store` writing the pair `(s0, s1)` to `y` (post-incrementing r3; r8 and r12 are free there).
/// r0 = W (row-major, rows of 8 * chunks floats), r1 = b, r2 = x, r3 = y,
/// [sp] = pairs (> 0), [sp + 4] = chunks (> 0).
macro_rules! dense2 {
    ($name:literal, $store:literal) => {
        concat!(
            asm_fn_start!($name),
            "    push {{r4, r5, r6, r7, r8, lr}}
    ldr r4, [sp, #24]
    ldr r5, [sp, #28]
    vpush {{s16-s31}}
    lsl r6, r5, #5
2:
    vldmia r1!, {{s0-s1}}
    add r7, r0, r6
    mov r8, r2
    mov r12, r5
1:
    vldmia r8!, {{s8-s15}}
    vldmia r0!, {{s16-s23}}
    vldmia r7!, {{s24-s31}}
",
            two_rows_of_8!("s0", "s1"),
            "    subs r12, r12, #1
    bne 1b
",
            $store,
            "
    mov r0, r7
    subs r4, r4, #1
    bne 2b
    vpop {{s16-s31}}
    pop {{r4, r5, r6, r7, r8, pc}}
",
            asm_fn_end!($name)
        )
    };
}

/// A dense layer's rows four at a time: `y[4q + r] = b[4q + r] + sum_j W[4q + r][j] x[j]`, with
/// `$store` writing `(s0, s1, s2, s3)` to `y` (post-incrementing r3; r8 and r12 are free there).
/// Each chunk of 8 inputs is loaded once for four rows (39 instructions per 32 multiply-adds
/// instead of `dense2!`'s 42). r0 = W (row-major, rows of 8 * chunks floats), r1 = b, r2 = x,
/// r3 = y, [sp] = quads (> 0), [sp + 4] = chunks (> 0).
macro_rules! dense4 {
    ($name:literal, $store:literal) => {
        concat!(
            asm_fn_start!($name),
            "    push {{r4, r5, r6, r7, r8, r9, r10, lr}}
    ldr r4, [sp, #32]
    ldr r5, [sp, #36]
    vpush {{s16-s31}}
    lsl r6, r5, #5
2:
    vldmia r1!, {{s0-s3}}
    add r7, r0, r6
    add r9, r7, r6
    add r10, r9, r6
    mov r8, r2
    mov r12, r5
1:
    vldmia r8!, {{s8-s15}}
    vldmia r0!, {{s16-s23}}
    vldmia r7!, {{s24-s31}}
",
            two_rows_of_8!("s0", "s1"),
            "    vldmia r9!, {{s16-s23}}
    vldmia r10!, {{s24-s31}}
",
            two_rows_of_8!("s2", "s3"),
            "    subs r12, r12, #1
    bne 1b
",
            $store,
            "
    mov r0, r10
    subs r4, r4, #1
    bne 2b
    vpop {{s16-s31}}
    pop {{r4, r5, r6, r7, r8, r9, r10, pc}}
",
            asm_fn_end!($name)
        )
    };
}

global_asm!(
    ".syntax unified",
    ".thumb",
    ".fpu fpv4-sp-d16",
    ".section .text.fewshot_dot1_f32,\"ax\",%progbits",
    ".global fewshot_dot1_f32",
    ".type fewshot_dot1_f32,%function",
    ".thumb_func",
    ".p2align 2",
    "fewshot_dot1_f32:",
    "    vpush {{s16-s23}}",
    "1:",
    "    vldmia r1!, {{s8-s15}}",
    "    vldmia r0!, {{s16-s23}}",
    "    vmla.f32 s0, s16, s8",
    "    vmla.f32 s0, s17, s9",
    "    vmla.f32 s0, s18, s10",
    "    vmla.f32 s0, s19, s11",
    "    vmla.f32 s0, s20, s12",
    "    vmla.f32 s0, s21, s13",
    "    vmla.f32 s0, s22, s14",
    "    vmla.f32 s0, s23, s15",
    "    subs r2, r2, #1",
    "    bne 1b",
    "    vpop {{s16-s23}}",
    "    bx lr",
    ".size fewshot_dot1_f32, . - fewshot_dot1_f32",
    "",
    ".section .text.fewshot_dot2_f32,\"ax\",%progbits",
    ".global fewshot_dot2_f32",
    ".type fewshot_dot2_f32,%function",
    ".thumb_func",
    ".p2align 2",
    "fewshot_dot2_f32:",
    "    vpush {{s16-s31}}",
    "1:",
    "    vldmia r2!, {{s8-s15}}",
    "    vldmia r0!, {{s16-s23}}",
    "    vldmia r1!, {{s24-s31}}",
    two_rows_of_8!("s0", "s1"),
    "    subs r3, r3, #1",
    "    bne 1b",
    "    vpop {{s16-s31}}",
    "    bx lr",
    ".size fewshot_dot2_f32, . - fewshot_dot2_f32",
    "",
    // r0 = acc (8 floats, read and written), r1 = s, r2 = v, r3 = n (> 0),
    // [sp] = s stride in bytes, [sp + 4] = v stride in bytes.
    ".section .text.fewshot_axpy8_f32,\"ax\",%progbits",
    ".global fewshot_axpy8_f32",
    ".type fewshot_axpy8_f32,%function",
    ".thumb_func",
    ".p2align 2",
    "fewshot_axpy8_f32:",
    "    push {{r4, r5}}",
    "    ldr r4, [sp, #8]",
    "    ldr r5, [sp, #12]",
    "    vpush {{s16-s23}}",
    "    vldmia r0, {{s0-s7}}",
    "1:",
    "    vldr s8, [r1]",
    "    add r1, r1, r4",
    "    vldmia r2, {{s16-s23}}",
    "    add r2, r2, r5",
    "    vmla.f32 s0, s8, s16",
    "    vmla.f32 s1, s8, s17",
    "    vmla.f32 s2, s8, s18",
    "    vmla.f32 s3, s8, s19",
    "    vmla.f32 s4, s8, s20",
    "    vmla.f32 s5, s8, s21",
    "    vmla.f32 s6, s8, s22",
    "    vmla.f32 s7, s8, s23",
    "    subs r3, r3, #1",
    "    bne 1b",
    "    vstmia r0, {{s0-s7}}",
    "    vpop {{s16-s23}}",
    "    pop {{r4, r5}}",
    "    bx lr",
    ".size fewshot_axpy8_f32, . - fewshot_axpy8_f32",
    "",
    // A one-input layer with the ReLU, four rows at a time: y[i] = max(0, b[i] + W[i] x0) (the
    // ReLU as in `fewshot_dense2_relu_f32`). r0 = W, r1 = b, r2 = y, r3 = quads (> 0), s0 = x0.
    ".section .text.fewshot_column_relu_f32,\"ax\",%progbits",
    ".global fewshot_column_relu_f32",
    ".type fewshot_column_relu_f32,%function",
    ".thumb_func",
    ".p2align 2",
    "fewshot_column_relu_f32:",
    "    push {{r4, r5, r6, r7}}",
    "1:",
    "    vldmia r1!, {{s4-s7}}",
    "    vldmia r0!, {{s8-s11}}",
    "    vmla.f32 s4, s8, s0",
    "    vmla.f32 s5, s9, s0",
    "    vmla.f32 s6, s10, s0",
    "    vmla.f32 s7, s11, s0",
    "    vmov r4, r5, s4, s5",
    "    vmov r6, r7, s6, s7",
    "    bic r4, r4, r4, asr #31",
    "    bic r5, r5, r5, asr #31",
    "    bic r6, r6, r6, asr #31",
    "    bic r7, r7, r7, asr #31",
    "    stmia r2!, {{r4, r5, r6, r7}}",
    "    subs r3, r3, #1",
    "    bne 1b",
    "    pop {{r4, r5, r6, r7}}",
    "    bx lr",
    ".size fewshot_column_relu_f32, . - fewshot_column_relu_f32",
    "",
    dense2!("fewshot_dense2_f32", "    vstmia r3!, {{s0-s1}}"),
    "",
    // The same rows with the ReLU applied as they are stored: two integer `bic`s clear each
    // value whose sign bit is set, exactly as `activate(Relu, _)` does.
    dense2!(
        "fewshot_dense2_relu_f32",
        "    vmov r8, r12, s0, s1
    bic r8, r8, r8, asr #31
    bic r12, r12, r12, asr #31
    stmia r3!, {{r8, r12}}"
    ),
    "",
    dense4!("fewshot_dense4_f32", "    vstmia r3!, {{s0-s3}}"),
    "",
    dense4!(
        "fewshot_dense4_relu_f32",
        "    vmov r8, r12, s0, s1
    bic r8, r8, r8, asr #31
    bic r12, r12, r12, asr #31
    stmia r3!, {{r8, r12}}
    vmov r8, r12, s2, s3
    bic r8, r8, r8, asr #31
    bic r12, r12, r12, asr #31
    stmia r3!, {{r8, r12}}"
    ),
);

/// Two floats, returned in s0/s1 by the AAPCS-VFP.
#[repr(C)]
struct Pair(f32, f32);

extern "C" {
    fn fewshot_dot1_f32(w: *const f32, x: *const f32, chunks: usize, acc: f32) -> f32;
    fn fewshot_axpy8_f32(
        acc: *mut f32,
        s: *const f32,
        v: *const f32,
        n: usize,
        s_stride: usize,
        v_stride: usize,
    );
    fn fewshot_dense2_f32(
        w: *const f32,
        b: *const f32,
        x: *const f32,
        y: *mut f32,
        pairs: usize,
        chunks: usize,
    );
    fn fewshot_column_relu_f32(w: *const f32, b: *const f32, y: *mut f32, quads: usize, x0: f32);
    fn fewshot_dense2_relu_f32(
        w: *const f32,
        b: *const f32,
        x: *const f32,
        y: *mut f32,
        pairs: usize,
        chunks: usize,
    );
    fn fewshot_dense4_f32(
        w: *const f32,
        b: *const f32,
        x: *const f32,
        y: *mut f32,
        quads: usize,
        chunks: usize,
    );
    fn fewshot_dense4_relu_f32(
        w: *const f32,
        b: *const f32,
        x: *const f32,
        y: *mut f32,
        quads: usize,
        chunks: usize,
    );
    fn fewshot_dot2_f32(
        w0: *const f32,
        w1: *const f32,
        x: *const f32,
        chunks: usize,
        acc0: f32,
        acc1: f32,
    ) -> Pair;
}

/// `acc += sum_j w[j] * x[j]` for `j` in `0..8 * chunks`, sequentially.
#[inline(always)]
pub fn dot1(acc: f32, w: &[f32], x: &[f32], chunks: usize) -> f32 {
    let n = 8 * chunks;
    if chunks == 0 || w.len() < n || x.len() < n {
        return acc;
    }
    // SAFETY: both pointers are valid for `8 * chunks` reads (checked above); the function
    // reads only through them and follows the AAPCS-VFP.
    unsafe { fewshot_dot1_f32(w.as_ptr(), x.as_ptr(), chunks, acc) }
}

/// `acc[r] += sum_j w_r[j] * x[j]` for `j` in `0..8 * chunks`, sequentially, for two rows.
#[inline(always)]
pub fn dot2(acc: [f32; 2], w0: &[f32], w1: &[f32], x: &[f32], chunks: usize) -> [f32; 2] {
    let n = 8 * chunks;
    if chunks == 0 || w0.len() < n || w1.len() < n || x.len() < n {
        return acc;
    }
    // SAFETY: as in `dot1`, for three pointers.
    let Pair(a, b) =
        unsafe { fewshot_dot2_f32(w0.as_ptr(), w1.as_ptr(), x.as_ptr(), chunks, acc[0], acc[1]) };
    [a, b]
}

/// `acc[c] += sum_t s[t * ss] * v[t * vs + c]` for `c < 8`, `t < n`, sequentially in `t`.
/// Returns false (doing nothing) when the slices are too short.
#[inline(always)]
pub fn axpy8(acc: &mut [f32; 8], s: &[f32], ss: usize, v: &[f32], vs: usize, n: usize) -> bool {
    if n == 0 {
        return true;
    }
    let last = n - 1;
    let s_ok = last.checked_mul(ss).is_some_and(|i| i < s.len());
    let v_ok = last
        .checked_mul(vs)
        .and_then(|i| i.checked_add(8))
        .is_some_and(|end| end <= v.len());
    let strides_ok = ss.checked_mul(4).is_some() && vs.checked_mul(4).is_some();
    if !(s_ok && v_ok && strides_ok) {
        return false;
    }
    // SAFETY: every read lies within `s` and `v` (checked above); `acc` is 8 writable floats.
    unsafe { fewshot_axpy8_f32(acc.as_mut_ptr(), s.as_ptr(), v.as_ptr(), n, 4 * ss, 4 * vs) };
    true
}

/// `y[i] = max(0, b[i] + W[i] x0)` (the ReLU as [`super::activate`] applies it) for the first
/// `4 * (y.len() / 4)` rows, when `w` and `b` hold as many; returns how many rows it wrote.
#[inline(always)]
pub fn column_relu(w: &[f32], b: &[f32], x0: f32, y: &mut [f32]) -> usize {
    let quads = y.len() / 4;
    if quads == 0 || w.len() < 4 * quads || b.len() < 4 * quads {
        return 0;
    }
    // SAFETY: `w`, `b` and `y` hold at least `4 * quads` floats (checked above); the function
    // reads `w` and `b` and writes `y` only there, and follows the AAPCS-VFP.
    unsafe { fewshot_column_relu_f32(w.as_ptr(), b.as_ptr(), y.as_mut_ptr(), quads, x0) };
    4 * quads
}

/// `y[i] = b[i] + sum_j W[i][j] x[j]` for every row, then the ReLU when `relu` (none otherwise),
/// when `x.len()` is a non-zero multiple of 8 and the slices agree; returns false (doing
/// nothing) otherwise.
#[inline(always)]
pub fn dense_linear(w: &[f32], b: &[f32], x: &[f32], y: &mut [f32], relu: bool) -> bool {
    let n = x.len();
    let rows = y.len();
    if n == 0 || !n.is_multiple_of(8) || b.len() != rows || rows.checked_mul(n) != Some(w.len()) {
        return false;
    }
    rows_of(&Plan::of(w, b, n, rows), w, b, x, y, relu);
    true
}

/// How [`rows_of`] runs a layer's rows (found once a layer, not once a sample): four at a
/// time, then a pair, then the odd last row (its weights and bias).
struct Plan<'w> {
    quads: usize,
    pair: bool,
    chunks: usize,
    last: Option<(&'w [f32], f32)>,
}

impl<'w> Plan<'w> {
    /// For a layer whose shapes the caller checked: `x.len() = n` a non-zero multiple of 8, `b`
    /// one value a row, `w` `rows x n`.
    #[inline(always)]
    fn of(w: &'w [f32], b: &[f32], n: usize, rows: usize) -> Self {
        let last = match rows % 2 {
            1 => w.get((rows - 1) * n..).zip(b.get(rows - 1).copied()),
            _ => None,
        };
        Plan {
            quads: rows / 4,
            pair: rows % 4 >= 2,
            chunks: n / 8,
            last,
        }
    }
}

/// The rows of [`dense_linear`] for one sample, as `p` (made for these `w`, `b` and widths)
/// says.
#[inline(always)]
fn rows_of(p: &Plan, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32], relu: bool) {
    if p.quads > 0 {
        let kernel = match relu {
            true => fewshot_dense4_relu_f32,
            false => fewshot_dense4_f32,
        };
        // SAFETY: `w` holds `rows * n` floats, `b` and `y` `rows`, `x` `n` (the caller's
        // checks); the function reads `4 * quads <= rows` rows and writes as many outputs.
        unsafe {
            kernel(
                w.as_ptr(),
                b.as_ptr(),
                x.as_ptr(),
                y.as_mut_ptr(),
                p.quads,
                p.chunks,
            )
        };
    }
    if p.pair {
        let at = 4 * p.quads;
        let kernel = match relu {
            true => fewshot_dense2_relu_f32,
            false => fewshot_dense2_f32,
        };
        // SAFETY: rows `at` and `at + 1` exist (`rows % 4 >= 2`, `at = rows - rows % 4`), so
        // their weights, biases and outputs lie within the checked slices; one pair is read
        // and written.
        unsafe {
            kernel(
                w.as_ptr().add(at * 8 * p.chunks),
                b.as_ptr().add(at),
                x.as_ptr(),
                y.as_mut_ptr().add(at),
                1,
                p.chunks,
            )
        };
    }
    if let (Some((row, bias)), Some(out)) = (p.last, y.last_mut()) {
        let z = dot1(bias, row, x, p.chunks);
        *out = if relu {
            super::activate(crate::Activation::Relu, z)
        } else {
            z
        };
    }
}

/// [`dense_linear`] for every sample (rows of `ni` floats in `xs`, of `no` in `ys`) with the
/// bounds checked once, when `ni` is a non-zero multiple of 8 and the slices agree; returns
/// false (doing nothing) otherwise.
#[inline(always)]
pub fn dense_linear_batch(
    w: &[f32],
    b: &[f32],
    xs: &[f32],
    ys: &mut [f32],
    ni: usize,
    no: usize,
) -> bool {
    let samples = xs.len() / ni.max(1);
    let shapes_ok = ni > 0
        && ni.is_multiple_of(8)
        && no > 0
        && b.len() == no
        && no.checked_mul(ni) == Some(w.len())
        && xs.len() == samples * ni
        && no.checked_mul(samples) == Some(ys.len());
    if !shapes_ok {
        return false;
    }
    let plan = Plan::of(w, b, ni, no);
    for (x, y) in xs.chunks_exact(ni).zip(ys.chunks_exact_mut(no)) {
        rows_of(&plan, w, b, x, y, false);
    }
    true
}
