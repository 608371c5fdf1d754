//! f32 matrix products for the small shapes of meta-training (K = 5-25 rows, layers of 40-64
//! units), with AVX2 + FMA when the CPU has them: no packing and no buffer, where `gemm`'s
//! per-call packing and zeroed allocations cost more than the multiply-adds. Two row-major
//! patterns cover every product of the dense layers:
//! - **rows times rows** (`C = A B^T`, each output a dot product of two contiguous rows: the
//!   forward pass `X W^T`),
//! - **scaled rows** (`C_i = sum_p A[i, p] B_p`, B's rows contiguous: the backward pass `G W` and
//!   the weight gradient `G^T X`).
//!
//! [`matmul`] returns false for anything else (or without AVX2 + FMA), and the caller uses
//! `gemm`. The sums run in another order than `gemm`'s, so results differ from it at rounding
//! level (the same on every run of one machine).

/// `C (m x n) = A (m x k) B (k x n) (+ C when `accumulate`)`, strides `(row, column)` per
/// matrix. Returns false (nothing written) when the layout is not one of the two patterns or the
/// CPU lacks AVX2 + FMA. Panics when a slice is shorter than its shape and strides reach.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    accumulate: bool,
    c: &mut [f32],
    (rsc, csc): (usize, usize),
) -> bool {
    let span = |r: usize, cols: usize, rs: usize, cs: usize| {
        crate::real::span(r, cols, rs as isize, cs as isize)
    };
    assert!(
        a.len() >= span(m, k, rsa, csa)
            && b.len() >= span(k, n, rsb, csb)
            && c.len() >= span(m, n, rsc, csc),
        "matmul: a matrix is shorter than its shape and strides"
    );
    #[cfg(target_arch = "x86_64")]
    {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
            || csc != 1
        {
            return false;
        }
        if n == 1 && rsa == 1 && rsc == 1 {
            // A column of C: as a row, C^T = B^T A^T, A's columns contiguous over C's entries.
            // SAFETY: AVX2 and FMA are present; the assert above checked the strided spans
            // (one_row reads B at p * rsb, A at p * csa + i and writes C[i], i < m, p < k).
            unsafe {
                x86::one_row(
                    (b.as_ptr(), rsb),
                    a.as_ptr(),
                    csa,
                    accumulate,
                    c.as_mut_ptr(),
                    (k, m),
                )
            };
            return true;
        }
        if csb == 1 {
            // SAFETY: AVX2 and FMA are present; the assert above checked the strided spans.
            unsafe { x86::scaled_rows((m, k, n), a, (rsa, csa), b, rsb, accumulate, c, rsc) };
            return true;
        }
        if csa == 1 && rsb == 1 && k >= 8 {
            // SAFETY: as above.
            unsafe { x86::rows_times_rows((m, k, n), a, rsa, b, csb, accumulate, c, rsc) };
            return true;
        }
        false
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (
            (m, k, n),
            a,
            (rsa, csa),
            b,
            (rsb, csb),
            accumulate,
            c,
            (rsc, csc),
        );
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Sum of the 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// `C[i, j] (+)= dot(A_i, B_j)` with A's rows (stride `rsa`) and B's columns (stride `ldb`)
    /// contiguous over `k`: eight columns at a time (their eight sums reduced together), then
    /// four, then one, each column in its own register.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rows_times_rows(
        (m, k, n): (usize, usize, usize),
        a: &[f32],
        rsa: usize,
        b: &[f32],
        ldb: usize,
        accumulate: bool,
        c: &mut [f32],
        rsc: usize,
    ) {
        let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
        let k8 = k - k % 8;
        let dot_tail = |ai: *const f32, bj: *const f32| {
            let mut s = 0.0;
            for q in k8..k {
                s += *ai.add(q) * *bj.add(q);
            }
            s
        };
        for i in 0..m {
            let ai = a.add(i * rsa);
            let ci = c.add(i * rsc);
            let mut j = 0;
            while j + 8 <= n {
                let bj = |t: usize| b.add((j + t) * ldb);
                let mut s = [_mm256_setzero_ps(); 8];
                let mut p = 0;
                while p < k8 {
                    let x = _mm256_loadu_ps(ai.add(p));
                    s[0] = _mm256_fmadd_ps(x, _mm256_loadu_ps(bj(0).add(p)), s[0]);
                    s[1] = _mm256_fmadd_ps(x, _mm256_loadu_ps(bj(1).add(p)), s[1]);
                    s[2] = _mm256_fmadd_ps(x, _mm256_loadu_ps(bj(2).add(p)), s[2]);
                    s[3] = _mm256_fmadd_ps(x, _mm256_loadu_ps(bj(3).add(p)), s[3]);
                    s[4] = _mm256_fmadd_ps(x, _mm256_loadu_ps(bj(4).add(p)), s[4]);
                    s[5] = _mm256_fmadd_ps(x, _mm256_loadu_ps(bj(5).add(p)), s[5]);
                    s[6] = _mm256_fmadd_ps(x, _mm256_loadu_ps(bj(6).add(p)), s[6]);
                    s[7] = _mm256_fmadd_ps(x, _mm256_loadu_ps(bj(7).add(p)), s[7]);
                    p += 8;
                }
                // The eight lane sums at once: two rounds of pairwise adds, then the halves.
                let h0123 = _mm256_hadd_ps(_mm256_hadd_ps(s[0], s[1]), _mm256_hadd_ps(s[2], s[3]));
                let h4567 = _mm256_hadd_ps(_mm256_hadd_ps(s[4], s[5]), _mm256_hadd_ps(s[6], s[7]));
                let mut sums = _mm256_add_ps(
                    _mm256_permute2f128_ps(h0123, h4567, 0x20),
                    _mm256_permute2f128_ps(h0123, h4567, 0x31),
                );
                if k8 < k {
                    let mut tail = [0.0f32; 8];
                    for (t, v) in tail.iter_mut().enumerate() {
                        *v = dot_tail(ai, bj(t));
                    }
                    sums = _mm256_add_ps(sums, _mm256_loadu_ps(tail.as_ptr()));
                }
                if accumulate {
                    sums = _mm256_add_ps(sums, _mm256_loadu_ps(ci.add(j)));
                }
                _mm256_storeu_ps(ci.add(j), sums);
                j += 8;
            }
            while j + 4 <= n {
                let (b0, b1, b2, b3) = (
                    b.add(j * ldb),
                    b.add((j + 1) * ldb),
                    b.add((j + 2) * ldb),
                    b.add((j + 3) * ldb),
                );
                let (mut s0, mut s1, mut s2, mut s3) = (
                    _mm256_setzero_ps(),
                    _mm256_setzero_ps(),
                    _mm256_setzero_ps(),
                    _mm256_setzero_ps(),
                );
                let mut p = 0;
                while p < k8 {
                    let x = _mm256_loadu_ps(ai.add(p));
                    s0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b0.add(p)), s0);
                    s1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b1.add(p)), s1);
                    s2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b2.add(p)), s2);
                    s3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b3.add(p)), s3);
                    p += 8;
                }
                let sums = [
                    hsum(s0) + dot_tail(ai, b0),
                    hsum(s1) + dot_tail(ai, b1),
                    hsum(s2) + dot_tail(ai, b2),
                    hsum(s3) + dot_tail(ai, b3),
                ];
                for (t, sum) in sums.into_iter().enumerate() {
                    let o = ci.add(j + t);
                    *o = if accumulate { *o + sum } else { sum };
                }
                j += 4;
            }
            for jj in j..n {
                let bj = b.add(jj * ldb);
                let mut s0 = _mm256_setzero_ps();
                let mut p = 0;
                while p < k8 {
                    s0 =
                        _mm256_fmadd_ps(_mm256_loadu_ps(ai.add(p)), _mm256_loadu_ps(bj.add(p)), s0);
                    p += 8;
                }
                let sum = hsum(s0) + dot_tail(ai, bj);
                let o = ci.add(jj);
                *o = if accumulate { *o + sum } else { sum };
            }
        }
    }

    /// `C_i (+)= sum_p A[i, p] B_p` with B's rows (stride `rsb`) and C's rows contiguous over
    /// `n`: two rows of C at a time (each load of B serves both), 32 and then 8 columns at a
    /// time in registers, the rest one by one.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn scaled_rows(
        (m, k, n): (usize, usize, usize),
        a: &[f32],
        (rsa, csa): (usize, usize),
        b: &[f32],
        rsb: usize,
        accumulate: bool,
        c: &mut [f32],
        rsc: usize,
    ) {
        let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
        let mut i = 0;
        while i + 2 <= m {
            let (a0, a1) = (a.add(i * rsa), a.add((i + 1) * rsa));
            let (c0, c1) = (c.add(i * rsc), c.add((i + 1) * rsc));
            let start = |cj: *mut f32| {
                if accumulate {
                    _mm256_loadu_ps(cj)
                } else {
                    _mm256_setzero_ps()
                }
            };
            let mut j = 0;
            while j + 32 <= n {
                let (mut u0, mut u1, mut u2, mut u3) = (
                    start(c0.add(j)),
                    start(c0.add(j + 8)),
                    start(c0.add(j + 16)),
                    start(c0.add(j + 24)),
                );
                let (mut w0, mut w1, mut w2, mut w3) = (
                    start(c1.add(j)),
                    start(c1.add(j + 8)),
                    start(c1.add(j + 16)),
                    start(c1.add(j + 24)),
                );
                for p in 0..k {
                    let (s, t) = (
                        _mm256_set1_ps(*a0.add(p * csa)),
                        _mm256_set1_ps(*a1.add(p * csa)),
                    );
                    let bp = b.add(p * rsb + j);
                    let (x0, x1) = (_mm256_loadu_ps(bp), _mm256_loadu_ps(bp.add(8)));
                    let (x2, x3) = (_mm256_loadu_ps(bp.add(16)), _mm256_loadu_ps(bp.add(24)));
                    u0 = _mm256_fmadd_ps(s, x0, u0);
                    u1 = _mm256_fmadd_ps(s, x1, u1);
                    u2 = _mm256_fmadd_ps(s, x2, u2);
                    u3 = _mm256_fmadd_ps(s, x3, u3);
                    w0 = _mm256_fmadd_ps(t, x0, w0);
                    w1 = _mm256_fmadd_ps(t, x1, w1);
                    w2 = _mm256_fmadd_ps(t, x2, w2);
                    w3 = _mm256_fmadd_ps(t, x3, w3);
                }
                for (o, v) in [(0, u0), (8, u1), (16, u2), (24, u3)] {
                    _mm256_storeu_ps(c0.add(j + o), v);
                }
                for (o, v) in [(0, w0), (8, w1), (16, w2), (24, w3)] {
                    _mm256_storeu_ps(c1.add(j + o), v);
                }
                j += 32;
            }
            while j + 8 <= n {
                // Two chains per row over p (one would wait on each FMA's latency).
                let (mut u0, mut w0) = (start(c0.add(j)), start(c1.add(j)));
                let (mut u1, mut w1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
                let k2 = k - k % 2;
                let mut p = 0;
                while p < k2 {
                    let (x0, x1) = (
                        _mm256_loadu_ps(b.add(p * rsb + j)),
                        _mm256_loadu_ps(b.add((p + 1) * rsb + j)),
                    );
                    u0 = _mm256_fmadd_ps(_mm256_set1_ps(*a0.add(p * csa)), x0, u0);
                    w0 = _mm256_fmadd_ps(_mm256_set1_ps(*a1.add(p * csa)), x0, w0);
                    u1 = _mm256_fmadd_ps(_mm256_set1_ps(*a0.add((p + 1) * csa)), x1, u1);
                    w1 = _mm256_fmadd_ps(_mm256_set1_ps(*a1.add((p + 1) * csa)), x1, w1);
                    p += 2;
                }
                if k2 < k {
                    let x = _mm256_loadu_ps(b.add(k2 * rsb + j));
                    u0 = _mm256_fmadd_ps(_mm256_set1_ps(*a0.add(k2 * csa)), x, u0);
                    w0 = _mm256_fmadd_ps(_mm256_set1_ps(*a1.add(k2 * csa)), x, w0);
                }
                _mm256_storeu_ps(c0.add(j), _mm256_add_ps(u0, u1));
                _mm256_storeu_ps(c1.add(j), _mm256_add_ps(w0, w1));
                j += 8;
            }
            scalar_columns((a0, csa), b, rsb, accumulate, c0, (j, k, n));
            scalar_columns((a1, csa), b, rsb, accumulate, c1, (j, k, n));
            i += 2;
        }
        if i < m {
            one_row(
                (a.add(i * rsa), csa),
                b,
                rsb,
                accumulate,
                c.add(i * rsc),
                (k, n),
            );
        }
    }

    /// Columns `j..n` of one row of C, one by one.
    #[inline]
    unsafe fn scalar_columns(
        (ai, csa): (*const f32, usize),
        b: *const f32,
        rsb: usize,
        accumulate: bool,
        ci: *mut f32,
        (j, k, n): (usize, usize, usize),
    ) {
        for jj in j..n {
            let mut sum = if accumulate { *ci.add(jj) } else { 0.0 };
            for p in 0..k {
                sum += *ai.add(p * csa) * *b.add(p * rsb + jj);
            }
            *ci.add(jj) = sum;
        }
    }

    /// One row of [`scaled_rows`]: 8 columns at a time with four chains over p.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn one_row(
        (ai, csa): (*const f32, usize),
        b: *const f32,
        rsb: usize,
        accumulate: bool,
        ci: *mut f32,
        (k, n): (usize, usize),
    ) {
        let mut j = 0;
        while j + 8 <= n {
            let mut v = [
                if accumulate {
                    _mm256_loadu_ps(ci.add(j))
                } else {
                    _mm256_setzero_ps()
                },
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
            ];
            let k4 = k - k % 4;
            let mut p = 0;
            while p < k4 {
                for (t, vt) in v.iter_mut().enumerate() {
                    let s = _mm256_set1_ps(*ai.add((p + t) * csa));
                    *vt = _mm256_fmadd_ps(s, _mm256_loadu_ps(b.add((p + t) * rsb + j)), *vt);
                }
                p += 4;
            }
            for q in k4..k {
                let s = _mm256_set1_ps(*ai.add(q * csa));
                v[0] = _mm256_fmadd_ps(s, _mm256_loadu_ps(b.add(q * rsb + j)), v[0]);
            }
            let sum = _mm256_add_ps(_mm256_add_ps(v[0], v[1]), _mm256_add_ps(v[2], v[3]));
            _mm256_storeu_ps(ci.add(j), sum);
            j += 8;
        }
        scalar_columns((ai, csa), b, rsb, accumulate, ci, (j, k, n));
    }
}

