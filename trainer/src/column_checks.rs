//! Checks of the input columns a run reads, before it trains: columns that are rarely a
//! model's input (a time, a counter, an identifier, a dead sensor, a value f32 cannot carry),
//! each told as a warning line with the configuration line that drops it.
//!
//! ```
//! use trainer::column_checks::input_warnings;
//! let names = vec!["machine_id".to_string(), "current".to_string()];
//! // Two machines' rows, each with a reading.
//! let rows = [3.0, 0.5, 3.0, 0.7, 3.0, 0.6, 8.0, 0.4, 8.0, 0.9, 8.0, 0.2];
//! let lines = input_warnings(&names, &[&rows], true, "subject_column");
//! assert!(lines.iter().any(|l| l.contains("subject_column = \"machine_id\"")));
//! ```

use crate::csvio::{constant_warning, imprecise_warning, rising_warning};

/// Every warning about the input columns `names` (of row-major `groups`: each group's rows in
/// file order). `vector`: the inputs are separate readings (not an image's or a series'
/// positions, where a border pixel is 0 in every row by nature), so a constant one is told.
/// `subject_key` is the configuration key that names each row's subject.
pub fn input_warnings(
    names: &[String],
    groups: &[&[f64]],
    vector: bool,
    subject_key: &str,
) -> Vec<String> {
    let mut lines: Vec<String> = [
        rising_warning(names, groups),
        id_warning(names, groups, subject_key),
        imprecise_warning(names, groups),
    ]
    .into_iter()
    .flatten()
    .collect();
    if vector {
        lines.extend(constant_warning(names, groups));
    }
    lines
}

/// Words of a column name that name who or what a row comes from.
const ID_WORDS: &[&str] = &[
    "id",
    "uid",
    "subject",
    "patient",
    "participant",
    "user",
    "person",
    "machine",
    "device",
    "session",
    "writer",
    "speaker",
    "unit",
];
/// Words that may stand beside them in an identifier's name (`patient_no`, `unit_number`).
const NUMBER_WORDS: &[&str] = &["no", "nr", "num", "number", "code", "index", "idx"];

/// The words of a column name: split at every character that is not a letter or digit and
/// where a lower-case letter meets an upper-case one (`machineId`), lower-cased.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        let boundary = !c.is_alphanumeric() || (prev_lower && c.is_uppercase());
        if boundary && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        }
        prev_lower = c.is_lowercase();
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Whether `name` reads as an identifier's: an id word and nothing but id words, number words
/// and digits (`machine_id`, `subjectID`, `patient_no`; not `device_temp`).
fn named_like_id(name: &str) -> bool {
    let w = words(name);
    w.iter().any(|x| ID_WORDS.contains(&x.as_str()))
        && w.iter().all(|x| {
            ID_WORDS.contains(&x.as_str())
                || NUMBER_WORDS.contains(&x.as_str())
                || x.chars().all(|c| c.is_ascii_digit())
        })
}

/// The input columns (of `names`, row-major `groups`) that look like an identifier of the
/// subject, machine or session a row comes from: whole numbers with at least two values, and
/// either a name that reads as one or, with at least three values and five rows per value,
/// each value in one unbroken run of rows (a file grouped by machine).
pub fn id_columns(names: &[String], groups: &[&[f64]]) -> Vec<usize> {
    let d = names.len();
    let rows = crate::csvio::rows_of(groups, d);
    if d == 0 || rows.len() < 2 {
        return Vec::new();
    }
    (0..d)
        .filter(|&j| {
            let col = || rows.iter().map(|r| r[j]);
            if col().any(|v| !v.is_finite() || v.fract() != 0.0) {
                return false;
            }
            let first = rows[0][j];
            if named_like_id(&names[j]) {
                return col().any(|v| v != first);
            }
            // One unbroken run per value: as many runs as values, at least 3 of them, with
            // 5 rows each on average (the values are counted only when the runs allow it).
            let runs = 1 + rows.windows(2).filter(|w| w[0][j] != w[1][j]).count();
            if runs < 3 || 5 * runs > rows.len() {
                return false;
            }
            let mut distinct: Vec<f64> = col().collect();
            distinct.sort_by(f64::total_cmp);
            distinct.dedup();
            runs == distinct.len()
        })
        .collect()
}

/// The warning line for [`id_columns`] of `names`, if any.
pub fn id_warning(names: &[String], groups: &[&[f64]], subject_key: &str) -> Option<String> {
    let found = id_columns(names, groups);
    let first = names.get(*found.first()?)?;
    let listed: Vec<String> = found.iter().map(|&j| format!("{:?}", names[j])).collect();
    Some(format!(
        "warning: {} {} (whole numbers, {}): a model that reads who a row comes from learns that, not what the row shows, and a new subject's id is a value it never saw; if it names each row's subject, machine or session, say so (`{subject_key} = {first:?}`: then it is not an input), else drop it: `ignore_columns = [{}]`",
        match found.len() {
            1 => "input column",
            _ => "input columns",
        },
        match found.len() {
            1 => format!("{} looks like an identifier", listed[0]),
            _ => format!("{} look like identifiers", listed.join(", ")),
        },
        if found.iter().all(|&j| named_like_id(&names[j])) {
            "named like one"
        } else {
            "in one run of rows per value"
        },
        listed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn identifier_names_are_told_from_readings() {
        for id in [
            "machine_id",
            "subjectID",
            "patientNo",
            "Unit",
            "user 3",
            "device-id",
        ] {
            assert!(named_like_id(id), "{id}");
        }
        for reading in [
            "device_temp",
            "fluid",
            "humid",
            "accel_x",
            "rapid_count",
            "current",
        ] {
            assert!(!named_like_id(reading), "{reading}");
        }
    }

    #[test]
    fn an_id_is_found_by_its_name_or_its_runs() {
        // Columns: a named id, an unnamed machine number in runs, a whole-number setting that
        // changes back and forth, a reading.
        let mut rows = Vec::new();
        for i in 0..30 {
            let machine = (i / 10) as f64;
            let setting = (i % 3) as f64;
            rows.extend([machine + 100.0, machine, setting, 0.1 * i as f64]);
        }
        let n = names(&["machine_id", "m", "setting", "current"]);
        assert_eq!(id_columns(&n, &[&rows]), vec![0, 1]);
        let w = id_warning(&n, &[&rows], "subject_column").unwrap();
        assert!(w.contains("\"machine_id\", \"m\""), "{w}");
        assert!(w.contains("`subject_column = \"machine_id\"`"), "{w}");
        assert!(w.contains("in one run of rows per value"), "{w}");
        // Not whole numbers, or one value: no identifier.
        let n = names(&["subject"]);
        assert!(id_columns(&n, &[&[1.5, 2.0, 2.0]]).is_empty());
        assert!(id_columns(&n, &[&[4.0, 4.0, 4.0]]).is_empty());
        assert!(id_columns(&n, &[&[4.0, 7.0]]) == vec![0]);
    }
}
