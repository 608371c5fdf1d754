//! The commands that push, enroll, infer and update: each a sequence of requests.

use super::*;

pub(super) fn info(client: &mut Client) -> Result<Info> {
    client.info()
}

/// `adapt`; with `--model` and a head of one regression output, the support loss in the
/// target's raw units too (the device reports it on the standardised targets the head trains
/// on: the raw MSE is that times the target's variance).
pub(super) fn adapt(client: &mut Client, out: &mut Output, steps: Option<u16>) -> Result<()> {
    let unit = match &out.model {
        Some(m) => {
            let i = info(client)?;
            let factor = m.raw_mse_factor(&i)?;
            let several =
                |h: &&fewshot_protocol::HeadInfo| h.kind == HeadKind::Regression && h.outputs > 1;
            if let Some(h) = i.heads.get(usize::from(i.adapted_head)).filter(several) {
                eprintln!(
                    "note: the support loss is the mean of the {} outputs' MSEs on their standardised targets: it has no raw units (`infer --csv` gives each output's MSE in its own)",
                    h.outputs
                );
            }
            factor
        }
        None => None,
    };
    let reply = out.ask(client, &Request::Adapt { steps }, describe)?;
    if let (
        Some((factor, target)),
        Reply::Adapted {
            initial_loss,
            final_loss,
            ..
        },
    ) = (unit, &reply)
    {
        let (before, after) = (
            f64::from(*initial_loss) * factor,
            f64::from(*final_loss) * factor,
        );
        if out.json {
            out.summary.insert(
                "support_mse_raw".into(),
                serde_json::json!({ "target": target, "before": before, "after": after }),
            );
        } else {
            println!("  in {target}'s raw units: support MSE {before:.4} -> {after:.4}");
        }
    }
    Ok(())
}

pub(super) fn push(client: &mut Client, out: &mut Output, csv: &Path) -> Result<()> {
    let info = info(client)?;
    let head = info
        .heads
        .get(usize::from(info.adapted_head))
        .context("the device's adapted head is not in its head list")?;
    // Every row's target first: a bad row refuses the file before any is sent, so the support
    // buffer is never left half filled with it.
    let mut pushes = Vec::new();
    for row in out.rows(csv, &info)? {
        let target = match head.kind {
            HeadKind::Regression => {
                if row.rest.len() != usize::from(head.outputs) {
                    bail!(
                        "{}:{}: {} target values after the {} inputs; the device's head predicts {}",
                        csv.display(),
                        row.line,
                        row.rest.len(),
                        info.input_len,
                        head.outputs
                    );
                }
                // At most MAX_OUTPUTS: the device's head has no more outputs (Device::new).
                let values = row.rest.iter().map(|&v| v as f32);
                Target::Values(heapless::Vec::from_iter(values.take(MAX_OUTPUTS)))
            }
            _ => match (&row.class, label(&row, csv)?) {
                (Some(name), _) => match out.names.get(name) {
                    Some(&l) => Target::Class(l),
                    None => bail!(
                        "line {}: class {name:?}: the device's classes are numbers; give its label with `--class-label \"{name}=N\"` (or enroll it with `enroll --class \"{name}\" --label N`)",
                        row.line
                    ),
                },
                (None, l) => {
                    Target::Class(out.device_label(l.context("push needs a label column")?))
                }
            },
        };
        let classes = match head.kind {
            HeadKind::Regression => None,
            HeadKind::Classification | HeadKind::Matching => Some(head.outputs),
        };
        if let (Target::Class(c), Some(classes)) = (&target, classes) {
            if *c >= classes {
                bail!(
                    "{}:{}: label {c}: the device's head has {classes} classes (0 to {}); `enroll` adds a class",
                    csv.display(),
                    row.line,
                    classes - 1
                );
            }
        }
        pushes.push((target, row));
    }
    let total = pushes.len();
    for (i, (target, row)) in pushes.into_iter().enumerate() {
        let reply = out.act(client, InputAction::Push { target }, &row)?;
        if matches!(reply, Reply::Error(_)) {
            // The device refuses what it cannot hold (a full buffer): the rows before stay.
            if i > 0 {
                eprintln!(
                    "note: {}: {i} of its {total} rows are in the support buffer (it had room for {} of {}); `clear` empties it",
                    csv.display(),
                    info.free_samples,
                    info.max_samples
                );
            }
            break;
        }
    }
    Ok(())
}

