//! Task sources: the sinusoid protocol and CSV parsing with precise errors.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use trainer::tasks::{Columns, CsvTasks, Sinusoid, Split, TaskSource};

#[test]
fn sinusoid_follows_the_maml_protocol() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..200 {
        let t = Sinusoid.sample(Split::MetaTrain, 5, 7, &mut rng);
        let (a, ph) = t.truth.unwrap();
        assert!((0.1..5.0).contains(&a) && (0.0..std::f64::consts::PI).contains(&ph));
        assert_eq!((t.k(), t.q()), (5, 7));
        for (x, y) in t
            .support_x
            .iter()
            .chain(&t.query_x)
            .zip(t.support_y.iter().chain(&t.query_y))
        {
            assert!((-5.0..5.0).contains(x));
            assert!((y - a * (x - ph).sin()).abs() < 1e-12);
        }
    }
    // Seeded: same rng, same task.
    let a = Sinusoid.sample(Split::MetaTrain, 3, 3, &mut ChaCha8Rng::seed_from_u64(9));
    let b = Sinusoid.sample(Split::MetaTrain, 3, 3, &mut ChaCha8Rng::seed_from_u64(9));
    assert_eq!(a, b);
}

fn csv(n_tasks: usize, rows: usize) -> String {
    let mut s = String::from("task_id,x1,x2,y1\n");
    for t in 0..n_tasks {
        for r in 0..rows {
            s += &format!("t{t},{},{},{}\n", r as f64, t as f64, (r + t) as f64);
        }
    }
    s
}

#[test]
fn csv_split_is_seeded_and_disjoint() {
    let a = CsvTasks::parse(&csv(10, 6), "f.csv", 0.3, 5, 2, &Columns::default()).unwrap();
    let b = CsvTasks::parse(&csv(10, 6), "f.csv", 0.3, 5, 2, &Columns::default()).unwrap();
    assert_eq!(a.test_ids, b.test_ids);
    assert_eq!(a.test_ids.len(), 3);
    assert!(a.test_ids.iter().all(|i| !a.train_ids.contains(i)));
    assert_eq!((a.n_in(), a.n_out()), (2, 1));
    let t = a.sample(Split::MetaTest, 2, 3, &mut ChaCha8Rng::seed_from_u64(0));
    assert_eq!((t.k(), t.q()), (2, 3));
}

