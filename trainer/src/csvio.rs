//! Reading a user's CSV file: plain or gzip, its SHA-256 fingerprint (recorded with every model
//! trained on it), records through the `csv` crate with their line numbers (fields separated by
//! commas, or by the semicolons or tabs of a file whose first line has no comma), and numbers checked
//! finite *as f32* (the device's type), so that `1e300` is refused where it is read, with the
//! file, line and column, instead of turning into `inf` in a model or an evaluation.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// A CSV value that cannot be used, located in its file.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: field `{field}`: {msg}")]
pub struct CsvError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub msg: String,
}

/// The text of a data file (gunzipped when it starts with the gzip magic) and the SHA-256 of its
/// bytes as stored, in hex.
pub fn read_text(path: &Path) -> Result<(String, String)> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let sha = hex(&Sha256::digest(&raw));
    let text = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_string(&mut s)
            .with_context(|| format!("{}: not valid gzip/UTF-8", path.display()))?;
        s
    } else {
        String::from_utf8(raw).with_context(|| format!("{}: not UTF-8 text", path.display()))?
    };
    Ok((text, sha))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The field separator of `text`: a comma, unless its first line (blank and `#` lines aside)
/// has none and has semicolons (a spreadsheet saved in a locale whose decimal mark is the
/// comma) or tabs.
pub fn delimiter(text: &str) -> u8 {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    if first.contains(',') {
        b','
    } else if first.contains(';') {
        b';'
    } else if first.contains('\t') {
        b'\t'
    } else {
        b','
    }
}

/// The records of a CSV file as [`records`] reads them.
#[derive(Clone, Debug)]
pub struct Table {
    /// Each non-empty record: its 1-based line number and its trimmed cells.
    pub rows: Vec<(usize, Vec<String>)>,
    /// Where each cell index was read from in the file.
    pub columns: FileColumns,
}

/// The 1-based column of the file each cell index of a [`Table`]'s records was read from:
/// columns empty in every record are dropped, so a later column's index is not its place in
/// the file, which messages must name.
#[derive(Clone, Debug)]
pub struct FileColumns(Vec<usize>);

impl FileColumns {
    /// The column of the file, counted from 1 as a spreadsheet shows it, that cell index `i`
    /// of a record was read from.
    pub fn number(&self, i: usize) -> usize {
        self.0.get(i).copied().unwrap_or(i + 1)
    }
}

/// The non-empty records of `text` with their 1-based line numbers, cells trimmed, fields
/// separated as [`delimiter`] finds. Every record must have the first one's width (the error
/// names the line).
pub fn records(text: &str, file: &str) -> Result<Table, CsvError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(text))
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    // The csv crate's line numbers skip blank lines: count newlines before the record instead,
    // from where the previous count stopped (records come in byte order), so that a large file
    // costs one pass and not one pass per record.
    let b = text.as_bytes();
    let mut counted = (0usize, 1usize); // (bytes scanned, line number there)
    let mut line_at = |byte: u64| -> usize {
        let mut end = (byte as usize).min(b.len());
        while end < b.len() && matches!(b[end], b'\n' | b'\r') {
            end += 1;
        }
        let (from, line) = if end >= counted.0 { counted } else { (0, 1) };
        let line = line + b[from..end].iter().filter(|&&c| c == b'\n').count();
        counted = (end, line);
        line
    };
    let mut out: Vec<(usize, Vec<String>)> = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| line_at(p.byte()));
            CsvError {
                file: file.into(),
                line,
                field: "-".into(),
                msg: e.to_string(),
            }
        })?;
        let line = rec.position().map_or(0, |p| line_at(p.byte()));
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let cells: Vec<String> = rec.iter().map(str::to_string).collect();
        if let Some((first_line, first)) = out.first() {
            if cells.len() != first.len() {
                return Err(CsvError {
                    file: file.into(),
                    line,
                    field: format!("column {}", cells.len().min(first.len()) + 1),
                    msg: width_mismatch(text, (*first_line, first), &cells, line),
                });
            }
        }
        out.push((line, cells));
    }
    let columns = FileColumns(drop_empty_columns(&mut out));
    Ok(Table { rows: out, columns })
}

