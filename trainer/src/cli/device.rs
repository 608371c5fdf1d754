//! `trainer device`: talk to a device running the serial protocol (a board's UART, or the
//! `serial` firmware under QEMU).

use anyhow::{anyhow, bail, Context, Result};
use fewshot_protocol::{DeviceError, HeadKind, Info, InputAction, Reply, Request, Target};
use fewshot_protocol::{MAX_CHUNK, MAX_INPUT, MAX_OUTPUTS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use trainer::device::{read_rows_named, Client, Columns, Row};

/// `trainer device`: one command to a device.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("link").required(true).args(["port", "socket"])))]
pub struct DeviceArgs {
    /// Serial port (e.g. /dev/ttyACM0, or the pty QEMU's `-serial pty` prints).
    #[arg(long)]
    pub port: Option<String>,
    /// Baud rate of --port.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Unix socket of `trainer device-sim`, or of QEMU's `-chardev socket,path=PATH,server=on`
    /// (instead of --port).
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Seconds to wait for each reply.
    #[arg(long, default_value_t = 10.0, global = true)]
    pub timeout: f64,
    /// Machine-readable output: `{"replies": [...]}`, the device's replies as JSON, with what
    /// the command measured beside them (`classify`: `accuracy`; `infer`: `query_mse`,
    /// `per_output`).
    #[arg(long, global = true)]
    pub json: bool,
    /// The CSV header column of the labels (default: the column named `label`).
    #[arg(long, global = true)]
    pub label_column: Option<String>,
    /// CSV header columns read as nothing (ids, timestamps, subjects), comma-separated.
    #[arg(long, value_delimiter = ',', global = true)]
    pub ignore_columns: Vec<String>,
    /// The device's label of a class name in the CSV's label column, `NAME=LABEL` (as enrolled
    /// with `enroll --class NAME --label LABEL`); repeat for each class. `push` sends such rows
    /// under their labels, `classify` scores them. In a numeric label column, NAME is the
    /// number (`--class-label 3=103`: the CSV's class 3 is the device's 103).
    #[arg(long = "class-label", value_name = "NAME=LABEL", global = true)]
    pub class_labels: Vec<String>,
    /// The model file the device serves: its run record (`<model>.run.json`, written by
    /// `train`) names the input columns, so a CSV's columns are read by name in the model's
    /// order (others after them, as the label or targets) instead of by position, and the
    /// run's label column, subject, task id and ignored columns are read as they were in
    /// training (a regression run's targets by name, every other column unread); refused
    /// when the device serves another model.
    #[arg(long, global = true)]
    pub model: Option<PathBuf>,
    #[command(subcommand)]
    pub cmd: DeviceCmd,
}

/// What to ask the device.
#[derive(clap::Subcommand)]
pub enum DeviceCmd {
    /// The model, its heads, the input width and the support buffer.
    Info,
    /// Add the rows of a CSV to the support buffer (input columns, then the label or the
    /// regression targets; a header's `label` column is the label).
    Push {
        #[arg(long)]
        csv: PathBuf,
    },
    /// Empty the support buffer.
    Clear,
    /// Adapt on the buffered samples: a head that starts from prototypes starts over from the
    /// samples' class means each time, another goes on from the state it is in (`reset`: back
    /// to the meta-learned start); prints the support loss before and after, as the head
    /// trains on it: a classifier's cross-entropy, a regression head's mean squared error of
    /// its targets in the model's standardised units (a model trained on raw units divides by
    /// its targets' standard deviation: `trainer inspect` prints it; `infer` gives raw units).
    Adapt {
        /// Inner steps [default: the model's].
        #[arg(long)]
        steps: Option<u16>,
    },
    /// Classify each row of a CSV; with labels, print the accuracy (rows labelled by class
    /// name: the answers per name, and the accuracy of the names given a label).
    Classify {
        #[arg(long)]
        csv: PathBuf,
        /// By the class bank (enrolled classes, the caller's labels) instead of the adapted
        /// head.
        #[arg(long)]
        enrolled: bool,
        /// With --enrolled: answer "unknown" for a row whose relative distance to the best
        /// class (over the enrolled samples' within-class variance) is above R: minus the `t`
        /// of `trainer eval --unknown-score relative`.
        #[arg(long, value_name = "R", requires = "enrolled")]
        unknown_relative: Option<f32>,
        /// With --enrolled: answer "unknown" for a row whose squared feature distance to the
        /// best class is above D: minus the `t` of `trainer eval --unknown-score distance`.
        #[arg(
            long,
            value_name = "D",
            requires = "enrolled",
            conflicts_with = "unknown_relative"
        )]
        unknown_distance: Option<f32>,
    },
    /// The adapted head's outputs for each row of a CSV; for a regression head whose rows carry
    /// their targets after the inputs, also the query MSE over them.
    Infer {
        #[arg(long)]
        csv: PathBuf,
    },
    /// Save the adapted state to the device's flash.
    Save,
    /// Restore the newest saved state.
    Restore,
    /// Back to the meta-learned start (the support buffer keeps its samples: `clear`).
    Reset,
    /// Reset the device (its flash stays).
    Reboot,
    /// Install a signed model (`trainer sign`) in chunks; it runs from the next boot.
    Update {
        #[arg(long)]
        envelope: PathBuf,
    },
    /// Enroll a new class from the rows of a CSV (input columns; a label column is ignored
    /// unless --class picks rows by it): empties the support buffer, pushes the rows, then
    /// enrolls them as class --label.
    Enroll {
        /// The class's label on the device (any u16 not in use).
        #[arg(long)]
        label: u16,
        #[arg(long)]
        csv: PathBuf,
        /// Only the rows whose `label` column is this class (a name, or a number).
        #[arg(long)]
        class: Option<String>,
    },
    /// Forget an enrolled (or exported) class.
    Forget {
        #[arg(long)]
        label: u16,
    },
    /// Give class --old the label --new.
    Relabel {
        #[arg(long)]
        old: u16,
        #[arg(long)]
        new: u16,
    },
    /// The margin of the classes enrolled from now on (squared feature distance: a new class
    /// takes an input only when it is nearer by more than this; `trainer enroll-eval
    /// --margin/--protect` measures it; a negative margin favours the new classes). 0 after a
    /// boot, not saved with the bank.
    SetMargin {
        #[arg(long, allow_negative_numbers = true)]
        margin: f32,
    },
    /// Save the class bank to the device's flash.
    SaveBank,
    /// Restore the newest saved class bank.
    RestoreBank,
}