/// The row's class label, if it has one.
pub(super) fn label(row: &Row, csv: &Path) -> Result<Option<u16>> {
    let at = format!("{}:{}", csv.display(), row.line);
    match row.rest.as_slice() {
        [] => Ok(None),
        [l] if *l >= 0.0 && l.fract() == 0.0 && *l <= f64::from(u16::MAX) => Ok(Some(*l as u16)),
        [l] => bail!("{at}: class label {l}: a label is a whole number from 0 to 65535"),
        more => bail!(
            "{at}: {} values after the {} inputs, where one class label (or none) goes: a column that is neither an input nor the label? --ignore-columns NAME, or --model MODEL to read the model's input columns by name",
            more.len(),
            row.x.len()
        ),
    }
}

/// `NAME=LABEL` pairs (`--class-label`), by name; a name given twice is refused.
pub(super) fn class_label_map(pairs: &[String]) -> Result<BTreeMap<String, u16>> {
    let mut map = BTreeMap::new();
    for p in pairs {
        let (name, label) = p
            .rsplit_once('=')
            .with_context(|| format!("--class-label {p:?}: expected NAME=LABEL"))?;
        let label: u16 = label
            .trim()
            .parse()
            .with_context(|| format!("--class-label {p:?}: LABEL must be a number 0-65535"))?;
        if map.insert(name.trim().to_string(), label).is_some() {
            bail!("--class-label: class {:?} given twice", name.trim());
        }
    }
    Ok(map)
}

/// The adapted head's outputs for each row of `csv`; for a regression head and rows with its
/// targets after the inputs, also the query MSE over them (in the targets' units), and with
/// several outputs each one's (a target in large units would hide the others in the mean).
pub(super) fn infer(client: &mut Client, out: &mut Output, csv: &Path) -> Result<()> {
    let info = info(client)?;
    let head = info.heads.get(usize::from(info.adapted_head));
    let regression = head.is_some_and(|h| matches!(h.kind, HeadKind::Regression));
    let (mut preds, mut truth) = (Vec::new(), Vec::new());
    let mut width = 0;
    let outputs = head.map_or(0, |h| usize::from(h.outputs));
    for row in out.rows(csv, &info)? {
        if regression && !row.rest.is_empty() && row.rest.len() != outputs {
            let by_name = match out.model {
                Some(_) => "",
                None => ", or --model MODEL to read the model's input columns by name",
            };
            bail!(
                "{}:{}: {} values after the {} inputs; the device's head predicts {outputs} (its targets, or none): --ignore-columns NAME for a column that is neither{by_name}",
                csv.display(),
                row.line,
                row.rest.len(),
                row.x.len()
            );
        }
        let reply = out.act(client, InputAction::Infer, &row)?;
        if matches!(reply, Reply::Error(_)) {
            break;
        }
        if let (true, Reply::Outputs(o)) = (regression, &reply) {
            if !row.rest.is_empty() && row.rest.len() == o.len() {
                preds.extend(o.iter().map(|&p| f64::from(p)));
                truth.extend_from_slice(&row.rest);
                width = o.len();
            }
        }
    }
    if truth.is_empty() {
        return Ok(());
    }
    let n = truth.len();
    let all = trainer::eval::mse(preds.iter().copied(), &truth);
    // The head is named after its target columns, joined by ", ".
    let names: Vec<&str> = head.map_or("", |h| h.name.as_str()).split(", ").collect();
    let per_output: Vec<(String, f64)> = match width > 1 {
        true => trainer::eval::output_mses(preds.into_iter(), &truth, width)
            .into_iter()
            .enumerate()
            .map(|(o, m)| match names.len() == width {
                true => (names[o].to_string(), m),
                false => (format!("output {}", o + 1), m),
            })
            .collect(),
        false => Vec::new(),
    };
    if out.json {
        let mse = serde_json::json!({ "mse": all, "target_values": n });
        out.summary.insert("query_mse".into(), mse);
        if !per_output.is_empty() {
            let each: serde_json::Map<String, serde_json::Value> =
                per_output.into_iter().map(|(k, m)| (k, m.into())).collect();
            out.summary.insert("per_output".into(), each.into());
        }
        return Ok(());
    }
    println!("query MSE: {all:.6} over {n} target values");
    for (name, m) in per_output {
        println!("  {name}: {m:.6}");
    }
    Ok(())
}

