//! `trainer train` of a classification configuration: train (or resume), export, write the run
//! record, evaluate the export as deployed and say what was chosen.

use super::*;

/// Train (or resume), export `out`, write `<out>.trained.json`, evaluate as deployed
/// (`<out>.eval.json`) and plot unless `flags.no_eval`. `flags`' configuration overrides must
/// already be in `cfg` (checked with the file's values, see [`crate::engine::RunFlags::apply`]).
/// Returns None when the run was interrupted (its checkpoint written).
pub fn train_and_export(
    cfg: &ClsConfig,
    name: &str,
    out: &Path,
    flags: &RunFlags,
    stop: &AtomicBool,
) -> Result<Option<Trained>> {
    let setup = Setup::new(cfg)?;
    let ds = &setup.ds;
    eprintln!("{}", crate::csvio::describe_inputs(&ds.file, &ds.columns));
    // A vector of sensor readings, not an image's or a series' positions (a digit's border
    // pixels are 0 in every row by nature).
    let vector = matches!(cfg.input, crate::classify::config::InputKind::Vector {});
    for w in crate::column_checks::input_warnings(&ds.columns, &[&ds.x], vector, "subject_column") {
        eprintln!("{w}");
    }
    if let Some(spec) = &cfg.front_end {
        crate::features::check_config(spec, &cfg.data, setup.ds.d)?;
    }
    if cfg.validate_on == crate::classify::config::ValidateOn::HeldOutRows
        && !cfg.freeze_trunk
        && cfg.has_trunk_layers()
    {
        eprintln!("warning: validate_on = \"held_out_rows\" with a trained trunk: the stopping point and the device settings are chosen on the classes the trunk learns, which overrates it; held-out classes measure what the device does");
    }
    if let Some(note) = setup.ways_note(cfg) {
        eprintln!("note: {note}");
    }
    if let Some(note) = setup.unused_classes_note(cfg) {
        eprintln!("note: {note}");
    }
    let t0 = std::time::Instant::now();
    let Some(st) = train_checkpointed(
        out,
        flags,
        stop,
        |ckpt| ClsState::resume(ckpt, cfg, &setup),
        || ClsState::new(cfg, &setup, true),
        |st, ckpts| train_from(st, &setup, ckpts, true),
    )?
    else {
        return Ok(None);
    };
    let trained = finish(&st, &setup)?;
    let secs = t0.elapsed().as_secs_f64();
    let mut def = model_def(name, &trained)?;
    def.front_end = cfg.front_end;
    let bytes = export::write(out, &def)?;
    let record = RunRecord::new(out, cfg, &setup, &trained)?;
    record.write(out)?;
    report_run(
        cfg,
        &setup,
        &record,
        &trained,
        (st.iter, secs),
        (out, bytes),
    );
    crate::export::write_trained(out, &trained)?;
    if flags.no_eval {
        return Ok(Some(trained));
    }
    let Some((shots, query)) = noted_eval_shots(&setup, cfg.ways, &cfg.shots) else {
        return Ok(Some(trained));
    };
    evaluate_export(cfg, &setup, &record, &trained, out, &shots, query)?;
    Ok(Some(trained))
}

