//! Per-feature standardisation fitted on training rows: the shift (mean) and scale
//! (1 / standard deviation) a model stores as its input normalisation `x' = (x - shift) * scale`,
//! so the device takes raw units. Shared by the classification and multi-task trainers.

/// Mean and 1 / standard deviation of every feature over `rows` (each `width` values wide). A
/// constant feature (standard deviation at most 1e-6 of 1 + |mean|) keeps scale 1: it then maps
/// to 0 instead of being blown up. No rows give shift 0 and scale 1.
pub fn fit<'a, I>(width: usize, rows: I) -> (Vec<f64>, Vec<f64>)
where
    I: IntoIterator<Item = &'a [f64]>,
    I::IntoIter: Clone,
{
    let rows = rows.into_iter();
    let n = rows.clone().count().max(1) as f64;
    let mut mean = vec![0.0; width];
    for row in rows.clone() {
        for (m, x) in mean.iter_mut().zip(row) {
            *m += x / n;
        }
    }
    let mut var = vec![0.0; width];
    for row in rows {
        for ((v, x), m) in var.iter_mut().zip(row).zip(&mean) {
            *v += (x - m) * (x - m) / n;
        }
    }
    let scale = var
        .iter()
        .zip(&mean)
        .map(|(v, m): (&f64, &f64)| {
            let sd = v.sqrt();
            if sd > 1e-6 * (1.0 + m.abs()) {
                1.0 / sd
            } else {
                1.0
            }
        })
        .collect();
    (mean, scale)
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn fits_mean_and_inverse_sd_and_leaves_constant_features_unscaled() {
        let x = [1.0, 10.0, 5.0, 3.0, 10.0, 5.0];
        let (shift, scale) = fit(3, x.chunks_exact(3));
        assert_eq!(shift, vec![2.0, 10.0, 5.0]);
        assert_eq!(scale, vec![1.0, 1.0, 1.0]);
        let x = [0.0, 7.0, 4.0, 7.0];
        let (shift, scale) = fit(2, x.chunks_exact(2));
        assert_eq!(shift, vec![2.0, 7.0]);
        assert_eq!(scale, vec![0.5, 1.0]);
        assert_eq!(
            fit(2, [0.0f64; 0].chunks_exact(2)),
            (vec![0.0; 2], vec![1.0; 2])
        );
    }
}