/// What a record of another width than the first is likely to be, with the line's text: a
/// preamble of one field above the header, a footer or note of one field, a separator at the
/// end of the line, or a separator chosen by the first line that the others do not use.
fn width_mismatch(
    text: &str,
    (first_line, first): (usize, &[String]),
    cells: &[String],
    line: usize,
) -> String {
    let sep = char::from(delimiter(text));
    let raw = text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
        .trim();
    let shown: String = raw.chars().take(80).collect();
    let more = if raw.chars().count() > 80 { "..." } else { "" };
    let hint = if sep == ',' && raw.contains(';') && !raw.contains(',') {
        format!("; fields are separated by commas because line {first_line} has one (inside a quoted name?), and this line has none: use one separator throughout")
    } else if first.len() == 1 {
        format!(
            "; line {first_line}, the first, has one field: a title or a logger's preamble above the header? Start such lines with `#`"
        )
    } else if cells.len() == 1 {
        "; a line of one field (a title, a footer, a note?): start it with `#` or delete it".into()
    } else if cells.len() == first.len() + 1 && cells.last().is_some_and(String::is_empty) {
        format!("; this line ends with a {sep:?} that line {first_line} lacks: remove it, or add one to line {first_line}")
    } else {
        String::new()
    };
    format!(
        "expected {} fields (as line {first_line}), found {}: {shown:?}{more}{hint}",
        first.len(),
        cells.len()
    )
}

/// Removes the columns empty in every record, the header's name included: the column a
/// trailing comma on every line makes (as spreadsheets export), or `,,`. Such a column holds
/// nothing a feature, a label or a target could be read from. Returns the 1-based file column
/// of each column kept.
fn drop_empty_columns(records: &mut [(usize, Vec<String>)]) -> Vec<usize> {
    let Some(width) = records.first().map(|(_, r)| r.len()) else {
        return Vec::new();
    };
    let empty: Vec<bool> = (0..width)
        .map(|c| {
            records
                .iter()
                .all(|(_, r)| r.get(c).is_none_or(String::is_empty))
        })
        .collect();
    let kept = (1..=width).filter(|c| !empty[c - 1]).collect();
    if !empty.contains(&true) {
        return kept;
    }
    for (_, r) in records.iter_mut() {
        let mut c = 0;
        r.retain(|_| {
            c += 1;
            !empty[c - 1]
        });
    }
    kept
}

/// `cell` as a number that is finite in f32 (what the device computes in).
pub fn finite_f32(cell: &str) -> Result<f64, String> {
    let v: f64 = cell.parse().map_err(|_| {
        if decimal_comma(cell) {
            format!("not a number: {cell:?} (a decimal comma: write numbers with a decimal point)")
        } else {
            format!("not a number: {cell:?}")
        }
    })?;
    if !v.is_finite() || v.abs() > f64::from(f32::MAX) {
        return Err(format!(
            "{cell} is not a finite 32-bit float (|x| <= 3.4e38)"
        ));
    }
    Ok(v)
}

/// Whether the first row `first` is a header: some cell is not a number, and the row is not
/// shaped like the row after it, `next` (text only in columns where `next` has text too: the
/// first row of a headerless file whose labels are class names). A row shaped so whose numbers
/// are 0, 1, 2, ... in order (pandas' default column names) is a header. Numbers written with
/// a decimal comma are numbers.
pub fn is_header(first: &[String], next: Option<&[String]>) -> bool {
    // A number with a decimal comma counts as a number here (a European spreadsheet's
    // export): its row is data, whose cells `finite_f32` then refuses saying why.
    let text = |c: &String| c.parse::<f64>().is_err() && !decimal_comma(c);
    if !first.iter().any(text) {
        return false;
    }
    let Some(next) = next else {
        return true;
    };
    let like_data =
        first.len() == next.len() && first.iter().zip(next).all(|(a, b)| !text(a) || text(b));
    let numbers: Vec<f64> = first.iter().filter_map(|c| c.parse().ok()).collect();
    let counted = numbers.len() > 1 && (numbers.iter().enumerate()).all(|(i, &v)| v == i as f64);
    !like_data || counted
}