/// Runs the command; exit code 1 when the device refused a request.
pub fn run(args: DeviceArgs) -> Result<ExitCode> {
    let timeout = Duration::from_secs_f64(args.timeout.max(0.1));
    let mut client = match (&args.port, &args.socket) {
        (Some(p), None) => Client::port(p, args.baud, timeout)?,
        #[cfg(unix)]
        (None, Some(s)) => Client::socket(s, timeout)?,
        _ => bail!("give --port or --socket"),
    };
    let mut out = Output {
        json: args.json,
        label_column: args.label_column.clone(),
        ignore_columns: args.ignore_columns.clone(),
        names: class_label_map(&args.class_labels)?,
        model: args.model.as_deref().map(ServedModel::read).transpose()?,
        replies: Vec::new(),
        summary: serde_json::Map::new(),
        refused: false,
    };
    match &args.cmd {
        DeviceCmd::Info => out.one(&mut client, &Request::Info, describe_info)?,
        DeviceCmd::Push { csv } => push(&mut client, &mut out, csv)?,
        DeviceCmd::Clear => out.one(&mut client, &Request::ClearSamples, describe)?,
        DeviceCmd::Adapt { steps } => {
            out.one(&mut client, &Request::Adapt { steps: *steps }, describe)?
        }
        DeviceCmd::Classify {
            csv,
            enrolled,
            unknown_relative,
            unknown_distance,
        } => {
            let by = match (enrolled, unknown_relative, unknown_distance) {
                (false, ..) => By::Head,
                (true, Some(r), _) => By::Bank(Some(Unknown::Relative(*r))),
                (true, None, Some(d)) => By::Bank(Some(Unknown::Distance(*d))),
                (true, None, None) => By::Bank(None),
            };
            classify(&mut client, &mut out, csv, by)?
        }
        DeviceCmd::Infer { csv } => infer(&mut client, &mut out, csv)?,
        DeviceCmd::Save => out.one(&mut client, &Request::Save, describe)?,
        DeviceCmd::Restore => out.one(&mut client, &Request::Restore, describe)?,
        DeviceCmd::Reset => out.one(&mut client, &Request::Reset, describe)?,
        DeviceCmd::Reboot => out.one(&mut client, &Request::Reboot, describe)?,
        DeviceCmd::Update { envelope } => update(&mut client, &mut out, envelope)?,
        DeviceCmd::Enroll { label, csv, class } => {
            enroll(&mut client, &mut out, *label, csv, class.as_deref())?
        }
        DeviceCmd::Forget { label } => {
            out.one(&mut client, &Request::Forget { label: *label }, describe)?
        }
        DeviceCmd::Relabel { old, new } => {
            let r = Request::Relabel {
                old: *old,
                new: *new,
            };
            out.one(&mut client, &r, describe)?
        }
        DeviceCmd::SetMargin { margin } => {
            if !margin.is_finite() {
                bail!("--margin {margin}: a finite number (a squared feature distance)");
            }
            let r = Request::SetMargin { margin: *margin };
            out.one(&mut client, &r, describe)?
        }
        DeviceCmd::SaveBank => out.one(&mut client, &Request::SaveBank, describe)?,
        DeviceCmd::RestoreBank => out.one(&mut client, &Request::RestoreBank, describe)?,
    }
    out.finish()
}

