//! `classify`: each row of a CSV by the adapted head or the class bank.

use super::*;

/// What classifies the rows.
#[derive(Clone, Copy)]
pub(super) enum By {
    /// The adapted head.
    Head,
    /// The class bank, answering "unknown" above a threshold if one is given.
    Bank(Option<Unknown>),
}

/// The "none of the taught classes" threshold of `classify --enrolled`.
#[derive(Clone, Copy)]
pub(super) enum Unknown {
    /// On the relative distance.
    Relative(f32),
    /// On the squared distance.
    Distance(f32),
}

impl Unknown {
    /// The threshold as its option gives it.
    pub(super) fn describe(self) -> String {
        match self {
            Unknown::Relative(r) => format!("--unknown-relative {r}"),
            Unknown::Distance(d) => format!("--unknown-distance {d}"),
        }
    }
}

/// The class a reply answers (`None`: unknown), or `None` for a refusal.
pub(super) fn answer(reply: &Reply, by: By) -> Result<Option<Option<u16>>> {
    Ok(Some(match (reply, by) {
        (&Reply::Class { class, .. }, By::Head) => Some(class),
        (&Reply::Enrolled { class, .. }, By::Bank(None)) => Some(class),
        (
            &Reply::Enrolled { class, distance, .. },
            By::Bank(Some(Unknown::Distance(d))),
        ) => (distance <= d).then_some(class),
        (
            &Reply::Enrolled {
                class,
                relative_distance,
                ..
            },
            By::Bank(Some(Unknown::Relative(r))),
        ) => match relative_distance {
            Some(v) => (v <= r).then_some(class),
            None => bail!(
                "--unknown-relative: the bank has no within-class variance yet (enroll a class from 2 samples or more)"
            ),
        },
        _ => return Ok(None),
    }))
}