/// Whether `cell` is a number once its first comma is a decimal point (`23,5`: a spreadsheet
/// of a locale whose decimal mark is the comma).
pub fn decimal_comma(cell: &str) -> bool {
    cell.replacen(',', ".", 1).parse::<f64>().is_ok()
}

/// `s` as one word of a shell command: as it is when it holds only letters, digits and
/// `_ . - / :`, else in double quotes (a column name with a space in a suggested option).
pub fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_.-/:".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

/// True when `cell` is how a missing value is written (empty, `NA`, `NaN`, `null`, `?`, ...).
pub fn is_missing(cell: &str) -> bool {
    let missing = ["", "na", "n/a", "nan", "null", "none", "?", "-"];
    missing.contains(&cell.trim().to_ascii_lowercase().as_str())
}

/// The header row of a CSV file (gzip accepted), None when its first row is data.
pub fn file_header(path: &Path) -> Result<Option<Vec<String>>> {
    let file = path.display().to_string();
    let (text, _) = read_text(path)?;
    let rows = records(&text, &file)?.rows;
    let next = rows.get(1).map(|(_, c)| c.as_slice());
    Ok(rows
        .first()
        .filter(|(_, c)| is_header(c, next))
        .map(|(_, c)| c.clone()))
}

/// The header column `name` names: the first whose trimmed text is `name`, else the first
/// equal to it ignoring ASCII case (`Label` for `label`). Every named column (a label, a task
/// id, a target) is found this way.
pub fn column(header: &[String], name: &str) -> Option<usize> {
    let name = name.trim();
    header.iter().position(|h| h.trim() == name).or_else(|| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    })
}

/// `what` (the file, or a head's name) and its inputs' column names in the order the device
/// takes them: every name up to 12, else the first 8, `...` and the last 2.
pub fn describe_inputs(what: &str, names: &[String]) -> String {
    let shown = match names.len() {
        0..=12 => names.join(", "),
        n => format!(
            "{}, ..., {}",
            names[..8].join(", "),
            names[n - 2..].join(", ")
        ),
    };
    format!(
        "{what}: {} input(s), in the order the device takes them: {shown}",
        names.len()
    )
}

/// The input columns (of `d`, row-major `groups`: each group's rows in file order, a task's or
/// the whole file's) whose value rises from one row to the next on at least 95 % of the
/// consecutive pairs of every group together (20 pairs or more) and, over several groups,
/// whose groups' ranges mostly do not overlap (at most half of the pairs of groups): a
/// timestamp or a running row index, which rarely belongs among a model's inputs. A sweep
/// each task repeats (the same set points in rising order) overlaps, and is not one.
pub fn rising_columns(groups: &[&[f64]], d: usize) -> Vec<usize> {
    let pairs: usize = groups
        .iter()
        .map(|g| (g.len() / d.max(1)).saturating_sub(1))
        .sum();
    if d == 0 || pairs < 20 {
        return Vec::new();
    }
    (0..d)
        .filter(|&j| {
            let rises: usize = groups
                .iter()
                .map(|g| {
                    let col: Vec<f64> = g.chunks_exact(d).map(|r| r[j]).collect();
                    col.windows(2).filter(|w| w[1] > w[0]).count()
                })
                .sum();
            rises as f64 >= 0.95 * pairs as f64 && !ranges_overlap(groups, d, j)
        })
        .collect()
}

