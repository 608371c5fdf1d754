//! The floating-point element type of the host maths (f32 for speed, f64 for reference tests),
//! the matrix-multiply kernel behind every dense layer, and the type's nalgebra counterpart for
//! the dense factorisations.

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
    /// The same float as nalgebra's scalar, for the dense factorisations (a separate type, so
    /// nalgebra's method names do not clash with `Float`'s on `Self`).
    type Field: nalgebra::RealField + Copy + Default;
    fn to_field(self) -> Self::Field;
    fn from_field(x: Self::Field) -> Self;
}

/// Largest offset touched by a strided m x n view; used to check slices before the unsafe call.
pub(crate) fn span(m: usize, n: usize, rs: isize, cs: isize) -> usize {
    if m == 0 || n == 0 {
        return 0;
    }
    (m - 1) * rs.unsigned_abs() + (n - 1) * cs.unsigned_abs() + 1
}

/// The strides of a matrix view: (row, column).
type Strides = (isize, isize);

/// The small-product kernels ([`crate::kernels`]) for f32 with `alpha = 1` and `beta` 0 or 1;
/// false when they do not apply (then `gemm` runs).
trait SmallMatmul: Sized {
    #[allow(clippy::too_many_arguments)]
    fn small_matmul(
        _m: usize,
        _k: usize,
        _n: usize,
        _alpha: Self,
        _a: &[Self],
        _sa: Strides,
        _b: &[Self],
        _sb: Strides,
        _beta: Self,
        _c: &mut [Self],
        _sc: Strides,
    ) -> bool {
        false
    }
}

impl SmallMatmul for f64 {}

impl SmallMatmul for f32 {
    fn small_matmul(
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: &[f32],
        sa: Strides,
        b: &[f32],
        sb: Strides,
        beta: f32,
        c: &mut [f32],
        sc: Strides,
    ) -> bool {
        let u = |(r, c): Strides| (r.unsigned_abs(), c.unsigned_abs());
        alpha == 1.0
            && (beta == 0.0 || beta == 1.0)
            && crate::kernels::matmul((m, k, n), a, u(sa), b, u(sb), beta == 1.0, c, u(sc))
    }
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
                if Self::small_matmul(
                    m,
                    k,
                    n,
                    alpha,
                    a,
                    (rsa, csa),
                    b,
                    (rsb, csb),
                    beta,
                    c,
                    (rsc, csc),
                ) {
                    return;
                }
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
            type Field = $t;
            #[inline]
            fn to_field(self) -> $t {
                self
            }
            #[inline]
            fn from_field(x: $t) -> Self {
                x
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