/// How the command reads its CSVs, and the replies so far, printed as they come (text) or at
/// the end (JSON).
struct Output {
    json: bool,
    /// The CSVs' label column (`--label-column`).
    label_column: Option<String>,
    /// The CSVs' columns read as nothing (`--ignore-columns`).
    ignore_columns: Vec<String>,
    /// The device's labels of class names (`--class-label`).
    names: BTreeMap<String, u16>,
    /// The model the device serves (`--model`), whose inputs the CSVs' columns are read as.
    model: Option<ServedModel>,
    replies: Vec<serde_json::Value>,
    /// What the command measured (the JSON object's other keys).
    summary: serde_json::Map<String, serde_json::Value>,
    refused: bool,
}

impl Output {
    /// The rows of `csv` for the model the device `info` describes, labels from
    /// `--label-column`, inputs by name with `--model`.
    fn rows(&self, csv: &Path, info: &Info) -> Result<Vec<Row>> {
        let names = match &self.model {
            Some(m) => m.input_names(info)?,
            None => None,
        };
        let header = trainer::csvio::file_header(csv)?;
        let (label, ignore) = self.columns(csv, header.as_deref())?;
        if self.model.is_none() && header.is_some() {
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
    fn columns(
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
    fn device_label(&self, l: u16) -> u16 {
        self.names.get(&l.to_string()).copied().unwrap_or(l)
    }

    /// Asks `request`; prints the reply with `text`. Returns it.
    fn ask(
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
    fn show(&mut self, reply: &Reply, text: fn(&Reply) -> String) -> Result<()> {
        self.refused |= matches!(reply, Reply::Error(_));
        if self.json {
            self.replies.push(serde_json::to_value(reply)?);
        } else {
            println!("{}", text(reply));
        }
        Ok(())
    }

    fn one(&mut self, c: &mut Client, r: &Request, text: fn(&Reply) -> String) -> Result<()> {
        self.ask(c, r, text).map(|_| ())
    }

    /// Does `action` with `row`'s input: one request, or (wider than [`MAX_INPUT`]) the input
    /// staged in chunks, then the action. Prints the action's reply, or the refused chunk's.
    fn act(
        &mut self,
        client: &mut Client,
        info: &Info,
        action: InputAction,
        row: &Row,
    ) -> Result<Reply> {
        let requests: Vec<Request> = action
            .requests(&row.x)
            .with_context(|| format!("line {}: more inputs than a device takes", row.line))?
            .collect();
        let (last, chunks) = requests.split_last().context("no request")?;
        if !chunks.is_empty() && info.protocol_version < STAGING_SINCE {
            bail!(
                "line {}: {} inputs are more than one request carries ({MAX_INPUT}), and the device speaks protocol {}, which cannot stage them: give it a firmware built with fewshot-protocol {STAGING_SINCE} or later",
                row.line,
                row.x.len(),
                info.protocol_version
            );
        }
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

    fn finish(self) -> Result<ExitCode> {
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
struct ServedModel {
    path: PathBuf,
    id: u32,
    /// From its run record; None without one (the columns are then read by position).
    names: Option<Vec<String>>,
    /// Its run's label and unread columns (its record's).
    columns: trainer::record::CsvColumns,
}

impl ServedModel {
    fn read(path: &Path) -> Result<Self> {
        let bytes = trainer::export::read(path)?;
        let id = runtime::Model::from_bytes(&bytes)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?
            .model_id();
        let names = trainer::record::input_names(path)?;
        if names.is_none() {
            eprintln!(
                "warning: {}: no run record naming its input columns beside it: CSV columns read by position",
                path.display()
            );
        }
        Ok(ServedModel {
            path: path.to_path_buf(),
            id,
            names,
            columns: trainer::record::csv_columns(path)?,
        })
    }

    /// The input names, once the device is seen to serve this model.
    fn input_names(&self, info: &Info) -> Result<Option<&[String]>> {
        if info.model_id != self.id {
            bail!(
                "the device serves model \"{}\" (id {:#010x}), not {} (id {:#010x}): --model names the model the device serves",
                info.model_name,
                info.model_id,
                self.path.display(),
                self.id
            );
        }
        Ok(self.names.as_deref())
    }
}

fn info(client: &mut Client) -> Result<Info> {
    match client.ask(&Request::Info)? {
        Reply::Info(i) => Ok(i),
        r => Err(anyhow!("the device answered Info with {}", describe(&r))),
    }
}

/// The protocol version that stages inputs wider than a request carries.
const STAGING_SINCE: u16 = 4;

fn push(client: &mut Client, out: &mut Output, csv: &Path) -> Result<()> {
    let info = info(client)?;
    let head = info
        .heads
        .get(usize::from(info.adapted_head))
        .context("the device's adapted head is not in its head list")?;
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
        let reply = out.act(client, &info, InputAction::Push { target }, &row)?;
        if matches!(reply, Reply::Error(_)) {
            break;
        }
    }
    Ok(())
}

/// The row's class label, if it has one.
fn label(row: &Row, csv: &Path) -> Result<Option<u16>> {
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
fn class_label_map(pairs: &[String]) -> Result<BTreeMap<String, u16>> {
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

/// What classifies the rows.
#[derive(Clone, Copy)]
enum By {
    /// The adapted head.
    Head,
    /// The class bank, answering "unknown" above a threshold if one is given.
    Bank(Option<Unknown>),
}

/// The "none of the taught classes" threshold of `classify --enrolled`.
#[derive(Clone, Copy)]
enum Unknown {
    /// On the relative distance.
    Relative(f32),
    /// On the squared distance.
    Distance(f32),
}

impl Unknown {
    /// The threshold as its option gives it.
    fn describe(self) -> String {
        match self {
            Unknown::Relative(r) => format!("--unknown-relative {r}"),
            Unknown::Distance(d) => format!("--unknown-distance {d}"),
        }
    }
}

/// The class a reply answers (`None`: unknown), or `None` for a refusal.
fn answer(reply: &Reply, by: By) -> Result<Option<Option<u16>>> {
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
fn classify(client: &mut Client, out: &mut Output, csv: &Path, by: By) -> Result<()> {
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
    let classes = info
        .heads
        .get(usize::from(info.adapted_head))
        .map_or(0, |h| h.outputs);
    for row in out.rows(csv, &info)? {
        let action = match by {
            By::Bank(_) => InputAction::ClassifyEnrolled,
            By::Head => InputAction::Classify,
        };
        let reply = out.act(client, &info, action, &row)?;
        if matches!(reply, Reply::Error(_)) {
            break; // every other row would be refused alike
        }
        if let Reply::Class { score, .. } = reply {
            answered += 1;
            uniform += usize::from(classes > 0 && score == 1.0 / f32::from(classes));
        }
        let Some(class) = answer(&reply, by)? else {
            continue;
        };
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
            if let (By::Bank(_), Some(bank)) = (by, &info.bank) {
                if !bank.labels.contains(&l) {
                    foreign.insert(l);
                }
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
    if let (false, Some(bank)) = (foreign.is_empty(), &info.bank) {
        eprintln!(
            "note: rows labelled {foreign:?}, which the bank has not enrolled (its labels: {:?}), cannot be answered right: give the CSV's labels the enrolled ones with --class-label CSV=ENROLLED",
            bank.labels
        );
    }
    Ok(())
}

/// The adapted head's outputs for each row of `csv`; for a regression head and rows with its
/// targets after the inputs, also the query MSE over them (in the targets' units), and with
/// several outputs each one's (a target in large units would hide the others in the mean).
fn infer(client: &mut Client, out: &mut Output, csv: &Path) -> Result<()> {
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
        let reply = out.act(client, &info, InputAction::Infer, &row)?;
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
fn enroll(
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
        if matches!(out.act(client, &info, push, row)?, Reply::Error(_)) {
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
fn class_of(r: &Row) -> Option<String> {
    match (&r.class, r.rest.as_slice()) {
        (Some(n), _) => Some(n.clone()),
        (None, [l]) => Some(l.to_string()),
        _ => None,
    }
}

/// The rows of `class` (by its name, or its number in a numeric label column; for a CSV of
/// `trainer features`, also a word its record numbers), or every row.
fn of_class(rows: Vec<Row>, class: Option<&str>, csv: &Path) -> Result<Vec<Row>> {
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

fn update(client: &mut Client, out: &mut Output, envelope: &Path) -> Result<()> {
    let bytes =
        std::fs::read(envelope).with_context(|| format!("reading {}", envelope.display()))?;
    let total_len = u32::try_from(bytes.len()).context("an envelope over 4 GiB")?;
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
    out.one(client, &Request::UpdateFinish, describe)
}

fn describe_info(reply: &Reply) -> String {
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
            "  head {n} {:?}: {:?}, {} outputs{adapted}\n",
            h.name.as_str(),
            h.kind,
            h.outputs
        );
    }
    s += &format!(
        "support buffer: {} of {} samples free\n",
        i.free_samples, i.max_samples
    );
    s += &match i.served_slot {
        Some(slot) => format!("running: the update in model slot {slot}\n"),
        None => "running: the firmware's built-in model\n".into(),
    };
    s += &match i.installed {
        Some(m) if i.served_slot == Some(m.slot) => format!(
            "installed update: model version {} in slot {} (running)",
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

fn describe(reply: &Reply) -> String {
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
        Reply::Error(e) => format!("refused: {e:?}"),
        Reply::Info(_) => describe_info(reply),
    }
}