/// True when column `j`'s ranges over `groups` overlap in more than half of the pairs of
/// groups (false for one group).
fn ranges_overlap(groups: &[&[f64]], d: usize, j: usize) -> bool {
    let ranges: Vec<(f64, f64)> = groups
        .iter()
        .filter(|g| g.len() >= d)
        .map(|g| {
            g.chunks_exact(d)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
                    (lo.min(r[j]), hi.max(r[j]))
                })
        })
        .collect();
    let (mut pairs, mut overlapping) = (0usize, 0usize);
    for (i, a) in ranges.iter().enumerate() {
        for b in &ranges[i + 1..] {
            pairs += 1;
            overlapping += usize::from(a.0 <= b.1 && b.0 <= a.1);
        }
    }
    2 * overlapping > pairs
}

/// The input columns (of `d`, row-major `groups`) whose every value is a whole number of at
/// least 7 digits: an epoch time (seconds or milliseconds), a serial number or a running
/// counter, whatever the rows' order (an export sorted by class or by device hides a time
/// from [`rising_columns`]).
pub fn big_whole_columns(groups: &[&[f64]], d: usize) -> Vec<usize> {
    let mut rows = groups
        .iter()
        .flat_map(|g| g.chunks_exact(d.max(1)))
        .peekable();
    if d == 0 || rows.peek().is_none() {
        return Vec::new();
    }
    let mut big = vec![true; d];
    for r in rows {
        for (b, v) in big.iter_mut().zip(r) {
            *b &= v.fract() == 0.0 && v.abs() >= 1e6;
        }
    }
    (0..d).filter(|&j| big[j]).collect()
}

/// The warning line for [`rising_columns`] and [`big_whole_columns`] of `names`, if any.
pub fn rising_warning(names: &[String], groups: &[&[f64]]) -> Option<String> {
    let mut rising = rising_columns(groups, names.len());
    rising.extend(big_whole_columns(groups, names.len()));
    rising.sort_unstable();
    rising.dedup();
    if rising.is_empty() {
        return None;
    }
    let listed: Vec<String> = rising.iter().map(|&j| format!("{:?}", names[j])).collect();
    Some(format!(
        "warning: input column(s) {} rise from each row to the next or hold only whole numbers of 7 digits or more: a time, a row index, an id or a counter is rarely an input (the device would see values it was never trained on); if it is not one of your inputs, `ignore_columns = [{}]`",
        listed.join(", "),
        listed.join(", ")
    ))
}

/// The input columns (of `d`, row-major `groups`) that hold one value in every row, each with
/// that value (none for fewer than two rows).
pub fn constant_columns(groups: &[&[f64]], d: usize) -> Vec<(usize, f64)> {
    let mut rows = groups.iter().flat_map(|g| g.chunks_exact(d.max(1)));
    let Some(first) = rows.next().filter(|_| d > 0) else {
        return Vec::new();
    };
    let mut same = vec![true; d];
    let mut n = 1;
    for r in rows {
        n += 1;
        for (s, (a, b)) in same.iter_mut().zip(r.iter().zip(first)) {
            *s &= a == b;
        }
    }
    match n >= 2 {
        true => (0..d).filter(|&j| same[j]).map(|j| (j, first[j])).collect(),
        false => Vec::new(),
    }
}

/// The warning line for [`constant_columns`] of `names`, if any: a sensor that was dead or
/// unplugged while the data was recorded teaches the model nothing, and the device, whose
/// sensor reads, gets inputs the model never saw.
pub fn constant_warning(names: &[String], groups: &[&[f64]]) -> Option<String> {
    let found = constant_columns(groups, names.len());
    if found.is_empty() {
        return None;
    }
    let listed: Vec<String> = found
        .iter()
        .map(|&(j, v)| format!("{:?} (always {v})", names[j]))
        .collect();
    let quoted: Vec<String> = found
        .iter()
        .map(|&(j, _)| format!("{:?}", names[j]))
        .collect();
    Some(format!(
        "warning: input column(s) {} hold one value in every row: the model learns nothing from them, and a device whose reading differs (a sensor dead or unplugged while recording) gets inputs it never saw; drop them: `ignore_columns = [{}]`",
        listed.join(", "),
        quoted.join(", ")
    ))
}

