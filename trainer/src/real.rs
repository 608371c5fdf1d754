//! The floating-point element type of the host maths (f32 for speed, f64 for reference tests)
//! and the matrix-multiply kernel behind every dense layer.

use num_traits::Float;
use std::fmt::Debug;
use std::iter::Sum;
use std::ops::{AddAssign, MulAssign, SubAssign};

/// A float the trainer can compute in. `gemm` is the `gemm` crate's kernel
/// (register-blocked SIMD microkernels with low per-call overhead for small matrices).
pub trait Real:
    Float + Debug + Default + Send + Sync + AddAssign + SubAssign + MulAssign + Sum + 'static
{
    /// C (m x n) = alpha * A (m x k) * B (k x n) + beta * C, with explicit row/column strides
    /// (a transpose is just swapped strides).
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: &[Self],
        rsa: isize,
        csa: isize,
        b: &[Self],
        rsb: isize,
        csb: isize,
        beta: Self,
        c: &mut [Self],
        rsc: isize,
        csc: isize,
    );
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
}

/// Largest offset touched by a strided m x n view; used to check slices before the unsafe call.
fn span(m: usize, n: usize, rs: isize, cs: isize) -> usize {
    if m == 0 || n == 0 {
        return 0;
    }
    (m - 1) * rs.unsigned_abs() + (n - 1) * cs.unsigned_abs() + 1
}

macro_rules! impl_real {
    ($t:ty) => {
        impl Real for $t {
            #[inline]
            fn gemm(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: &[Self],
                rsa: isize,
                csa: isize,
                b: &[Self],
                rsb: isize,
                csb: isize,
                beta: Self,
                c: &mut [Self],
                rsc: isize,
                csc: isize,
            ) {
                assert!(a.len() >= span(m, k, rsa, csa), "gemm: A too short");
                assert!(b.len() >= span(k, n, rsb, csb), "gemm: B too short");
                assert!(c.len() >= span(m, n, rsc, csc), "gemm: C too short");
                assert!(rsa >= 0 && csa >= 0 && rsb >= 0 && csb >= 0 && rsc >= 0 && csc >= 0);
                // SAFETY: the asserts above check that every strided access is inside the slices,
                // and `c` is a unique borrow so it cannot alias `a` or `b`.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        c.as_mut_ptr(),
                        csc,
                        rsc,
                        beta != 0.0,
                        a.as_ptr(),
                        csa,
                        rsa,
                        b.as_ptr(),
                        csb,
                        rsb,
                        beta,
                        alpha,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
            }
            #[inline]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    };
}
impl_real!(f32);
impl_real!(f64);

/// out (rows x cols, row-major) = X (rows x inner) * W^T where W is (cols x inner) row-major.
#[inline]
pub fn mm_xwt<T: Real>(
    rows: usize,
    inner: usize,
    cols: usize,
    x: &[T],
    w: &[T],
    beta: T,
    out: &mut [T],
) {
    T::gemm(
        rows,
        inner,
        cols,
        T::one(),
        x,
        inner as isize,
        1,
        w,
        1,
        inner as isize,
        beta,
        out,
        cols as isize,
        1,
    );
}

/// out (rows x inner) (+)= G (rows x cols) * W where W is (cols x inner) row-major.
#[inline]
pub fn mm_gw<T: Real>(
    rows: usize,
    cols: usize,
    inner: usize,
    g: &[T],
    w: &[T],
    beta: T,
    out: &mut [T],
) {
    T::gemm(
        rows,
        cols,
        inner,
        T::one(),
        g,
        cols as isize,
        1,
        w,
        inner as isize,
        1,
        beta,
        out,
        inner as isize,
        1,
    );
}

/// out (cols x inner) (+)= G^T (cols x rows) * X (rows x inner): the weight gradient.
#[inline]
pub fn mm_gtx<T: Real>(
    rows: usize,
    cols: usize,
    inner: usize,
    g: &[T],
    x: &[T],
    beta: T,
    out: &mut [T],
) {
    T::gemm(
        cols,
        rows,
        inner,
        T::one(),
        g,
        1,
        cols as isize,
        x,
        inner as isize,
        1,
        beta,
        out,
        inner as isize,
        1,
    );
}

/// In-place Cholesky factor `L` (lower triangle of a row-major `n x n` matrix) of a symmetric
/// matrix given by its lower triangle. A squared pivot below `floor` (rounding, for a matrix
/// known to have pivots at least that large) is raised to `floor`.
#[allow(clippy::needless_range_loop)] // index loops mirror the maths
pub fn cholesky<T: Real>(a: &mut [T], n: usize, floor: T) {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        let d = if d < floor { floor } else { d }.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
}

/// Solves `L L^T x = b` in place for the factor written by [`cholesky`].
pub fn cholesky_solve<T: Real>(l: &[T], n: usize, b: &mut [T]) {
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}
