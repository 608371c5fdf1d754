//! What the command prints: the replies as text or JSON, and the model the device serves.

use super::*;

/// How the command reads its CSVs, and the replies so far, printed as they come (text) or at
/// the end (JSON).
pub(super) struct Output {
    pub(super) json: bool,
    /// The CSVs' label column (`--label-column`).
    pub(super) label_column: Option<String>,
    /// The CSVs' columns read as nothing (`--ignore-columns`).
    pub(super) ignore_columns: Vec<String>,
    /// The device's labels of class names (`--class-label`).
    pub(super) names: BTreeMap<String, u16>,
    /// The model the device serves (`--model`), whose inputs the CSVs' columns are read as.
    pub(super) model: Option<ServedModel>,
    pub(super) replies: Vec<serde_json::Value>,
    /// What the command measured (the JSON object's other keys).
    pub(super) summary: serde_json::Map<String, serde_json::Value>,
    pub(super) refused: bool,
}

impl Output {
    /// The rows of `csv` for the model the device `info` describes, labels from
    /// `--label-column`, inputs by name with `--model`.
    pub(super) fn rows(&self, csv: &Path, info: &Info) -> Result<Vec<Row>> {
        let names = match &self.model {
            Some(m) => m.input_names(info)?,
            None => None,
        };
        let header = trainer::csvio::file_header(csv)?;
        let (label, ignore) = self.columns(csv, header.as_deref())?;
        if let (None, Some(h)) = (&self.model, &header) {
            target_among_inputs(csv, h, info, label.as_deref(), &ignore)?;
            eprintln!(
                "note: {}: columns read by position, its header's names unchecked (--model MODEL reads them by name)",
                csv.display()
            );
        }
        let cols = Columns {
            label: label.as_deref(),
            ignore: &ignore,
            subject: None,
        };
        let (rows, note) = read_rows_named(csv, usize::from(info.input_len), cols, names)?;
        if let Some(note) = note {
            eprintln!("{note}");
        }
        if rows.is_empty() {
            bail!("{}: no rows", csv.display());
        }
        // A --class-label name no row carries is a typo more often than not.
        let unused: Vec<&String> = self
            .names
            .keys()
            .filter(|n| n.parse::<f64>().is_err())
            .filter(|n| !rows.iter().any(|r| r.class.as_ref() == Some(*n)))
            .collect();
        if !unused.is_empty() && rows.iter().any(|r| r.class.is_some()) {
            eprintln!(
                "warning: {}: no row of class {unused:?} (--class-label; names are compared as written)",
                csv.display()
            );
        }
        Ok(rows)
    }

    /// The label column and the unread columns of `csv`: `--label-column` and
    /// `--ignore-columns`, and with `--model` those its run read its CSV with (its label
    /// column, unless `--label-column` names another; its subject, task id and ignored
    /// columns; for a regression model whose targets the header names, every column that is
    /// neither an input nor a target), where `csv`'s header has them.
    pub(super) fn columns(
        &self,
        csv: &Path,
        header: Option<&[String]>,
    ) -> Result<(Option<String>, Vec<String>)> {
        let (mut label, mut ignore) = (self.label_column.clone(), self.ignore_columns.clone());
        let (Some(model), Some(header)) = (&self.model, header) else {
            return Ok((label, ignore));
        };
        let has = |n: &str| trainer::csvio::column(header, n).is_some();
        if label.is_none() {
            label = model.columns.label.clone().filter(|l| has(l));
        }
        let mut unread = model.columns.unread.clone();
        // A regression model's targets, all in the header: every other column but the
        // inputs is unread, and the targets must come in the model's order.
        let targets = &model.columns.targets;
        let at: Option<Vec<usize>> = targets
            .iter()
            .map(|t| trainer::csvio::column(header, t))
            .collect();
        if let (Some(at), Some(inputs)) = (at.filter(|a| !a.is_empty()), &model.names) {
            if at.windows(2).any(|w| w[0] > w[1]) {
                bail!(
                    "{}: the target columns come in another order than the model's outputs ({}): put them in that order",
                    csv.display(),
                    targets.join(", ")
                );
            }
            let kept =
                |n: &String| (inputs.iter().chain(targets)).any(|k| k.eq_ignore_ascii_case(n));
            unread.extend(header.iter().filter(|n| !kept(n)).cloned());
        }
        for n in &unread {
            let named = |o: &String| o.eq_ignore_ascii_case(n);
            if has(n) && !ignore.iter().any(named) && !label.iter().any(named) {
                ignore.push(n.clone());
            }
        }
        Ok((label, ignore))
    }