/// The rows of `d` values of row-major `groups`, in order.
pub fn rows_of<'a>(groups: &[&'a [f64]], d: usize) -> Vec<&'a [f64]> {
    groups
        .iter()
        .flat_map(|g| g.chunks_exact(d.max(1)))
        .collect()
}

/// The input columns (of `d`, row-major `groups`) whose variation the device's 32-bit floats
/// cannot carry: the spacing of f32 values at the column's largest magnitude is more than 1 %
/// of its standard deviation (an epoch time in seconds over a few minutes, an id of many
/// digits). Each with its mean, standard deviation and that spacing.
pub fn imprecise_columns(groups: &[&[f64]], d: usize) -> Vec<(usize, f64, f64, f64)> {
    let rows = rows_of(groups, d);
    if d == 0 || rows.len() < 2 {
        return Vec::new();
    }
    let n = rows.len() as f64;
    (0..d)
        .filter_map(|j| {
            let mean = rows.iter().map(|r| r[j]).sum::<f64>() / n;
            let sd = (rows.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / n).sqrt();
            let top = rows.iter().map(|r| r[j].abs()).fold(0.0f64, f64::max) as f32;
            let spacing = f64::from(f32::from_bits(top.to_bits() + 1) - top);
            (sd > 0.0 && spacing > 0.01 * sd).then_some((j, mean, sd, spacing))
        })
        .collect()
}

/// The warning line for [`imprecise_columns`] of `names`, if any.
pub fn imprecise_warning(names: &[String], groups: &[&[f64]]) -> Option<String> {
    let found = imprecise_columns(groups, names.len());
    if found.is_empty() {
        return None;
    }
    let listed: Vec<String> = found
        .iter()
        .map(|&(j, m, sd, step)| {
            format!(
                "{:?} (around {m:.4e}, varying by {sd:.3e}; f32 steps of {step:.3e} there)",
                names[j]
            )
        })
        .collect();
    let names: Vec<String> = found
        .iter()
        .map(|&(j, ..)| format!("{:?}", names[j]))
        .collect();
    Some(format!(
        "warning: input column(s) {}: the device takes inputs as 32-bit floats, which lose most of this variation (a time or an id?); if it is not one of your inputs, `ignore_columns = [{}]`, else subtract an offset first",
        listed.join(", "),
        names.join(", ")
    ))
}

/// The columns of `header` that `names` name (a configuration's `ignore_columns`, `trainer
/// device --ignore-columns`): read by nothing, neither features nor label nor targets (row ids,
/// timestamps, subjects). An error, as the message to show, when the file has no header or a
/// name matches no column.
pub fn ignored(header: Option<&[String]>, names: &[String]) -> Result<Vec<usize>, String> {
    let Some(header) = header else {
        return match names.first() {
            Some(n) => Err(format!(
                "`ignore_columns` names {n:?}, and this file has no header row to find it in"
            )),
            None => Ok(Vec::new()),
        };
    };
    let mut cols = Vec::with_capacity(names.len());
    for n in names {
        match column(header, n) {
            Some(i) if !cols.contains(&i) => cols.push(i),
            Some(_) => return Err(format!("`ignore_columns` names {n:?} twice")),
            None => {
                return Err(format!(
                    "`ignore_columns` names {n:?}: no such column among {}",
                    header.join(", ")
                ))
            }
        }
    }
    Ok(cols)
}

#[cfg(test)]
mod tests {
    use super::{
        big_whole_columns, constant_columns, constant_warning, describe_inputs, finite_f32,
        ignored, imprecise_columns, is_header, records, rising_columns, rising_warning,
    };

