//! N-way K-shot episodes: pools of classes (optionally rotated copies of square images as extra
//! classes), seeded sampling, per-sample augmentation (shifts of square images, and the time
//! shifts and masks of [`super::augment`]), and episodes listed in a file.

use super::augment::{Axes, TimeAugment};
use super::data::Dataset;
use anyhow::{bail, Result};
use rand::seq::index;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// One class of a pool: rows of a data-set class, seen through a rotation by `rot * 90` degrees.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolClass {
    pub class: usize,
    pub rot: u8,
    pub rows: Vec<usize>,
}

/// Augmentation applied to every sampled image (meta-training only).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Augment {
    /// Largest shift in pixels (0 = none); each sample draws dx, dy in [-shift, shift].
    pub shift: usize,
    /// Time shifts and masks along `axes` (after the rotation and pixel shift, if any).
    pub time: TimeAugment,
    /// The rows' time and feature axes (needed when `time` is active).
    pub axes: Option<Axes>,
}

/// A class-major episode: `ways * shots` support rows then `ways * query` query rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Episode {
    pub ways: usize,
    pub shots: usize,
    pub query: usize,
    pub d: usize,
    pub support_x: Vec<f64>,
    pub support_y: Vec<usize>,
    pub query_x: Vec<f64>,
    pub query_y: Vec<usize>,
    /// Pool index of each way (for the multi-task head's global labels; for an episode read
    /// from listed rows, the data's class of the way's rows): what tells the episodes' classes
    /// apart, e.g. for accuracies with the class as the unit.
    pub pool_class: Vec<usize>,
    /// Data-file rows, support then query, class-major.
    pub rows: Vec<usize>,
}

/// Rotate a `side x side` image by `rot * 90` degrees counter-clockwise, then shift it by
/// (dx, dy) with zero fill.
pub fn transform(img: &[f64], side: usize, rot: u8, dx: i64, dy: i64, out: &mut Vec<f64>) {
    out.clear();
    out.resize(side * side, 0.0);
    let s = side as i64;
    for r in 0..s {
        for c in 0..s {
            let (sr, sc) = (r - dy, c - dx);
            if sr < 0 || sc < 0 || sr >= s || sc >= s {
                continue;
            }
            // Source pixel of (sr, sc) under the rotation.
            let (rr, rc) = match rot % 4 {
                0 => (sr, sc),
                1 => (sc, s - 1 - sr),
                2 => (s - 1 - sr, s - 1 - sc),
                _ => (s - 1 - sc, sr),
            };
            out[(r * s + c) as usize] = img[(rr * s + rc) as usize];
        }
    }
}

/// A set of classes episodes are drawn from.
#[derive(Clone, Debug)]
pub struct Pool {
    pub classes: Vec<PoolClass>,
    pub side: Option<usize>,
    pub augment: Augment,
}

impl Pool {
    /// Each (class, rows), plus its 90/180/270-degree rotations as extra classes when `rotations`.
    /// `side`: the side of a square image input (rotations and shifts need one).
    pub fn new(
        ds: &Dataset,
        side: Option<usize>,
        classes: &[(usize, Vec<usize>)],
        rotations: bool,
        augment: Augment,
    ) -> Result<Self> {
        if (rotations || augment.shift > 0) && side.is_none_or(|s| s * s != ds.d) {
            bail!(
                "{}: rotations and shifts need a square image input, rows have {} features",
                ds.file,
                ds.d
            );
        }
        if augment.time.is_active() {
            if augment.axes.is_none_or(|a| a.values() != Some(ds.d)) {
                bail!(
                    "{}: time shifts and masks need series or image rows of the declared shape, rows have {} features",
                    ds.file,
                    ds.d
                );
            }
            if let Err(e) = augment.time.check(augment.axes.as_ref()) {
                bail!("{}: {e}", ds.file);
            }
        }
        let rots: &[u8] = if rotations { &[0, 1, 2, 3] } else { &[0] };
        let mut v = Vec::new();
        for &rot in rots {
            for (c, rows) in classes {
                v.push(PoolClass {
                    class: *c,
                    rot,
                    rows: rows.clone(),
                });
            }
        }
        Ok(Pool {
            classes: v,
            side,
            augment,
        })
    }

