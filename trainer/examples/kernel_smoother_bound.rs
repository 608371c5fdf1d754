//! How good can one inner step be, to first order? One gradient step with any per-parameter rates
//! predicts, to first order in the rates, `f0(x) + 1/K sum_k (y_k - f0(x_k)) kappa(x, x_k)`: a
//! kernel smoother whose weights depend on each support point alone. This example fits the best
//! predictor of that form for the sinusoid family (issue 3's protocol) by least squares, with
//! `f0` and a separable kernel over a Fourier basis of the input interval, and reports its query
//! MSE on held-out tasks for K = 5, 10, 20. Meta-SGD's one step can beat it only through the
//! higher-order terms of large steps.
//!
//! `cargo run --release -p trainer --example kernel_smoother_bound [basis_size]`

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Constant, then sin/cos pairs of period 20 on [-5, 5].
fn basis(x: f64, pairs: usize) -> Vec<f64> {
    let mut v = vec![1.0];
    for k in 1..=pairs {
        let w = std::f64::consts::PI * k as f64 * x / 10.0;
        v.push(w.sin());
        v.push(w.cos());
    }
    v
}

struct Task {
    xs: Vec<f64>,
    ys: Vec<f64>,
    xq: Vec<f64>,
    yq: Vec<f64>,
}

fn task(rng: &mut ChaCha8Rng, k: usize, q: usize) -> Task {
    let a = rng.random_range(0.1..5.0);
    let p = rng.random_range(0.0..std::f64::consts::PI);
    let mut draw = |n: usize| -> (Vec<f64>, Vec<f64>) {
        let x: Vec<f64> = (0..n).map(|_| rng.random_range(-5.0..5.0)).collect();
        let y = x.iter().map(|&x| a * (x - p).sin()).collect();
        (x, y)
    };
    let (xs, ys) = draw(k);
    let (xq, yq) = draw(q);
    Task { xs, ys, xq, yq }
}

/// Regressors of one query point: `phi(x)` (for f0), `phi(x) (x) mean_k y_k phi(x_k)` (the
/// kernel on the targets) and `phi(x) (x) mean_k phi(x_k)` (the kernel on f0's own residuals).
fn regressors(t: &Task, x: f64, pairs: usize) -> Vec<f64> {
    let d = 2 * pairs + 1;
    let k = t.xs.len() as f64;
    let (mut sy, mut s1) = (vec![0.0; d], vec![0.0; d]);
    for (&xk, &yk) in t.xs.iter().zip(&t.ys) {
        for (j, b) in basis(xk, pairs).into_iter().enumerate() {
            sy[j] += yk * b / k;
            s1[j] += b / k;
        }
    }
    let fx = basis(x, pairs);
    let mut r = fx.clone();
    for s in [&sy, &s1] {
        for &a in &fx {
            r.extend(s.iter().map(|&b| a * b));
        }
    }
    r
}

/// Solve `(A + lambda I) w = b` for symmetric positive definite `A` (row-major `a`) by
/// nalgebra's Cholesky factorisation (NaN if it fails).
fn solve(a: Vec<f64>, b: &[f64], n: usize, lambda: f64) -> Vec<f64> {
    let mut m = nalgebra::DMatrix::from_row_slice(n, n, &a);
    for i in 0..n {
        m[(i, i)] += lambda;
    }
    match nalgebra::Cholesky::new_with_substitute(m, 1e-300) {
        Some(c) => c
            .solve(&nalgebra::DVector::from_column_slice(b))
            .as_slice()
            .to_vec(),
        None => vec![f64::NAN; n],
    }
}

fn main() {
    let pairs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let (fit_tasks, test_tasks, q) = (10_000, 2_000, 20);
    println!(
        "best first-order (kernel-smoother) predictor, {} basis functions:",
        2 * pairs + 1
    );
    println!("{:>4} {:>10}", "K", "query MSE");
    for k in [5usize, 10, 20] {
        let mut rng = ChaCha8Rng::seed_from_u64(k as u64);
        let fit: Vec<Task> = (0..fit_tasks).map(|_| task(&mut rng, k, q)).collect();
        let test: Vec<Task> = (0..test_tasks).map(|_| task(&mut rng, k, q)).collect();
        let n = regressors(&fit[0], 0.0, pairs).len();
        // Normal equations, accumulated per task in parallel.
        let (ata, atb) = fit
            .par_iter()
            .map(|t| {
                let (mut ata, mut atb) = (vec![0.0; n * n], vec![0.0; n]);
                for (&x, &y) in t.xq.iter().zip(&t.yq) {
                    let r = regressors(t, x, pairs);
                    for i in 0..n {
                        atb[i] += r[i] * y;
                        for j in 0..=i {
                            ata[i * n + j] += r[i] * r[j];
                        }
                    }
                }
                (ata, atb)
            })
            .reduce(
                || (vec![0.0; n * n], vec![0.0; n]),
                |(mut a, mut b), (c, d)| {
                    a.iter_mut().zip(&c).for_each(|(x, y)| *x += y);
                    b.iter_mut().zip(&d).for_each(|(x, y)| *x += y);
                    (a, b)
                },
            );
        let mut full = ata;
        for i in 0..n {
            for j in i + 1..n {
                full[i * n + j] = full[j * n + i];
            }
        }
        let w = solve(full, &atb, n, 1e-3);
        let (mut se, mut cnt) = (0.0, 0usize);
        for t in &test {
            for (&x, &y) in t.xq.iter().zip(&t.yq) {
                let p: f64 = regressors(t, x, pairs)
                    .iter()
                    .zip(&w)
                    .map(|(a, b)| a * b)
                    .sum();
                se += (p - y) * (p - y);
                cnt += 1;
            }
        }
        println!("{k:>4} {:>10.4}", se / cnt as f64);
    }
}