    #[test]
    fn columns_f32_cannot_carry_are_found() {
        // An epoch time over 20 minutes beside a reading around 10: the time's f32 spacing
        // (128 s) is 37 % of its spread.
        let rows: Vec<f64> = (0..40)
            .flat_map(|i| [1.7e9 + 30.0 * f64::from(i), 10.0 + 0.1 * f64::from(i % 7)])
            .collect();
        let found = imprecise_columns(&[&rows], 2);
        assert_eq!(found.iter().map(|c| c.0).collect::<Vec<_>>(), [0]);
        assert_eq!(found[0].3, 128.0);
        // The same time over days is carried (128 s of a spread of hours), as is a constant.
        let days: Vec<f64> = (0..40)
            .flat_map(|i| [1.7e9 + 86_400.0 * f64::from(i), 5.0])
            .collect();
        assert!(imprecise_columns(&[&days], 2).is_empty());
    }

    #[test]
    fn a_record_of_another_width_says_what_it_likely_is() {
        let e = |text: &str| records(text, "f.csv").unwrap_err().msg;
        assert!(e("Logger X\na,b,c\n1,2,3\n").contains("preamble"));
        let footer = e("a,b,c\n1,2,3\nend of file\n");
        assert!(footer.contains("a line of one field") && footer.contains("\"end of file\""));
        assert!(e("a,b,c\n1,2,3,\n").contains("ends with a ','"));
        assert!(e("a;\"b,c\";d\n1;2;3\n").contains("separated by commas"));
    }

    #[test]
    fn epoch_times_are_told_in_any_row_order() {
        // Sorted by class, not by time: the times fall and rise, still whole and of 10 digits.
        let rows = [1.7e9 + 50.0, 0.3, 1.7e9 + 10.0, 0.1, 1.7e9 + 90.0, 0.2];
        assert_eq!(big_whole_columns(&[&rows], 2), [0]);
        assert!(big_whole_columns(&[&[1.7e9 + 0.5, 1.0]], 2).is_empty());
        let names: Vec<String> = ["timestamp", "x"].map(String::from).into();
        assert!(rising_warning(&names, &[&rows])
            .unwrap()
            .contains("\"timestamp\""));
    }

    #[test]
    fn a_column_of_one_value_is_told() {
        let rows = [1.0, 0.0, 5.0, 2.0, 0.0, 5.0, 3.0, 0.0, 6.0];
        assert_eq!(constant_columns(&[&rows[..6], &rows[6..]], 3), [(1, 0.0)]);
        assert!(constant_columns(&[&rows[..3]], 3).is_empty(), "one row");
        let names: Vec<String> = ["a", "p_3", "c"].map(String::from).into();
        let w = constant_warning(&names, &[&rows]).unwrap();
        assert!(
            w.contains("\"p_3\" (always 0)") && w.contains("ignore_columns = [\"p_3\"]"),
            "{w}"
        );
    }

    #[test]
    fn a_first_row_shaped_like_the_data_is_data() {
        let row = |cells: &[&str]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let data = row(&["1.5", "-2", "wave"]);
        let next = Some(&data[..]);
        // Headerless, class names for labels: text where the next row has text.
        assert!(!is_header(&row(&["0.5", "3", "pull"]), next));
        assert!(!is_header(&row(&["0.5", "3", "1"]), next));
        // Names, a subject column's text, pandas' 0, 1, ... column names, no next row.
        assert!(is_header(&row(&["ax", "ay", "gesture"]), next));
        assert!(is_header(&row(&["ax", "2", "gesture"]), next));
        assert!(is_header(&row(&["0", "1", "label"]), next));
        assert!(is_header(&row(&["0.5", "3", "pull"]), None));
        assert!(is_header(&row(&["0.5", "pull"]), next), "another width");
        // Decimal commas (a semicolon export in a European locale) are numbers: a header.
        let comma = row(&["128,82", "-0,5", "wave"]);
        assert!(is_header(
            &row(&["I_rms [A]", "p [mbar]", "class"]),
            Some(&comma[..])
        ));
        assert!(!is_header(&row(&["1,5", "2", "pull"]), Some(&comma[..])));
    }