#[test]
fn csv_gzip_accepted() {
    let dir = std::env::temp_dir().join(format!("trainer-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("tasks.csv.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(csv(4, 3).as_bytes()).unwrap();
    std::fs::write(&p, e.finish().unwrap()).unwrap();
    let t = CsvTasks::load(&p, 0.25, 1, 2, &Columns::default()).unwrap();
    assert_eq!(t.train_ids.len() + t.test_ids.len(), 4);
}

/// A user's own column names: the task id anywhere, the targets named, every other column an
/// input in the file's order; the same tasks as the `x..`/`y..` layout of the same values.
#[test]
fn csv_columns_can_be_named() {
    let mut named = String::from("temp_c,subject,reading_mv,humidity\n");
    let mut plain = String::from("task_id,x1,x2,y1\n");
    for t in 0..6 {
        for r in 0..5 {
            let (temp, hum, y) = (
                r as f64 - 2.0,
                40.0 + t as f64,
                1500.0 + 10.0 * r as f64 + t as f64,
            );
            named += &format!("{temp},s{t},{y},{hum}\n");
            plain += &format!("s{t},{temp},{hum},{y}\n");
        }
    }
    let columns = Columns {
        task_column: "subject".into(),
        targets: vec!["reading_mv".into()],
        ignore: Vec::new(),
    };
    let a = CsvTasks::parse(&named, "n.csv", 0.3, 2, 2, &columns).unwrap();
    let b = CsvTasks::parse(&plain, "p.csv", 0.3, 2, 2, &Columns::default()).unwrap();
    assert_eq!((a.n_in(), a.n_out(), &a.test_ids), (2, 1, &b.test_ids));
    for split in [Split::MetaTrain, Split::MetaTest] {
        let mut r = (ChaCha8Rng::seed_from_u64(9), ChaCha8Rng::seed_from_u64(9));
        assert_eq!(
            a.sample(split, 2, 2, &mut r.0),
            b.sample(split, 2, 2, &mut r.1)
        );
    }
    // A task column or target the header does not have: the error lists the header.
    let e = CsvTasks::parse(&named, "n.csv", 0.3, 2, 2, &Columns::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("n.csv:1: field `task_id`: no `task_id` column (its columns: temp_c, subject"),
        "{e}"
    );
    let bad = Columns {
        targets: vec!["reading".into()],
        ..columns.clone()
    };
    let e = CsvTasks::parse(&named, "n.csv", 0.3, 2, 2, &bad)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("field `reading`: `targets` names \"reading\""),
        "{e}"
    );
    // A task column whose name starts with `x` is not counted among the inputs.
    let xid = Columns {
        task_column: "xunit".into(),
        ..Columns::default()
    };
    let renamed = plain.replacen("task_id", "xunit", 1);
    let t = CsvTasks::parse(&renamed, "x.csv", 0.3, 2, 2, &xid).unwrap();
    assert_eq!((t.n_in(), t.n_out()), (2, 1));
    // A column read as nothing (a timestamp), with named targets and with the x.. / y.. layout:
    // the same tasks as the file without it.
    let stamp = |text: &str| -> String {
        let mut lines = text.lines();
        let head = format!("logged,{}\n", lines.next().unwrap());
        let rows = lines
            .enumerate()
            .map(|(i, l)| format!("{},{l}\n", 1_700_000_000 + i));
        std::iter::once(head).chain(rows).collect()
    };
    let ignoring = |c: &Columns| Columns {
        ignore: vec!["logged".into()],
        ..c.clone()
    };
    for (text, cols) in [(&named, columns), (&plain, Columns::default())] {
        let a = CsvTasks::parse(&stamp(text), "s.csv", 0.3, 2, 2, &ignoring(&cols)).unwrap();
        let b = CsvTasks::parse(text, "p.csv", 0.3, 2, 2, &cols).unwrap();
        let mut r = (ChaCha8Rng::seed_from_u64(9), ChaCha8Rng::seed_from_u64(9));
        assert_eq!((a.n_in(), a.n_out(), &a.test_ids), (2, 1, &b.test_ids));
        assert_eq!(
            a.sample(Split::MetaTrain, 2, 2, &mut r.0),
            b.sample(Split::MetaTrain, 2, 2, &mut r.1)
        );
        // Without `ignore_columns` the timestamp is an input (named targets) or sits where the
        // task id must be (x.. / y..); a name matching no column is refused.
        let first = CsvTasks::parse(&stamp(text), "s.csv", 0.3, 2, 2, &cols);
        assert!(first.map_or(true, |t| t.n_in() == 3));
        let bad = Columns {
            ignore: vec!["when".into()],
            ..cols.clone()
        };
        let e = CsvTasks::parse(&stamp(text), "s.csv", 0.3, 2, 2, &bad).unwrap_err();
        assert!(
            e.to_string().contains("`ignore_columns` names \"when\""),
            "{e}"
        );
    }
}

fn err(text: &str) -> String {
    CsvTasks::parse(text, "bad.csv", 0.3, 1, 2, &Columns::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn csv_errors_name_file_line_and_field() {
    assert!(err("").contains("bad.csv:1: field `header`"), "{}", err(""));
    let e = err("task_id,x1,y1\na,1,2\na,1\n");
    assert!(
        e.contains("bad.csv:3: field `y1`") && e.contains("expected 3 fields"),
        "{e}"
    );
    let e = err("task_id,x1,y1\na,1,2\na,zz,2\n");
    assert!(
        e.contains("bad.csv:3: field `x1`") && e.contains("column 2: not a number"),
        "{e}"
    );
    // Past a column empty on every line (dropped), the file's column is named, not the index.
    let e = err("task_id,,x1,y1\na,,1,2\na,,zz,2\n");
    assert!(e.contains("column 3: not a number"), "{e}");
    let e = err("task_id,x1,y1\na,1,2\na,1,3\n");
    assert!(
        e.contains("at least 2") && e.contains("field `task_id`"),
        "{e}"
    );
    // The task column under its own name.
    let e = CsvTasks::parse(
        "unit,x1,y1\na,1,2\na,1,3\n",
        "bad.csv",
        0.3,
        1,
        2,
        &Columns {
            task_column: "unit".into(),
            ..Columns::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("field `unit`: 1 task(s)"), "{e}");
    let e = err("id,x1,y1\n");
    assert!(e.contains("bad.csv:1") && e.contains("task_id"), "{e}");
    let e = err("task_id,x1,y1\na,1,2\nb,1,3\n");
    assert!(e.contains("needs at least 2"), "{e}");
}