/// Classifies each row, by the adapted head or the class bank, whose classes are the caller's
/// labels (answering "unknown" above `--unknown-relative` or `--unknown-distance`). Rows
/// labelled by number are scored against the answer; rows labelled by class name are scored
/// through `--class-label` (their device labels), and their answers are tallied per name.
pub(super) fn classify(client: &mut Client, out: &mut Output, csv: &Path, by: By) -> Result<()> {
    let info = info(client)?;
    let head = info.heads.get(usize::from(info.adapted_head));
    if matches!(by, By::Head) && head.is_some_and(|h| matches!(h.kind, HeadKind::Regression)) {
        bail!("the device's head is a regression head: `infer` gives its outputs");
    }
    let (mut right, mut labelled) = (0usize, 0usize);
    // The rows' labels none of the bank's: scored against classes it cannot answer.
    let mut foreign: std::collections::BTreeSet<u16> = Default::default();
    let mut tally: BTreeMap<String, BTreeMap<Option<u16>, usize>> = BTreeMap::new();
    // Rows the head scored 1 / classes: all its classes alike (a head not adapted yet).
    let (mut uniform, mut answered) = (0usize, 0usize);
    // Each answered row's class (`None`: unknown), in order: `answers` in --json.
    let mut answers: Vec<Option<u16>> = Vec::new();
    let classes = info
        .heads
        .get(usize::from(info.adapted_head))
        .map_or(0, |h| h.outputs);
    for row in out.rows(csv, &info)? {
        let action = match by {
            By::Bank(_) => InputAction::ClassifyEnrolled,
            By::Head => InputAction::Classify,
        };
        let reply = out.act(client, action, &row)?;
        if matches!(reply, Reply::Error(_)) {
            if matches!(by, By::Head) && super::refused_with(&reply, "NoClassEnrolled") {
                eprintln!("note: the device's head starts from prototypes: it has no classes until a support set (`push --csv`, then `adapt`; or `restore` a saved state); `classify --enrolled` asks the class bank");
            }
            break; // every other row would be refused alike
        }
        if let Reply::Class { score, .. } = reply {
            answered += 1;
            uniform += usize::from(classes > 0 && score == 1.0 / f32::from(classes));
        }
        let Some(class) = answer(&reply, by)? else {
            continue;
        };
        answers.push(class);
        if let (None, false, By::Bank(Some(threshold))) = (class, out.json, by) {
            println!("  -> unknown (above {})", threshold.describe());
        }
        let truth = match &row.class {
            Some(name) => {
                *tally
                    .entry(name.clone())
                    .or_default()
                    .entry(class)
                    .or_default() += 1;
                out.names.get(name).copied()
            }
            None => {
                let l = label(&row, csv)?;
                // A number given its device label by --class-label is tallied as a name is.
                if let Some(key) = l
                    .map(|l| l.to_string())
                    .filter(|k| out.names.contains_key(k))
                {
                    *tally.entry(key).or_default().entry(class).or_default() += 1;
                }
                l.map(|l| out.device_label(l))
            }
        };
        if let Some(l) = truth {
            labelled += 1;
            right += usize::from(class == Some(l));
            let answerable = match (by, &info.bank) {
                (By::Bank(_), Some(bank)) => bank.labels.contains(&l),
                (By::Bank(_), None) => true, // the device refuses: said by its reply
                (By::Head, _) => l < classes,
            };
            if !answerable {
                foreign.insert(l);
            }
        }
    }
    if out.json {
        if labelled > 0 {
            let accuracy = serde_json::json!({
                "right": right,
                "labelled": labelled,
                "percent": 100.0 * right as f64 / labelled as f64,
            });
            out.summary.insert("accuracy".into(), accuracy);
        }
        // What the text prints: each row's answer (null: unknown, above the threshold), the
        // answers per class name, the names not scored and the labels the bank lacks.
        out.summary
            .insert("answers".into(), serde_json::json!(answers));
        if !tally.is_empty() {
            let per_name: BTreeMap<&String, BTreeMap<String, usize>> = tally
                .iter()
                .map(|(name, a)| {
                    let counts = a
                        .iter()
                        .map(|(l, n)| (l.map_or("unknown".into(), |l| l.to_string()), *n))
                        .collect();
                    (name, counts)
                })
                .collect();
            out.summary
                .insert("answered_per_class".into(), serde_json::json!(per_name));
            let unnamed: Vec<&String> = tally
                .keys()
                .filter(|n| !out.names.contains_key(*n))
                .collect();
            out.summary
                .insert("not_scored".into(), serde_json::json!(unnamed));
        }
        if !foreign.is_empty() {
            out.summary
                .insert("labels_it_cannot_answer".into(), serde_json::json!(foreign));
        }
        return Ok(());
    }
    if answered > 0 && uniform == answered {
        eprintln!(
            "note: every row scored 1/{classes} for every class: the head's classes are alike, as before any adaptation (push samples and adapt, or restore a saved state)"
        );
    }
    for (name, answers) in &tally {
        let list: Vec<String> = answers
            .iter()
            .map(|(l, n)| match l {
                Some(l) => format!("{l} x{n}"),
                None => format!("unknown x{n}"),
            })
            .collect();
        println!("class {name:?}: answered {}", list.join(", "));
    }
    let unnamed: Vec<&String> = tally
        .keys()
        .filter(|n| !out.names.contains_key(*n))
        .collect();
    if !unnamed.is_empty() {
        println!("not scored (no --class-label NAME=LABEL): {unnamed:?}");
    }
    if labelled > 0 {
        let pct = 100.0 * right as f64 / labelled as f64;
        println!("accuracy: {right}/{labelled} ({pct:.1}%)");
    }
    match (foreign.is_empty(), by, &info.bank) {
        (true, _, _) => {}
        (false, By::Bank(_), Some(bank)) => eprintln!(
            "note: rows labelled {foreign:?}, which the bank has not enrolled (its labels: {:?}), cannot be answered right: give the CSV's labels the enrolled ones with --class-label CSV=ENROLLED",
            bank.labels
        ),
        (false, _, _) => eprintln!(
            "note: rows labelled {foreign:?} cannot be answered right: the device's head has {classes} classes, 0 to {} (`push` refuses such labels)",
            classes.saturating_sub(1)
        ),
    }
    Ok(())
}
