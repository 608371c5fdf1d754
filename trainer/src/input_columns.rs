//! A data file's input columns matched by name to those a model was trained on (its run
//! record's `input_names`, in the order the model takes them), so that a file whose columns
//! come in another order, or with columns the model does not read, is read as the model
//! expects instead of by position.

use anyhow::{bail, Result};

/// How a file's input columns meet the model's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matched {
    /// The model's columns, in its order: nothing to do.
    Same,
    /// Every model input is a column of the file, in another order or beside others: the
    /// file's column of each model input, in the model's order, and the file's columns left
    /// unread.
    Select {
        order: Vec<usize>,
        unread: Vec<String>,
    },
    /// No name in common (a file without a header, or named otherwise): read by position.
    Unnamed,
}

impl Matched {
    /// What a user is told about the match (None when the columns are the model's).
    pub fn note(&self, file: &str, model: &[String]) -> Option<String> {
        match self {
            Matched::Same => None,
            Matched::Select { unread, .. } if unread.is_empty() => Some(format!(
                "{file}: its input columns read by name in the model's order ({})",
                names(model)
            )),
            Matched::Select { unread, .. } => Some(format!(
                "{file}: its input columns read by name in the model's order ({}); not read: {}",
                names(model),
                names(unread)
            )),
            Matched::Unnamed => Some(format!(
                "warning: {file}: none of its columns is named as the model's inputs ({}): read by position",
                names(model)
            )),
        }
    }
}

/// Column names for a note: all of them up to 12, else the first 8, `...` and the last 2 with
/// the count (an image's hundreds of pixel columns would fill the terminal).
pub fn names<S: AsRef<str>>(list: &[S]) -> String {
    let join = |l: &[S]| l.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", ");
    match list.len() {
        n if n > 12 => format!(
            "{}, ..., {}: {n} columns",
            join(&list[..8]),
            join(&list[n - 2..])
        ),
        _ => join(list),
    }
}

/// Matches the file's input columns `file` (names, in the file's order) to the model's
/// `model`, each found as [`crate::csvio::column`] finds a named column (trimmed, then
/// ignoring ASCII case). Refused when some of the model's inputs are columns of the file and
/// others are not, naming the missing ones.
pub fn match_by_name(model: &[String], file: &[String], what: &str) -> Result<Matched> {
    let found: Vec<Option<usize>> = model
        .iter()
        .map(|n| crate::csvio::column(file, n))
        .collect();
    // A name the file gives two columns: which one the model reads cannot be told.
    for n in model {
        let same = file
            .iter()
            .filter(|f| crate::csvio::column(&[(*f).clone()], n).is_some());
        if same.count() > 1 {
            bail!("{what}: the column {n:?} appears more than once: rename one (the model reads one column of that name)");
        }
    }
    if found.iter().all(Option::is_none) {
        return Ok(Matched::Unnamed);
    }
    let missing: Vec<&str> = model
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    if !missing.is_empty() {
        // A column renamed by a space or a case (`I_rms[A]` for `I_rms [A]`) is likely it.
        let squeeze = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_whitespace())
                .flat_map(char::to_lowercase)
                .collect()
        };
        let near: Vec<String> = missing
            .iter()
            .filter_map(|m| {
                let f = file.iter().find(|f| squeeze(f) == squeeze(m))?;
                Some(format!("{f:?} for {m:?}?"))
            })
            .collect();
        let near = match near.is_empty() {
            true => String::new(),
            false => format!(" (renamed: {})", near.join(", ")),
        };
        bail!(
            "{what}: the model's input column(s) {} are not among its input columns ({}: the columns neither label, task, target nor ignored){near}; the model reads {} (its run record)",
            names(&missing),
            names(file),
            names(model)
        );
    }
    let order: Vec<usize> = found.into_iter().flatten().collect();
    if order.iter().enumerate().all(|(i, &c)| i == c) && order.len() == file.len() {
        return Ok(Matched::Same);
    }
    let unread = (0..file.len())
        .filter(|c| !order.contains(c))
        .map(|c| file[c].clone())
        .collect();
    Ok(Matched::Select { order, unread })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn long_lists_of_names_are_cut_with_their_count() {
        let few: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
        assert_eq!(super::names(&few), few.join(", "));
        let many: Vec<String> = (0..288).map(|i| format!("c{i}")).collect();
        assert_eq!(
            super::names(&many),
            "c0, c1, c2, c3, c4, c5, c6, c7, ..., c286, c287: 288 columns"
        );
    }

    #[test]
    fn a_name_the_file_gives_two_columns_is_refused() {
        let e = match_by_name(&names(&["a", "b"]), &names(&["B", "a", "b"]), "f.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("the column \"b\" appears more than once"), "{e}");
    }

    #[test]
    fn columns_are_matched_by_name_whatever_their_order() {
        let model = names(&["temp_c", "humidity"]);
        let m = |file: &[&str]| match_by_name(&model, &names(file), "f.csv");
        assert_eq!(m(&["temp_c", "humidity"]).unwrap(), Matched::Same);
        // Case and spaces as a named column's.
        assert_eq!(m(&["Temp_C", " humidity "]).unwrap(), Matched::Same);
        assert_eq!(
            m(&["humidity", "temp_c"]).unwrap(),
            Matched::Select {
                order: vec![1, 0],
                unread: vec![]
            }
        );
        let extra = m(&["hour", "humidity", "temp_c"]).unwrap();
        assert_eq!(
            extra,
            Matched::Select {
                order: vec![2, 1],
                unread: names(&["hour"])
            }
        );
        assert!(extra
            .note("f.csv", &model)
            .unwrap()
            .contains("not read: hour"));
        assert_eq!(m(&["f1", "f2"]).unwrap(), Matched::Unnamed);
        let e = m(&["temp_c", "pressure"]).unwrap_err().to_string();
        assert!(
            e.contains("humidity are not among") && e.contains("pressure"),
            "{e}"
        );
    }
}