/// Empties the buffer, pushes every row (its label, if any, is not the class's: the target is
/// ignored by `Enroll`), or with `class` the rows of that class, then enrolls them as class
/// `label`. Stops at the first refusal.
pub(super) fn enroll(
    client: &mut Client,
    out: &mut Output,
    label: u16,
    csv: &Path,
    class: Option<&str>,
) -> Result<()> {
    let info = info(client)?;
    let Some(bank) = &info.bank else {
        bail!("the device's head is not enrollable (export it with --max-classes)");
    };
    // Refused here, before the support buffer is emptied (the device would refuse it after).
    if bank.labels.contains(&label) {
        bail!("label {label} is enrolled already (forget it first, or relabel it)");
    }
    // `labels` lists the first MAX_CLASSES: a shorter list is every class.
    if bank.labels.len() < fewshot_protocol::MAX_CLASSES
        && bank.labels.len() >= usize::from(bank.capacity)
    {
        bail!(
            "the class bank is full ({} of {} classes): forget one first",
            bank.labels.len(),
            bank.capacity
        );
    }
    let rows = of_class(out.rows(csv, &info)?, class, csv)?;
    if class.is_none() {
        let mut classes: Vec<String> = rows.iter().filter_map(class_of).collect();
        classes.sort_unstable();
        classes.dedup();
        if classes.len() > 1 {
            eprintln!(
                "warning: {}: rows of {} classes ({}) enrolled as one class {label}: --class NAME enrolls one class's rows",
                csv.display(),
                classes.len(),
                classes.join(", ")
            );
        }
    }
    // The buffer is emptied for the class's rows: it must hold them all.
    if rows.len() > usize::from(info.max_samples) {
        bail!(
            "{}: {} rows to enroll, the device's support buffer holds {}: enroll from at most {} rows (--class NAME for one class's)",
            csv.display(),
            rows.len(),
            info.max_samples,
            info.max_samples
        );
    }
    if matches!(
        out.ask(client, &Request::ClearSamples, describe)?,
        Reply::Error(_)
    ) {
        return Ok(());
    }
    for row in &rows {
        let push = InputAction::Push {
            target: Target::Class(0),
        };
        if matches!(out.act(client, push, row)?, Reply::Error(_)) {
            return Ok(());
        }
    }
    if matches!(
        out.ask(client, &Request::Enroll { label }, describe)?,
        Reply::Error(_)
    ) {
        // The rows were pushed for this class only: a later `adapt` must not learn from them.
        client.ask(&Request::ClearSamples)?;
        eprintln!("the rows pushed for it were cleared from the support buffer");
    }
    Ok(())
}

/// A row's class, by name or number, when it has one.
pub(super) fn class_of(r: &Row) -> Option<String> {
    match (&r.class, r.rest.as_slice()) {
        (Some(n), _) => Some(n.clone()),
        (None, [l]) => Some(l.to_string()),
        _ => None,
    }
}