    /// The device's label of a CSV's numeric label `l`: as `--class-label L=D` gives it, else
    /// `l` itself.
    pub(super) fn device_label(&self, l: u16) -> u16 {
        self.names.get(&l.to_string()).copied().unwrap_or(l)
    }

    /// Asks `request`; prints the reply with `text`. Returns it.
    pub(super) fn ask(
        &mut self,
        client: &mut Client,
        request: &Request,
        text: fn(&Reply) -> String,
    ) -> Result<Reply> {
        let reply = client.ask(request)?;
        self.show(&reply, text)?;
        Ok(reply)
    }

    /// Prints `reply` with `text` (or keeps it for the JSON array).
    pub(super) fn show(&mut self, reply: &Reply, text: fn(&Reply) -> String) -> Result<()> {
        self.refused |= matches!(reply, Reply::Error(_));
        if self.json {
            self.replies.push(serde_json::to_value(reply)?);
        } else {
            println!("{}", text(reply));
        }
        Ok(())
    }

    pub(super) fn one(
        &mut self,
        c: &mut Client,
        r: &Request,
        text: fn(&Reply) -> String,
    ) -> Result<()> {
        self.ask(c, r, text).map(|_| ())
    }

    /// Does `action` with `row`'s input: one request, or (wider than [`fewshot_protocol::MAX_INPUT`]) the input
    /// staged in chunks, then the action. Prints the action's reply, or the refused chunk's.
    pub(super) fn act(
        &mut self,
        client: &mut Client,
        action: InputAction,
        row: &Row,
    ) -> Result<Reply> {
        let requests: Vec<Request> = action
            .requests(&row.x)
            .with_context(|| format!("line {}: more inputs than a device takes", row.line))?
            .collect();
        let (last, chunks) = requests.split_last().context("no request")?;
        for chunk in chunks {
            // Progress replies only count; a refusal is printed and ends the row.
            let reply = client.ask(chunk)?;
            if let Reply::Error(_) = reply {
                self.show(&reply, describe)?;
                return Ok(reply);
            }
        }
        self.ask(client, last, describe)
    }

    pub(super) fn finish(self) -> Result<ExitCode> {
        if self.json {
            let mut all = serde_json::Map::new();
            all.insert("replies".into(), self.replies.into());
            all.extend(self.summary);
            println!("{}", serde_json::to_string_pretty(&all)?);
        }
        Ok(ExitCode::from(u8::from(self.refused)))
    }
}

/// `--model`: the model file the device serves, and its input columns' names.
pub(super) struct ServedModel {
    pub(super) path: PathBuf,
    pub(super) id: u32,
    /// Its bytes' CRC-32, told apart from another export of the same model.
    pub(super) crc: u32,
    /// From its run record; None without one (the columns are then read by position).
    pub(super) names: Option<Vec<String>>,
    /// Its run's label and unread columns (its record's).
    pub(super) columns: trainer::record::CsvColumns,
}