    #[test]
    fn semicolons_and_tabs_separate_fields_when_the_first_line_has_no_comma() {
        for text in [
            "a;b\n1;2\n",
            "# note, with a comma\na\tb\n1\t2\n",
            "a,b\n1,2\n",
        ] {
            let r = records(text, "t.csv").unwrap().rows;
            assert_eq!(r[1].1, ["1", "2"], "{text:?}");
        }
        // A comma in the first line keeps the comma: semicolons are then part of a field.
        let r = records("a,b;c\n1,2;3\n", "t.csv").unwrap().rows;
        assert_eq!(r[1].1, ["1", "2;3"]);
        assert!(finite_f32("23,5").unwrap_err().contains("decimal comma"));
        assert!(!finite_f32("x").unwrap_err().contains("decimal comma"));
    }

    #[test]
    fn columns_empty_in_every_record_are_dropped() {
        // A trailing comma on every line (spreadsheet exports), CRLF, and an empty column
        // between two others; a column empty in some rows only stays (its cells are errors
        // for the reader to name).
        let t = records("a,,b,\r\n1,,2,\r\n3,,4,\r\n", "t.csv").unwrap();
        assert_eq!(t.rows[0].1, ["a", "b"]);
        assert_eq!(t.rows[2].1, ["3", "4"]);
        // Messages name the file's columns: "b" is the third.
        assert_eq!((t.columns.number(0), t.columns.number(1)), (1, 3));
        let t = records("a,b\n1,\n3,4\n", "t.csv").unwrap();
        assert_eq!(t.rows[1].1, ["1", ""]);
        assert_eq!(t.columns.number(1), 2);
    }

    #[test]
    fn records_carry_their_lines_across_blank_lines() {
        let text = "a,b\n\n1,2\n\n\r\n3,4\n5,6\n";
        let lines: Vec<usize> = records(text, "t.csv")
            .unwrap()
            .rows
            .iter()
            .map(|(line, _)| *line)
            .collect();
        assert_eq!(lines, [1, 3, 6, 7]);
        let err = records("a,b\n1,2\n\n3\n", "t.csv").unwrap_err();
        assert_eq!((err.line, err.field.as_str()), (4, "column 2"));
    }

    #[test]
    fn ignored_columns_are_found_by_name_once_each() {
        let header: Vec<String> = ["Subject", "t", "x", "label"].map(String::from).into();
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ignored(Some(&header), &names(&["subject", "t"])),
            Ok(vec![0, 1])
        );
        assert_eq!(ignored(None, &[]), Ok(vec![]));
        assert!(ignored(None, &names(&["t"]))
            .unwrap_err()
            .contains("no header"));
        assert!(ignored(Some(&header), &names(&["y"]))
            .unwrap_err()
            .contains("Subject, t, x"));
        assert!(ignored(Some(&header), &names(&["t", "T"]))
            .unwrap_err()
            .contains("twice"));
    }

    #[test]
    fn a_time_column_is_told_and_sensor_columns_are_not() {
        // Two tasks of 15 rows: a timestamp rising within each, a sensor going up and down.
        let task = |t0: f64| -> Vec<f64> {
            (0..15)
                .flat_map(|i| [t0 + i as f64, ((i * 7) % 5) as f64])
                .collect()
        };
        let (a, b) = (task(1000.0), task(10.0));
        assert_eq!(rising_columns(&[&a, &b], 2), vec![0]);
        let names = ["timestamp", "r1"].map(String::from);
        let w = rising_warning(&names, &[&a, &b]).unwrap();
        assert!(w.contains("\"timestamp\"") && !w.contains("r1"), "{w}");
        // Too few rows to tell.
        assert!(rising_columns(&[&a[..20]], 2).is_empty());
        // A sweep each task repeats is an input.
        let sweep = task(0.0);
        assert!(rising_columns(&[&sweep, &sweep], 2).is_empty());
        let inputs: Vec<String> = (1..=20).map(|i| format!("x{i}")).collect();
        let line = describe_inputs("f.csv", &inputs);
        assert!(
            line.contains("20 input(s)") && line.ends_with("x8, ..., x19, x20"),
            "{line}"
        );
    }
}
