//! `trainer export` (an enrollable head) and `trainer enroll-eval` (classes added on the
//! device, measured as deployed).

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use trainer::classify::deploy;
use trainer::classify::enroll::protect::choose_margin;
use trainer::classify::enroll::{evaluate, original_queries, table, EnrollSpec, CHECKPOINTS};
use trainer::classify::record::RunRecord;
use trainer::classify::run::{Setup, DEFAULT_QUERY};
use trainer::export;

#[derive(Args)]
pub struct ExportArgs {
    /// The exported model to re-export.
    pub model: PathBuf,
    /// The head --max-classes, --ways and --steps change (--max-classes: a classification head
    /// of one dense layer on the trunk's features).
    #[arg(long, default_value_t = 0)]
    pub head: usize,
    /// Most classes the device may hold in that head (at least its exported class count).
    #[arg(long)]
    pub max_classes: Option<u16>,
    /// The head's class count, for a device whose `Learner::adapt` is given this many classes
    /// (a head that starts from prototypes: its last layer, which the support set sets, is
    /// resized; nothing learned changes).
    #[arg(long)]
    pub ways: Option<usize>,
    /// The inner steps the model asks the device for by default (0: the prototype start alone),
    /// e.g. the count `eval` measured best on your own held-out classes.
    #[arg(long)]
    pub steps: Option<u16>,
    /// Write this format version, for devices whose runtime reads no newer (1 to the newest;
    /// default: the oldest that holds the model, 3 at least): refused when the model needs a
    /// newer one (3 adds the capabilities a runtime checks before decoding, 4 stems and
    /// enrollable heads, 5 input views, 6 an audio front-end).
    #[arg(long)]
    pub format_version: Option<u16>,
    /// Where to write the model.
    #[arg(long)]
    pub out: PathBuf,
}

/// What a device's class bank starts from for head `head` of `def`: the head's classes whose
/// rows are set (rows of zeros are placeholders the bank leaves out).
fn bank_start(def: &runtime::writer::ModelDef, head: usize) -> Result<String> {
    let bytes = def.to_aligned_bytes().map_err(|e| anyhow!("{e}"))?;
    let m = runtime::Model::from_bytes(&bytes).map_err(|e| anyhow!("{e}"))?;
    let spec = m.head(head).map_err(|e| anyhow!("{e}"))?;
    let layer = spec.layers.first().context("the head has no layer")?;
    let (w, b) = m.layer_params(layer).map_err(|e| anyhow!("{e}"))?;
    let f = m.feature_len();
    let set: Vec<String> = (0..b.len())
        .filter(|&c| {
            let row = w.get(c * f..(c + 1) * f).unwrap_or(&[]);
            b[c] != 0.0 || row.iter().any(|&v| v != 0.0)
        })
        .map(|c| c.to_string())
        .collect();
    // A head meta-learned by gradient steps (MAML, ANIL, ...) holds the start of its inner
    // steps, learned on episodes whose labels were drawn at random: no class of the data.
    let meta_learned = m.adapt_spec(head).is_ok() && !deploy::starts_from_prototypes(&m, head);
    if meta_learned && !set.is_empty() {
        return Ok(format!(
            "starting with its {} meta-learned rows as labels {}: they are the start of its inner steps, learned on episodes whose labels were drawn at random, not classes of your data; on the device, forget them (`trainer device forget --label L`) before enrolling, or export a head that starts from prototypes",
            set.len(),
            set.join(", ")
        ));
    }
    Ok(match set.len() {
        0 => "starting empty: its rows are placeholders for the prototype start; `trainer device enroll` adds classes".to_string(),
        n if n == b.len() => format!("starting with its {n} classes as labels 0 to {}", n - 1),
        _ => format!("starting with its classes {} (the others' rows are zeros)", set.join(", ")),
    })
}

