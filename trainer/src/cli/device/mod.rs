//! `trainer device`: talk to a device running the serial protocol (a board's UART, or the
//! `serial` firmware under QEMU).

use anyhow::{anyhow, bail, Context, Result};
use fewshot_protocol::{DeviceError, HeadKind, Info, InputAction, Reply, Request, Target};
use fewshot_protocol::{MAX_CHUNK, MAX_OUTPUTS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use trainer::device::{read_rows_named, Client, Columns, Row};

mod classify;
mod commands;
mod output;

use classify::{classify, By, Unknown};
use commands::{adapt, class_label_map, enroll, infer, info, label, push, update};
use output::{describe, describe_info, Output, ServedModel};

/// `trainer device`: one command to a device.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("link").required(true).args(["port", "socket", "tcp"])))]
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
    /// TCP address of the device, `HOST:PORT` (QEMU's `-chardev socket,host=..,port=..,
    /// server=on`, a serial-to-network bridge) (instead of --port).
    #[arg(long)]
    pub tcp: Option<String>,
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
    /// its targets' standard deviation: `trainer inspect` prints it); with --model and a head
    /// of one output, also in the target's raw units, as `infer` reports its MSE.
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
    let mut client = match (&args.port, &args.socket, &args.tcp) {
        (Some(p), None, None) => Client::port(p, args.baud, timeout)?,
        #[cfg(unix)]
        (None, Some(s), None) => Client::socket(s, timeout)?,
        (None, None, Some(a)) => Client::tcp(a, timeout)?,
        _ => bail!("give one of --port, --socket or --tcp"),
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
    // Every command starts with the device's `Info`: a device of another protocol version is
    // refused before anything is sent that it might take for something else (an older
    // version's `Adapt` or `Save` would decode and run).
    if !matches!(args.cmd, DeviceCmd::Info) {
        client.check_protocol()?;
    }
    match &args.cmd {
        DeviceCmd::Info => {
            // Through `Client::info`: a device of a protocol before the frame check names its
            // version instead of refusing the frame.
            let info = Reply::Info(client.info()?);
            out.show(&info, describe_info)?
        }
        DeviceCmd::Push { csv } => push(&mut client, &mut out, csv)?,
        DeviceCmd::Clear => out.one(&mut client, &Request::ClearSamples, describe)?,
        DeviceCmd::Adapt { steps } => adapt(&mut client, &mut out, *steps)?,
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
        DeviceCmd::Restore => {
            let reply = out.ask(&mut client, &Request::Restore, describe)?;
            if saved_for_another_model(&reply) {
                eprintln!("note: the adapted state on the device's flash was saved with another model (its bytes' CRC: an update, even a re-export of the same model, changes it): adapt again and save");
            }
        }
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
            if *margin < 0.0 {
                eprintln!("warning: --margin {margin}: negative, so the classes enrolled from now on take queries the earlier classes are nearer to (a margin protects the earlier classes when positive)");
            }
            let r = Request::SetMargin { margin: *margin };
            let reply = out.ask(&mut client, &r, describe)?;
            if !out.json && !matches!(reply, Reply::Error(_)) {
                println!("margin of the classes enrolled from now on: {margin} (0 after a reboot)");
            }
        }
        DeviceCmd::SaveBank => out.one(&mut client, &Request::SaveBank, describe)?,
        DeviceCmd::RestoreBank => {
            let reply = out.ask(&mut client, &Request::RestoreBank, describe)?;
            if saved_for_another_model(&reply) {
                eprintln!("note: the class bank on the device's flash was saved with another model (its bytes' CRC: an update, even a re-export of the same model, changes it): enroll the classes again and save-bank");
            }
        }
    }
    out.finish()
}

/// A reply refusing the request with the runtime's error `kind` (its variant's name).
fn refused_with(reply: &Reply, kind: &str) -> bool {
    matches!(reply, Reply::Error(DeviceError::Runtime(e)) if e.kind.as_str() == kind)
}

/// A restore refused because the record was saved with other model bytes.
fn saved_for_another_model(reply: &Reply) -> bool {
    refused_with(reply, "SavedStateMismatch")
}