#[cfg(test)]
mod tests {
    use super::matmul;

    /// The plain triple loop in f64.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        (m, k, n): (usize, usize, usize),
        a: &[f32],
        (rsa, csa): (usize, usize),
        b: &[f32],
        (rsb, csb): (usize, usize),
        c0: &[f32],
        accumulate: bool,
        rsc: usize,
    ) -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = if accumulate {
                    c0[i * rsc + j] as f64
                } else {
                    0.0
                };
                for p in 0..k {
                    s += a[i * rsa + p * csa] as f64 * b[p * rsb + j * csb] as f64;
                }
                out[i * n + j] = s;
            }
        }
        out
    }

    #[test]
    fn both_patterns_match_the_triple_loop_on_every_shape_and_tail() {
        let val = |i: usize| ((i * 37 % 101) as f32 - 50.0) / 17.0;
        for &(m, k, n) in &[
            (1, 1, 1),
            (10, 40, 40),
            (10, 1, 40),
            (10, 40, 1),
            (40, 10, 1),
            (13, 3, 1),
            (7, 13, 37),
            (25, 64, 65),
            (3, 9, 33),
        ] {
            for accumulate in [false, true] {
                // X W^T (rows times rows), G W and G^T X (scaled rows).
                let layouts = [((k, 1), (1, k)), ((k, 1), (n, 1)), ((1, m), (n, 1))];
                for ((rsa, csa), (rsb, csb)) in layouts {
                    let a: Vec<f32> = (0..m * k + m + k).map(val).collect();
                    let b: Vec<f32> = (0..k * n + k + n).map(|i| val(i + 7)).collect();
                    let c0: Vec<f32> = (0..m * n).map(|i| val(i + 3)).collect();
                    let mut c = c0.clone();
                    let (rsa, csa) = if csa == m { (1, m) } else { (rsa, csa) };
                    if !matmul(
                        (m, k, n),
                        &a,
                        (rsa, csa),
                        &b,
                        (rsb, csb),
                        accumulate,
                        &mut c,
                        (n, 1),
                    ) {
                        return; // no AVX2 + FMA here: gemm serves
                    }
                    let want = reference(
                        (m, k, n),
                        &a,
                        (rsa, csa),
                        &b,
                        (rsb, csb),
                        &c0,
                        accumulate,
                        n,
                    );
                    for (g, w) in c.iter().zip(&want) {
                        assert!(
                            (*g as f64 - w).abs() < 1e-4 * (1.0 + w.abs()),
                            "{m}x{k}x{n} {g} vs {w}"
                        );
                    }
                }
            }
        }
    }
}