pub fn export(a: ExportArgs) -> Result<ExitCode> {
    if a.max_classes.is_none()
        && a.steps.is_none()
        && a.ways.is_none()
        && a.format_version.is_none()
    {
        bail!(
            "nothing to change: give --ways, --max-classes, --steps, --format-version or several"
        );
    }
    let record = RunRecord::read(&a.model)?;
    let mut blob = export::read(&a.model)?;
    let mut changes = Vec::new();
    if let Some(w) = a.ways {
        let head = runtime::Model::from_bytes(&blob)
            .map_err(|e| anyhow!("model: {e}"))
            .and_then(|m| deploy::prototype_head(&m))?;
        if head != a.head || w < 2 {
            bail!("--ways {w}: resizes a head that starts from prototypes (here head {head}) to 2 classes or more");
        }
        blob = deploy::with_ways(&blob, w)?;
        changes.push(format!("has {w} classes"));
        if w > fewshot_protocol::MAX_OUTPUTS {
            eprintln!(
                "warning: --ways {w}: a device on the serial protocol answers at most {} outputs per head (`device-sim` and the firmware refuse this head); for more classes make it enrollable instead (`--max-classes {w}`: classes added on the device, at most 1024)",
                fewshot_protocol::MAX_OUTPUTS
            );
        }
    }
    let def = export::reexport(&blob, a.head, a.max_classes, a.steps)?;
    let version = a.format_version.unwrap_or_else(|| def.version());
    let n = export::write_as(&a.out, &def, version)?;
    if let Some(c) = a.max_classes {
        changes.push(format!(
            "holds up to {c} classes on the device ({})",
            bank_start(&def, a.head)?
        ));
    }
    if let Some(s) = a.steps {
        changes.push(format!("asks the device for {s} inner steps by default"));
    }
    let what = match changes.is_empty() {
        true => "unchanged".to_string(),
        false => format!("head {} {}", a.head, changes.join(" and ")),
    };
    println!("{}: {what} ({n} bytes, format v{version})", a.out.display());
    if let Some(record) = record {
        let p = record.write_for(&a.out)?;
        println!(
            "{}: the run record of {}, for `eval` and `enroll-eval` on the new model",
            p.display(),
            a.model.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct EnrollEvalArgs {
    /// A classification model with its run record beside it (`trainer train`).
    #[arg(long)]
    pub model: PathBuf,
    /// The head to enroll into: enrollable already, or made so with --max-classes.
    #[arg(long, default_value_t = 0)]
    pub head: usize,
    /// Make the head enrollable with this many classes first (the bytes `trainer export`
    /// writes); without it the head must be enrollable.
    #[arg(long)]
    pub max_classes: Option<u16>,
    /// Samples per enrollment.
    #[arg(long, default_value_t = 5)]
    pub shots: usize,
    /// Samples each original class is enrolled from (default: --shots); a device that ships
    /// knowing its classes can hold prototypes of many samples.
    #[arg(long)]
    pub original_shots: Option<usize>,
    /// Query rows per class (default: 15, or what the smallest class leaves beside its
    /// samples).
    #[arg(long)]
    pub query: Option<usize>,
    /// Independent episodes.
    #[arg(long, default_value_t = 500)]
    pub episodes: usize,
    #[arg(long, default_value_t = 20_260_115)]
    pub seed: u64,
    /// Inner steps per enrollment, one result row each (0: prototype only, the device's
    /// `enroll`; `0,5` also measures `enroll_steps` with 5 steps beside it).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub steps: Vec<u16>,
    /// Rate of the inner steps (the rate the README's measurements use).
    #[arg(long, default_value_t = 0.05)]
    pub rate: f32,
    /// Margins of the held-out classes' enrollments (squared feature distance, the device's
    /// `ClassBank::set_margin`), one result row each per step count.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub margin: Vec<f32>,
    /// Also the smallest margin that keeps the original classes within this many points of
    /// their start after 10 enrollments, chosen on episodes of the original classes alone.
    #[arg(long)]
    pub protect: Option<f64>,
    /// Calibration episodes of --protect.
    #[arg(long, default_value_t = 200)]
    pub protect_episodes: usize,
    /// Use only the first N original and N held-out classes (fast checks).
    #[arg(long)]
    pub classes: Option<usize>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

pub fn enroll_eval(a: EnrollEvalArgs) -> Result<ExitCode> {
    let record = RunRecord::read(&a.model)?.ok_or_else(|| {
        anyhow!(
            "{}: no classification run record beside the model (`train`, `quantise --export` and `export` write one)",
            a.model.display()
        )
    })?;
    let cfg = record.config.clone();
    // The run's split as an evaluation makes it (training's checks and notes were the run's).
    let setup = Setup::for_purpose(&cfg, trainer::classify::setup::Purpose::Evaluate)?;
    record.check(&cfg, &setup)?;
    let blob = export::read(&a.model)?;
    let bytes = match a.max_classes {
        Some(c) => export::reexport(&blob, a.head, Some(c), None)?
            .to_bytes()
            .map_err(|e| anyhow!("{e}"))?,
        None => blob.to_vec(),
    };
    let bytes = runtime::format::AlignedBytes::from_slice(&bytes);
    let n = a.classes.unwrap_or(usize::MAX);
    let original: Vec<usize> = cfg.train_classes.iter().copied().take(n).collect();
    let held: Vec<usize> = cfg.test_classes.iter().copied().take(n).collect();
    let original_shots = a.original_shots.unwrap_or(a.shots);
    let query = match a.query {
        Some(q) => q,
        None => default_query(&setup, &original, &held, original_shots, a.shots)?,
    };
    if a.episodes == 0 || a.shots == 0 || query == 0 || original_shots == 0 {
        bail!("--episodes, --shots, --original-shots and --query must be >= 1");
    }
    if let Some(m) = a.margin.iter().find(|m| !m.is_finite()) {
        bail!("--margin {m}: not a finite number");
    }
    let reused = reused_samples(&setup, &held, a.shots, query);
    let queries = original_queries(&setup, &record, &original, query);
    let mut spec = EnrollSpec {
        shots: a.shots,
        original_shots,
        query,
        episodes: a.episodes,
        seed: a.seed,
        steps: a.steps.clone(),
        rate: a.rate,
        margins: a.margin.clone(),
        original_query_rows: queries.rows.clone(),
    };
    let protection = match a.protect {
        Some(bound) => {
            let model = runtime::Model::from_bytes(&bytes).map_err(|e| anyhow!("model: {e}"))?;
            let p = choose_margin(
                &model,
                a.head,
                &setup,
                &original,
                &spec,
                bound,
                a.protect_episodes.max(1),
            )?;
            if !spec.margins.contains(&p.margin) {
                spec.margins.push(p.margin);
            }
            Some(p)
        }
        None => None,
    };
    let rows = evaluate(&bytes, a.head, &setup, &original, &held, &spec)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "model": a.model, "head": a.head, "original": original, "held_out": held,
                "shots": a.shots, "original_shots": original_shots, "query": query, "episodes": a.episodes, "seed": a.seed,
                "rate": a.rate, "margins": spec.margins, "protect": protection,
                "original_queries": queries, "results": rows
            }))?
        );
    } else {
        println!(
            "original classes {} (enrolled first, from {original_shots} samples each), then held-out classes {} one per enrollment (past {} enrollments: forget one and enroll it again from fresh samples{}); {}-shot, {} queries per class, {} episodes, 95% CI over episodes; accuracy in %:",
            setup.ds.describe_classes(&original),
            setup.ds.describe_classes(&held),
            held.len(),
            match reused.is_empty() {
                true => String::new(),
                false => format!(", except {} from the samples of {} first enrollment: see the note", setup.ds.describe_classes(&reused), if reused.len() == 1 { "its" } else { "their" }),
            },
            a.shots,
            query,
            a.episodes
        );
        if let Some(p) = &protection {
            println!(
                "--protect {}: margin {} chosen on {} episodes of the original classes alone ({} shipped, {} enrolled in turn, 10 enrollments): the shipped classes drop {:.2} points with it, {:.2} without",
                p.bound, p.margin, p.episodes, p.shipped, p.enrolled, p.drop, p.drop_without
            );
        }
        print!("{}", table(&rows));
        println!("note: {}", queries.note);
        if let Some(note) = trainer::classify::enroll::steps_note(&rows, a.rate) {
            println!("note: {note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The held-out classes that enrollments past their count re-enroll from a pool (their rows
/// beside their queries) too short for fresh samples, so from their first ones again; with a
/// note naming them.
fn reused_samples(setup: &Setup, held: &[usize], shots: usize, query: usize) -> Vec<usize> {
    let last = CHECKPOINTS.iter().copied().max().unwrap_or(0);
    if held.is_empty() || held.len() >= last {
        return Vec::new();
    }
    let by = setup.ds.by_class();
    let pool = |c: usize| by.get(c).map_or(0, Vec::len).saturating_sub(query);
    let short: Vec<usize> = held
        .iter()
        .copied()
        .filter(|&c| pool(c) < 2 * shots)
        .collect();
    if let Some(rows) = short.iter().map(|&c| pool(c)).min() {
        let (who, leave, its, it, was) = match short.len() {
            1 => ("class", "leaves", "its", "it", "it was"),
            _ => ("classes", "leave as few as", "their", "them", "they were"),
        };
        eprintln!(
            "note: {who} {} {leave} {rows} rows beside {its} {query} queries, fewer than 2 x {shots}: enrollments past {} enroll {it} again from samples {was} enrolled from before, not fresh ones (lower --query or --shots)",
            match short[..] {
                [one] => setup.ds.class_name(one),
                _ => setup.ds.describe_classes(&short),
            },
            held.len(),
        );
    }
    short
}

/// Queries per class when `--query` is not given: [`DEFAULT_QUERY`], or what the smallest
/// class leaves beside the samples it is enrolled from (with a note); an error naming the
/// class when it leaves none.
fn default_query(
    setup: &Setup,
    original: &[usize],
    held: &[usize],
    original_shots: usize,
    shots: usize,
) -> Result<usize> {
    let by = setup.ds.by_class();
    let rows = |c: usize| by.get(c).map_or(0, Vec::len);
    let spare = |c: usize, k: usize| (rows(c).saturating_sub(k), c);
    let (fewest, class) = original
        .iter()
        .map(|&c| spare(c, original_shots))
        .chain(held.iter().map(|&c| spare(c, shots)))
        .min()
        .unwrap_or((0, 0));
    let name = setup.ds.class_name(class);
    if fewest == 0 {
        bail!(
            "class {name} has {} rows: none left for a query beside its samples (lower --shots or --original-shots)",
            rows(class)
        );
    }
    if fewest < DEFAULT_QUERY {
        eprintln!(
            "note: {fewest} queries per class (of {DEFAULT_QUERY}): class {name} has {} rows",
            rows(class)
        );
    }
    Ok(fewest.min(DEFAULT_QUERY))
}