impl ServedModel {
    pub(super) fn read(path: &Path) -> Result<Self> {
        let bytes = trainer::export::read(path)?;
        let model =
            runtime::Model::from_bytes(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let (id, crc) = (model.model_id(), model.crc());
        let names = trainer::record::input_names(path)?;
        if names.is_none() {
            let record = trainer::record::path_of(path);
            match record.exists() {
                true => eprintln!(
                    "note: {}: its run record names no input columns (its data had no header): CSV columns read by position",
                    record.display()
                ),
                false => eprintln!(
                    "warning: {}: no run record beside it ({}) to name its input columns: CSV columns read by position",
                    path.display(),
                    record.display()
                ),
            }
        }
        Ok(ServedModel {
            path: path.to_path_buf(),
            id,
            crc,
            names,
            columns: trainer::record::csv_columns(path)?,
        })
    }

    /// For the adapted head of `info`'s device when it is a regression head of one output
    /// with a stored target normalisation: its standard deviation squared and the target's
    /// name (else `None`).
    pub(super) fn raw_mse_factor(&self, info: &Info) -> Result<Option<(f64, String)>> {
        self.input_names(info)?;
        let bytes = trainer::export::read(&self.path)?;
        let model = runtime::Model::from_bytes(&bytes).map_err(|e| anyhow!("{e}"))?;
        let head = usize::from(info.adapted_head);
        let one = matches!(
            model.head(head).map(|h| h.kind),
            Ok(runtime::HeadKind::Regression { outputs: 1 })
        );
        let sd = match model.output_normalisation(head) {
            Some((_, &[sd])) if one => f64::from(sd),
            _ => return Ok(None),
        };
        let name = model.head(head).map_or("", |h| h.name).to_string();
        Ok(Some((
            sd * sd,
            if name.is_empty() { "y1".into() } else { name },
        )))
    }

    /// The input names, once the device is seen to serve this model.
    pub(super) fn input_names(&self, info: &Info) -> Result<Option<&[String]>> {
        if info.model_id != self.id {
            bail!(
                "the device serves model \"{}\" (id {:#010x}), not {} (id {:#010x}): --model names the model the device serves",
                info.model_name,
                info.model_id,
                self.path.display(),
                self.id
            );
        }
        if info.model_crc != self.crc {
            // The same model's columns and normalisation, most likely (a re-export with
            // another class count or step count keeps the id): said, not refused.
            eprintln!(
                "note: the device serves another export of {} (CRC {:#010x}, the file's {:#010x}): its input columns are read as the file's run record names them",
                self.path.display(),
                info.model_crc,
                self.crc
            );
        }
        Ok(self.names.as_deref())
    }
}

/// Refuses a header, read by position, that puts a column named as one of the adapted
/// regression head's targets (the trainer names such a head after its target columns, `a, b`)
/// among the inputs: the columns come in another order than the model's.
fn target_among_inputs(
    csv: &Path,
    header: &[String],
    info: &Info,
    label: Option<&str>,
    ignore: &[String],
) -> Result<()> {
    let Some(head) = info.heads.get(usize::from(info.adapted_head)) else {
        return Ok(());
    };
    if head.kind != HeadKind::Regression {
        return Ok(());
    }
    let skipped = |n: &String| {
        label.is_some_and(|l| n.trim().eq_ignore_ascii_case(l))
            || ignore.iter().any(|i| n.trim().eq_ignore_ascii_case(i))
    };
    let read: Vec<&String> = header.iter().filter(|n| !skipped(n)).collect();
    let inputs = usize::from(info.input_len).min(read.len());
    for target in head.name.split(", ") {
        if let Some(i) = read[..inputs]
            .iter()
            .position(|n| n.trim().eq_ignore_ascii_case(target))
        {
            bail!(
                "{}: its column {target:?} (the name of the head's target) would be read as input {} of {inputs}: its columns come in another order than the model's; give --model MODEL to read them by name",
                csv.display(),
                i + 1
            );
        }
    }
    Ok(())
}

pub(super) fn describe_info(reply: &Reply) -> String {
    let Reply::Info(i) = reply else {
        return describe(reply);
    };
    let mut s = format!(
        "model {:?} (id {:#010x}), protocol {}, {} inputs\n",
        i.model_name.as_str(),
        i.model_id,
        i.protocol_version,
        i.input_len
    );
    for (n, h) in i.heads.iter().enumerate() {
        let adapted = if n == usize::from(i.adapted_head) {
            ", adapted by the device"
        } else {
            ""
        };
        s += &format!(
            "  head {n} {:?}: {:?}, {}{adapted}\n",
            h.name.as_str(),
            h.kind,
            trainer::eval::count(usize::from(h.outputs), "output")
        );
    }
    s += &format!(
        "support buffer: {} of {} samples free; adapts for at most {} steps\n",
        i.free_samples, i.max_samples, i.max_steps
    );
    s += &match i.served_slot {
        Some(slot) => format!("running: the update in model slot {slot}\n"),
        None => {
            "running: the model built into the firmware (device-sim: its --model file), no update\n"
                .into()
        }
    };
    s += &match i.installed {
        Some(m) if i.served_slot == Some(m.slot) => format!(
            "installed update: model version {} in slot {} (running)",
            m.model_version, m.slot
        ),
        Some(m) if i.installed_refused => format!(
            "installed update: model version {} in slot {} (not running: this boot refused it as a model this firmware cannot serve, the device's log says why; a reboot will not change that: send one it can serve, above version {0})",
            m.model_version, m.slot
        ),
        Some(m) => format!(
            "installed update: model version {} in slot {} (runs from the next boot)",
            m.model_version, m.slot
        ),
        None => "installed update: none".into(),
    };
    if let Some(b) = &i.bank {
        s += &format!(
            "\nclass bank: {} of {} classes, labels {:?}, margin of new classes {}",
            b.labels.len(),
            b.capacity,
            b.labels.as_slice(),
            b.margin
        );
    }
    s
}

pub(super) fn describe(reply: &Reply) -> String {
    match reply {
        Reply::Samples { stored, capacity } => format!("samples: {stored} of {capacity}"),
        Reply::Adapted {
            steps,
            initial_loss,
            final_loss,
        } => {
            let steps = trainer::eval::count(usize::from(*steps), "step");
            format!("adapted: {steps}, support loss {initial_loss:.4} -> {final_loss:.4}")
        }
        Reply::Outputs(o) => format!("outputs: {:?}", o.as_slice()),
        Reply::Class { class, score } => format!("class {class} (p = {score:.3})"),
        Reply::Enrolled {
            class,
            score,
            distance,
            relative_distance,
        } => {
            let relative = relative_distance.map_or("-".into(), |r| format!("{r:.3}"));
            format!("class {class} (p = {score:.3}, distance {distance:.3}, relative {relative})")
        }
        Reply::Saved { sequence, slot } => format!("saved: record {sequence} in slot {slot}"),
        Reply::Restored { sequence, slot } => {
            format!("restored: record {sequence} from slot {slot}")
        }
        Reply::Done => "done".into(),
        Reply::UpdateStarted { slot } => format!("update: writing slot {slot}"),
        Reply::UpdateProgress { written } => format!("update: {written} bytes written"),
        Reply::UpdateInstalled {
            slot,
            model_version,
        } => {
            format!("update: model version {model_version} installed in slot {slot} (runs from the next boot)")
        }
        // The message says it all; the variant stays for a script (`--json` has the numbers).
        Reply::Error(DeviceError::Runtime(e)) => format!("refused: {} ({})", e.message, e.kind),
        Reply::Error(DeviceError::NoBank) => {
            "refused: the device's head is not enrollable (no class bank)".into()
        }
        Reply::Bank { classes, capacity } => format!("class bank: {classes} of {capacity} classes"),
        Reply::Staged { staged, width } => format!("input: {staged} of {width} values staged"),
        Reply::Error(DeviceError::InputOutOfOrder { offset, staged }) => {
            format!("refused: an input chunk at {offset}, but {staged} values are staged")
        }
        Reply::Error(DeviceError::InputTooWide { end, width }) => {
            format!("refused: an input chunk ends at {end}, past the model's {width} inputs")
        }
        Reply::Error(DeviceError::InputIncomplete { staged, width }) => {
            format!("refused: {staged} of the model's {width} inputs staged")
        }
        Reply::Error(DeviceError::UnknownRequest { tag }) => format!(
            "refused: the device does not know request variant {tag} (a request of another protocol version: `device info` names the device's)"
        ),
        Reply::Error(e) => format!("refused: {e:?}"),
        Reply::Info(_) => describe_info(reply),
    }
}