/// What a finished run prints: iterations, best validation, the device setting and the file;
/// the open-set threshold, the normalisation chosen, the validation classes, the trunks that
/// competed and a note when their difference was inconclusive.
fn report_run(
    cfg: &ClsConfig,
    setup: &Setup,
    record: &RunRecord,
    trained: &Trained,
    (iters, secs): (u64, f64),
    (out, bytes): (&Path, usize),
) {
    eprintln!(
        "trained {} iterations in {secs:.1} s (best validation {:.2}% at iteration {}{}, with the training's head setting); device: scale {}, rate {}, {} steps, chosen after it on the validation episodes (each trunk below with its own); wrote {} ({bytes} bytes) and its run record",
        iters,
        100.0 * trained.best_val,
        trained.best_iter,
        trained
            .early_stop
            .map_or(String::new(), |i| format!(", stopped early at {i}")),
        trained.device.scale,
        trained.device.alpha,
        trained.device.steps,
        out.display()
    );
    if let Some(tau) = trained.open_set_threshold {
        eprintln!(
            "open-set training ({} rows of other classes an episode): the trained trunk's learned threshold is {tau:.4} (squared distance to the nearest prototype); a device's threshold: `trainer eval --unknown-queries U --unknown-score distance`",
            cfg.unknown_queries
        );
    }
    match &setup.normalise_choice {
        Some(c) => eprintln!(
            "input normalisation (auto): {} (nearest centroid in the device's f32 arithmetic, on up to 200 validation episodes a shot count drawn for this choice, not the trunks' below: per-feature standardisation {:.2}%, common scale {:.2}%)",
            if c.common { "a common scale for every feature" } else { "per-feature standardisation" },
            100.0 * c.standardise_score,
            100.0 * c.common_score
        ),
        None => eprintln!("input normalisation: {}", configured_note(cfg)),
    }
    if !setup.val_classes.is_empty() {
        eprintln!(
            "validation on held-out classes {} ({}-way); the trunk trained on {}",
            setup.ds.describe_classes(&setup.val_classes),
            setup.val_ways,
            setup.ds.describe_classes(&record.trunk_classes)
        );
    }
    print_candidates(trained, &setup.ds, "exported");
    let exported = trained
        .candidates
        .first()
        .is_some_and(|c| c.trunk == "trained");
    let note = inconclusive_trunk_note(cfg, trained.trunk_gain, trained.folds.is_some(), exported);
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
}

/// The exported model evaluated as deployed (2000 episodes of `shots`, baselines on the same
/// draws), printed and written to `<out>.eval.json`, and the run's plots.
fn evaluate_export(
    cfg: &ClsConfig,
    setup: &Setup,
    record: &RunRecord,
    trained: &Trained,
    out: &Path,
    shots: &[usize],
    query: usize,
) -> Result<()> {
    let ways = cfg.ways;
    let blob = export::read(out)?;
    let report = eval_rows(
        &blob,
        setup,
        ways,
        shots,
        &trained.device.step_counts(),
        &EpisodeSpec::Sampled {
            n: 2000,
            query,
            seed: crate::classify::EVAL_SEED,
            unknown: None,
        },
        &baselines(setup, Some(record)),
    )?;
    print!("{}", describe(cfg, &setup.ds, &report));
    print!("{}", table(&report.rows));
    print!("{}", record.untrained_trunk_note().unwrap_or_default());
    let within = crate::classify::subjects::report(
        &blob,
        setup,
        (ways, shots, query),
        &trained.device.step_counts(),
        (2000, crate::classify::EVAL_SEED, false),
        &baselines(setup, Some(record)),
    )?;
    if let Some(within) = &within {
        print!(
            "{}",
            crate::classify::subjects::table(&setup.ds, ways, &cfg.test_subjects, within)
        );
        std::fs::write(
            out.with_extension("eval_subjects.json"),
            serde_json::to_string_pretty(within)?,
        )?;
    }
    let mut report = report;
    for r in &mut report.rows {
        r.per_episode.clear();
    }
    std::fs::write(
        out.with_extension("eval.json"),
        serde_json::to_string_pretty(&report.rows)?,
    )?;
    for p in crate::classify::plots::write_all(out, trained, &blob, setup)? {
        eprintln!("plot: {}", p.display());
    }
    Ok(())
}

/// The note of a run without folds whose validation episodes could not tell the trained trunk
/// from the identity (the paired difference's 95% interval contains zero), or whose trained
/// trunk won on them (`trained_exported`: a few classes' episodes cannot show it wins on
/// others), naming the fold comparison when the training classes allow one.
pub(super) fn inconclusive_trunk_note(
    cfg: &ClsConfig,
    trunk_gain: Option<(f64, f64)>,
    had_folds: bool,
    trained_exported: bool,
) -> Option<String> {
    let (gain, ci) = trunk_gain?;
    let folds = (cfg.train_classes.len() / 2).min(4);
    if had_folds
        || folds < 2
        || cfg.validate_on != crate::classify::config::ValidateOn::HeldOutClasses
    {
        return None;
    }
    if trained_exported && gain > ci {
        return Some(format!(
            "the trained trunk won on the validation classes' episodes; a few classes cannot show it wins on others (a large gain on one class passes that interval): `trunk_folds = {folds}` asks the gain to hold with the class as the unit over every training class (one more training each), and `trainer cv` measures it on every class"
        ));
    }
    if gain.abs() > ci {
        return None;
    }
    Some(format!(
        "the validation episodes do not tell the trained trunk from the identity (the difference's interval contains 0), as is usual with few validation classes or a validation near 100 %: `trunk_folds = {folds}` compares them over {folds} folds of the training classes instead (one more training each)"
    ))
}