    /// Draw an episode: `ways` distinct classes with at least `shots + query` rows, rows without
    /// replacement. A pure function of the rng state.
    pub fn sample(
        &self,
        ds: &Dataset,
        ways: usize,
        shots: usize,
        query: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Episode> {
        let need = shots + query;
        let ok: Vec<usize> = (0..self.classes.len())
            .filter(|&i| self.classes[i].rows.len() >= need)
            .collect();
        if ok.len() < ways {
            bail!(
                "{}: only {} classes have {need} rows for a {ways}-way {shots}-shot episode with {query} queries",
                ds.file,
                ok.len()
            );
        }
        let picked: Vec<usize> = index::sample(rng, ok.len(), ways)
            .into_iter()
            .map(|i| ok[i])
            .collect();
        let mut chosen = Vec::with_capacity(ways);
        for &pc in &picked {
            let rows = &self.classes[pc].rows;
            let idx: Vec<usize> = index::sample(rng, rows.len(), need)
                .into_iter()
                .map(|i| rows[i])
                .collect();
            chosen.push(idx);
        }
        let mut ep = Episode {
            ways,
            shots,
            query,
            d: ds.d,
            pool_class: picked.clone(),
            ..Default::default()
        };
        let mut buf = Vec::new();
        for (part, range) in [(0, 0..shots), (1, shots..need)] {
            for (w, idx) in chosen.iter().enumerate() {
                for &row in &idx[range.clone()] {
                    let (xs, ys) = if part == 0 {
                        (&mut ep.support_x, &mut ep.support_y)
                    } else {
                        (&mut ep.query_x, &mut ep.query_y)
                    };
                    self.push_input(ds, picked[w], row, rng, &mut buf, xs);
                    ys.push(w);
                    ep.rows.push(row);
                }
            }
        }
        Ok(ep)
    }

    /// Appends to `out` data row `row` as pool class `pc` sees it: rotated, and shifted and
    /// masked by draws from `rng` when the pool augments (`buf`: scratch).
    pub fn push_input(
        &self,
        ds: &Dataset,
        pc: usize,
        row: usize,
        rng: &mut ChaCha8Rng,
        buf: &mut Vec<f64>,
        out: &mut Vec<f64>,
    ) {
        let rot = self.classes.get(pc).map_or(0, |c| c.rot);
        let img = ds.row(row);
        let img = match self.side {
            Some(side) if rot != 0 || self.augment.shift > 0 => {
                let m = self.augment.shift as i64;
                let (dx, dy) = if m > 0 {
                    (rng.random_range(-m..=m), rng.random_range(-m..=m))
                } else {
                    (0, 0)
                };
                transform(img, side, rot, dx, dy, buf);
                buf.as_slice()
            }
            _ => img,
        };
        let at = out.len();
        out.extend_from_slice(img);
        if let (Some(axes), true) = (self.augment.axes, self.augment.time.is_active()) {
            if let Some(timed) = out.get_mut(at..) {
                self.augment.time.apply(&axes, img, rng, timed);
            }
        }
    }
}

/// An episode from listed data-file rows (class-major blocks), no augmentation.
pub fn from_rows(ds: &Dataset, ways: usize, shots: usize, query: usize, rows: &[usize]) -> Episode {
    let mut ep = Episode {
        ways,
        shots,
        query,
        d: ds.d,
        pool_class: (0..ways)
            .map(|w| rows.get(w * shots).map_or(w, |&r| ds.labels[r]))
            .collect(),
        rows: rows.to_vec(),
        ..Default::default()
    };
    for (i, &r) in rows.iter().enumerate() {
        if i < ways * shots {
            ep.support_x.extend_from_slice(ds.row(r));
            ep.support_y.push(i / shots);
        } else {
            ep.query_x.extend_from_slice(ds.row(r));
            ep.query_y.push((i - ways * shots) / query);
        }
    }
    ep
}

/// Episodes listed in a file's text: one per line, comma-separated 0-based data rows (N*K support
/// rows then N*Q query rows, class-major); `#` starts a comment line. Every listed row's class
/// must be the same within a block and differ between blocks, and no row may appear twice in an
/// episode (a query row also in the support set would inflate the accuracy).
pub fn parse_file(
    text: &str,
    file: &str,
    ds: &Dataset,
    ways: usize,
    shots: usize,
    query: usize,
) -> Result<Vec<Episode>> {
    let n = ways * (shots + query);
    let mut out = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |f: usize| format!("{file}:{}: field {}", ln + 1, f + 1);
        let rows: Vec<usize> = line
            .split(',')
            .enumerate()
            .map(|(f, c)| {
                let r: usize = c
                    .trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{}: not a row number: {c:?}", at(f)))?;
                if r >= ds.rows() {
                    bail!("{}: row {r} but the data has {} rows", at(f), ds.rows());
                }
                Ok(r)
            })
            .collect::<Result<_>>()?;
        if rows.len() != n {
            bail!(
                "{file}:{}: {} rows, a {ways}-way {shots}-shot episode with {query} queries per class needs {n}",
                ln + 1,
                rows.len()
            );
        }
        if let Some(f) = (1..rows.len()).find(|&f| rows[..f].contains(&rows[f])) {
            bail!("{}: row {} is listed twice in this episode", at(f), rows[f]);
        }
        let block_class = |i: usize| {
            if i < ways * shots {
                i / shots
            } else {
                (i - ways * shots) / query
            }
        };
        let mut class_of = vec![None; ways];
        for (f, &r) in rows.iter().enumerate() {
            let b = block_class(f);
            let c = ds.labels[r];
            match class_of[b] {
                None if class_of.contains(&Some(c)) => {
                    bail!(
                        "{}: class {} already used by another block (read as {ways}-way {shots}-shot episodes with {query} queries per class: check --ways, --shots and --query)",
                        at(f),
                        ds.class_name(c)
                    )
                }
                None => class_of[b] = Some(c),
                Some(k) if k != c => {
                    bail!(
                        "{}: row {r} is class {}, its block is class {} (read as {ways}-way {shots}-shot episodes with {query} queries per class: check --ways, --shots and --query)",
                        at(f),
                        ds.class_name(c),
                        ds.class_name(k)
                    )
                }
                _ => {}
            }
        }
        out.push(from_rows(ds, ways, shots, query, &rows));
    }
    if out.is_empty() {
        bail!("{file}: no episodes");
    }
    Ok(out)
}