/// The rows of `class` (by its name, or its number in a numeric label column; for a CSV of
/// `trainer features`, also a word its record numbers), or every row.
pub(super) fn of_class(rows: Vec<Row>, class: Option<&str>, csv: &Path) -> Result<Vec<Row>> {
    let Some(given) = class else {
        return Ok(rows);
    };
    // A features CSV's label column holds the words' numbers; its record names them.
    let words: Vec<String> = trainer::features::recorded(csv)?
        .map(|r| r.labels.into_iter().map(|(w, _)| w).collect())
        .unwrap_or_default();
    let named = rows.iter().any(|r| r.class.as_deref() == Some(given));
    let number = match (named, words.iter().position(|w| w == given)) {
        (false, Some(i)) if given.parse::<usize>().is_ok_and(|n| n != i) => bail!(
            "--class {given}: {} numbers its words, and word {given:?} is label {i} while label {given} is word {:?}: give the label of the word you mean (--class {i} for word {given:?})",
            csv.display(),
            words.get(given.parse::<usize>().unwrap_or(usize::MAX)).map_or("none", String::as_str)
        ),
        (false, Some(i)) => {
            eprintln!(
                "{}: word {given:?} is label {i} in it (its features record)",
                csv.display()
            );
            i.to_string()
        }
        _ => given.to_string(),
    };
    let class = number.as_str();
    let is = |r: &Row| match (&r.class, r.rest.as_slice()) {
        (Some(name), _) => name == class,
        (None, [l]) => class.parse::<f64>() == Ok(*l),
        _ => false,
    };
    let mut names: Vec<String> = rows
        .iter()
        .map(|r| class_of(r).unwrap_or_default())
        .collect();
    let picked: Vec<Row> = rows.into_iter().filter(is).collect();
    if picked.is_empty() {
        names.sort_unstable();
        names.dedup();
        bail!(
            "{}: no row of class {class:?} in the labels' column (the header's `label`, --label-column's or the model's); its classes: {names:?}",
            csv.display()
        );
    }
    Ok(picked)
}

pub(super) fn update(client: &mut Client, out: &mut Output, envelope: &Path) -> Result<()> {
    let bytes =
        std::fs::read(envelope).with_context(|| format!("reading {}", envelope.display()))?;
    let total_len = u32::try_from(bytes.len()).context("an envelope over 4 GiB")?;
    // Checked before `UpdateBegin`, which erases the device's other model slot: a file the
    // device would refuse costs it nothing.
    let header = runtime::signature::read_header(&bytes).map_err(|e| {
        let hint = match e {
            runtime::Error::Unsigned => {
                " (a model file? sign it: `trainer sign MODEL --key K --version N`)"
            }
            runtime::Error::UnsupportedEnvelope { .. } => {
                " (sign the model again with this trainer)"
            }
            _ => "",
        };
        anyhow!("{}: {e}{hint}; nothing was sent", envelope.display())
    })?;
    if header.envelope_len() != bytes.len() {
        bail!(
            "{}: {} bytes, but its header announces {} (cut short, or bytes after it?); nothing was sent",
            envelope.display(),
            bytes.len(),
            header.envelope_len()
        );
    }
    let begin = out.ask(client, &Request::UpdateBegin { total_len }, describe)?;
    if matches!(begin, Reply::Error(_)) {
        return Ok(());
    }
    for (i, chunk) in bytes.chunks(MAX_CHUNK).enumerate() {
        let request = Request::UpdateChunk {
            offset: (i * MAX_CHUNK) as u32,
            bytes: heapless::Vec::from_slice(chunk).map_err(|_| anyhow!("chunk size"))?,
        };
        // Progress replies only count; errors are printed.
        let reply = client.ask(&request)?;
        if let Reply::Error(_) = reply {
            return out.show(&reply, describe);
        }
    }
    let reply = out.ask(client, &Request::UpdateFinish, describe)?;
    if refused_with(&reply, "BadSignature") {
        eprintln!(
            "note: {}: its signature does not verify against the device's public key: it was signed with another key (`trainer sign --key` takes the secret of the key the device was built with, or device-sim's --key) or changed since; a device-sim started without --key refuses every update",
            envelope.display()
        );
    }
    Ok(())
}