/// The trunks compared on the validation episodes (the chosen one marked `chosen`: exported), the trained trunk's gain over the
/// identity, the fold validation and the overfitting warning.
fn print_candidates(trained: &Trained, ds: &Dataset, chosen: &str) {
    for c in &trained.candidates {
        eprintln!(
            "  trunk {:<9} validation {:.2}% (per shots {}) with scale {}, rate {}, {} steps{}",
            c.trunk,
            100.0 * c.score,
            c.per_shots
                .iter()
                .map(|a| format!("{:.2}", 100.0 * a))
                .collect::<Vec<_>>()
                .join("/"),
            c.device.scale,
            c.device.alpha,
            c.device.steps,
            if std::ptr::eq(c, &trained.candidates[0]) {
                format!("  <- {chosen}")
            } else {
                String::new()
            }
        );
    }
    if let (Some((gain, ci)), None) = (trained.trunk_gain, &trained.folds) {
        eprintln!(
            "  trained minus identity on the same validation episodes: {:+.2} +- {:.2} points (the trained trunk is chosen only when this interval lies above zero and its best validation came after iteration 0)",
            100.0 * gain,
            100.0 * ci
        );
    }
    if let Some(f) = &trained.folds {
        eprintln!(
            "  the trunk was chosen over {} folds of the training classes {}: trained {:.2}%, identity {:.2}% (mean validation)",
            f.folds.len(),
            f.folds
                .iter()
                .map(|fold| ds.describe_classes(fold))
                .collect::<Vec<_>>()
                .join(", "),
            100.0 * f.mean(&f.trained),
            100.0 * f.mean(&f.identity)
        );
        let rule = "the trained trunk is chosen only when this interval lies above zero and its best validation came after iteration 0";
        match (f.class_gain(), f.gain()) {
            (Some((gain, ci, n)), episodes) if ci.is_finite() => {
                let over = episodes.map_or(String::new(), |(g, c)| {
                    format!(
                        "; over their episodes {:+.2} +- {:.2}",
                        100.0 * g,
                        100.0 * c
                    )
                });
                eprintln!(
                    "  trained minus identity over the folds' {n} validation classes (the class as the unit): {:+.2} +- {:.2} points ({rule}){over}",
                    100.0 * gain,
                    100.0 * ci
                );
            }
            (_, Some((gain, ci))) => eprintln!(
                "  trained minus identity over the folds' validation episodes: {:+.2} +- {:.2} points ({rule})",
                100.0 * gain,
                100.0 * ci
            ),
            _ => {}
        }
    }
    if let Some(t) = &trained.steps_test {
        eprintln!(
            "  device steps minus the prototype start on the same validation episodes: {:+.2} +- {:.2} points (the step setting was picked on these episodes too: the interval does not count that choice; the novel classes' table is the test): {}",
            100.0 * t.gain,
            100.0 * t.ci,
            if t.passed() {
                "the device takes them"
            } else {
                "not above zero beyond noise, the device takes none"
            }
        );
    }
    if let Some(w) = &trained.warning {
        eprintln!("warning: {w}");
    }
}

/// What the configured normalisation is, when nothing was chosen on validation episodes.
fn configured_note(cfg: &ClsConfig) -> String {
    use crate::classify::config::Normalise;
    let per_feature = match &cfg.normalise {
        Normalise::Auto => "then per-feature standardisation (`normalise = \"auto\"` chooses only without `standardise_windows`, on usable validation episodes)".to_string(),
        Normalise::Standardise => "then per-feature standardisation".to_string(),
        Normalise::Common => "then one shift and scale for every feature".to_string(),
        Normalise::Scale { factor } => format!("then a scale of {factor}"),
        Normalise::None => "and nothing else".to_string(),
    };
    match cfg.standardise_windows {
        true => format!("each window's channels standardised by their own mean and spread (`standardise_windows`, on the device too), {per_feature}; fitted on the training classes' rows, stored in the model"),
        false => format!("{} (fitted on the training classes' rows, stored in the model)", per_feature.trim_start_matches("then ")),
    }
}
