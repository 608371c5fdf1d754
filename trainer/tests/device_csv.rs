//! `trainer device`'s CSV rows: the trainer's conventions (optional header, `label` column
//! anywhere, else the columns after the input), values finite as f32, errors with the line.

use trainer::device::{read_rows, Columns};

fn rows(text: &str, inputs: usize) -> anyhow::Result<Vec<(Vec<f32>, Vec<f64>)>> {
    let dir = std::env::temp_dir().join(format!("fewshot-device-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.csv", text.len()));
    std::fs::write(&path, text)?;
    let r = read_rows(&path, inputs).map(|v| v.into_iter().map(|r| (r.x, r.rest)).collect());
    let _ = std::fs::remove_file(&path);
    r
}

/// Each row's input, other values and class name.
type Fields = (Vec<f32>, Vec<f64>, Option<String>);

fn fields(rows: &[trainer::device::Row]) -> Vec<Fields> {
    let each = |r: &trainer::device::Row| (r.x.clone(), r.rest.clone(), r.class.clone());
    rows.iter().map(each).collect()
}

#[test]
fn label_last_without_a_header_or_named_in_one() {
    let plain = rows("1,2,3\n4,5,6\n", 2).unwrap();
    assert_eq!(
        plain,
        vec![(vec![1.0, 2.0], vec![3.0]), (vec![4.0, 5.0], vec![6.0])]
    );
    let named = rows("label,a,b\n7,1,2\n# a comment\n8,3,4\n", 2).unwrap();
    assert_eq!(
        named,
        vec![(vec![1.0, 2.0], vec![7.0]), (vec![3.0, 4.0], vec![8.0])]
    );
    let unlabelled = rows("1,2\n", 2).unwrap();
    assert_eq!(unlabelled, vec![(vec![1.0, 2.0], vec![])]);
}

#[test]
fn a_label_column_of_names_is_kept_as_text() {
    let dir = std::env::temp_dir().join(format!("fewshot-device-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("named.csv");
    std::fs::write(&path, "a,b,label\n1,2,walk\n3,4,\"swipe left\"\n5,6,walk\n").unwrap();
    let r = read_rows(&path, 2).unwrap();
    assert_eq!(
        fields(&r),
        vec![
            (vec![1.0, 2.0], vec![], Some("walk".to_string())),
            (vec![3.0, 4.0], vec![], Some("swipe left".to_string())),
            (vec![5.0, 6.0], vec![], Some("walk".to_string())),
        ]
    );
    // Another header column named as the label column (`--label-column`).
    std::fs::write(&path, "gesture,a,b\ntap,1,2\n").unwrap();
    let r = trainer::device::read_rows_labelled(&path, 2, Columns::label(Some("gesture"))).unwrap();
    assert_eq!(
        (r[0].x.clone(), r[0].class.clone()),
        (vec![1.0, 2.0], Some("tap".to_string()))
    );
    let e = trainer::device::read_rows_labelled(&path, 2, Columns::label(Some("kind")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no header column named \"kind\""), "{e}");
    // Columns read as nothing (`--ignore-columns`), before and after the label; a numeric
    // label's place among the columns read.
    std::fs::write(&path, "who,gesture,a,t,b\nana,tap,1,99,2\nben,3,4,98,5\n").unwrap();
    let ignore = ["who".to_string(), "T".into()];
    let cols = Columns {
        label: Some("gesture"),
        ignore: &ignore,
        subject: None,
    };
    let r = trainer::device::read_rows_labelled(&path, 2, cols).unwrap();
    assert_eq!(
        fields(&r),
        vec![
            (vec![1.0, 2.0], vec![], Some("tap".to_string())),
            (vec![4.0, 5.0], vec![3.0], None),
        ]
    );
    let ignore = ["gesture".to_string()];
    let cols = Columns {
        label: Some("gesture"),
        ignore: &ignore,
        subject: None,
    };
    let e = trainer::device::read_rows_labelled(&path, 2, cols).unwrap_err();
    assert!(e.to_string().contains("names the label column"), "{e}");
    let e = trainer::device::read_rows_labelled(&path, 2, Columns::label(Some("gesture")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(":2: column 1 (\"who\")") && e.contains("--ignore-columns who"),
        "{e}"
    );
    // Names only in a header's `label` column: elsewhere a word is a bad value.
    let e = rows("a,b,c\n1,2,walk\n", 2).unwrap_err().to_string();
    assert!(e.contains(":2:") && e.contains("column 3"), "{e}");
}

#[test]
fn too_few_columns_and_bad_values_name_the_line() {
    let narrow = rows("1,2,3\n", 4).unwrap_err().to_string();
    assert!(
        narrow.contains(":1:") && narrow.contains("the model takes 4"),
        "{narrow}"
    );
    let huge = rows("1,2,0\n1,1e300,0\n", 2).unwrap_err().to_string();
    assert!(huge.contains(":2:") && huge.contains("column 2"), "{huge}");
    // Past a column empty on every line (dropped), the file's column is named.
    let huge = rows("1,,2,0\n1,,1e300,0\n", 2).unwrap_err().to_string();
    assert!(huge.contains(":2:") && huge.contains("column 3"), "{huge}");
}
