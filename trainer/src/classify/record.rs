//! The record of a classification run, written beside its model as `<model>.run.json`: the
//! model's SHA-256, the configuration (classes, split, input kind), the data file's path and
//! fingerprint, the normalisation, the trunks compared and the trained trunk (the ProtoNet
//! baseline). `trainer eval` reads it, so evaluation uses the run's own classes, split and
//! normalisation, and refuses another data file or a model the record does not describe.

use super::config::ClsConfig;
use super::setup::{Normalisation, Setup};
use super::train::{Candidate, Trained};
use crate::net::Arch;
use crate::record::{read, relative_path, write};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a classification model was trained on and how.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    /// SHA-256 of the model file this record describes.
    pub model_sha256: String,
    /// The run's configuration; `data` relative to the record's folder.
    pub config: ClsConfig,
    /// SHA-256 of the data file, its rows and features.
    pub data_sha256: String,
    pub data_rows: usize,
    pub features: usize,
    /// The input columns' names, in the order the model takes them (`f1..` without a header;
    /// empty in a record written before they were kept).
    #[serde(default)]
    pub input_names: Vec<String>,
    /// The meta-training classes held out of trunk training (validation), the trunk's training
    /// classes, and the novel classes of the evaluation.
    pub val_classes: Vec<usize>,
    pub trunk_classes: Vec<usize>,
    pub test_classes: Vec<usize>,
    /// The model's input normalisation, and the standardisation of the baseline.
    pub normalisation: Normalisation,
    pub standardise: Normalisation,
    /// The trunks compared on validation, the exported one first.
    pub candidates: Vec<Candidate>,
    /// The trained trunk (the ProtoNet baseline), when the trunk trained.
    pub trained_trunk: Option<(Arch, Vec<f64>)>,
    /// The trained trunk is a plain ProtoNet (prototype loss only, no inner step, no multi-task
    /// head).
    pub plain_protonet: bool,
    /// The iteration the trained trunk was kept at (its best validation); 0 is its random
    /// start. None in a record written before it was kept.
    #[serde(default)]
    pub trunk_iteration: Option<u64>,
}

impl RunRecord {
    pub fn new(model: &Path, cfg: &ClsConfig, setup: &Setup, t: &Trained) -> Result<Self> {
        let mut config = cfg.clone();
        config.data = relative_path(model, &cfg.data);
        Ok(RunRecord {
            model_sha256: crate::record::file_sha256(model)?,
            config,
            data_sha256: setup.ds.sha256.clone(),
            data_rows: setup.ds.rows(),
            features: setup.ds.d,
            input_names: setup.ds.columns.clone(),
            val_classes: setup.val_classes.clone(),
            trunk_classes: cfg
                .train_classes
                .iter()
                .copied()
                .filter(|c| !setup.val_classes.contains(c))
                .collect(),
            test_classes: cfg.test_classes.clone(),
            normalisation: setup.norm.clone(),
            standardise: setup.standardise.clone(),
            candidates: t.candidates.clone(),
            trained_trunk: t.trained_trunk.clone(),
            plain_protonet: cfg.proto.steps == 0 && !cfg.aux,
            trunk_iteration: t.trained_trunk.as_ref().map(|_| t.best_iter),
        })
    }

    /// The note under a table whose trained-trunk baseline is the run's random start (its
    /// best validation was at iteration 0): that row is no trained ProtoNet.
    pub fn untrained_trunk_note(&self) -> Option<String> {
        (self.trained_trunk.is_some() && self.trunk_iteration == Some(0)).then(|| {
            let row = if self.plain_protonet { "protonet" } else { "trained_trunk" };
            format!("note: the `{row}` row's trunk is the run's at iteration 0, its random start (no later validation beat it): an untrained trunk, not a trained ProtoNet\n")
        })
    }

    pub fn write(&self, model: &Path) -> Result<PathBuf> {
        write(model, self)
    }

    /// Writes this record (read beside another model) beside `model`, a re-export of that
    /// model with the same trunk, classes and normalisation (an enrollable head): the model's
    /// SHA-256 and the data path made relative to its folder.
    pub fn write_for(&self, model: &Path) -> Result<PathBuf> {
        let mut r = self.clone();
        r.model_sha256 = crate::record::file_sha256(model)?;
        r.config.data = relative_path(model, &self.config.data);
        write(model, &r)
    }

    /// The classification record beside `model` (None: no record, or another kind's), checked
    /// to describe exactly these model bytes; its data path resolved.
    pub fn read(model: &Path) -> Result<Option<Self>> {
        let Some((p, v)) = read(model, None)? else {
            return Ok(None);
        };
        let mut r: RunRecord = serde_json::from_value(v)
            .with_context(|| format!("{}: not a classification run record", p.display()))?;
        r.config.data = crate::config::relative_to(&p, &r.config.data);
        Ok(Some(r))
    }

    /// The voice split of `data` when it is another file than the run's with the same
    /// recording behind it: both made by `trainer features` from the same manifest (its
    /// SHA-256), with the same front-end and the same labels, only another voice split (e.g. the
    /// voices held out of training). The model is then evaluated on it with its own
    /// normalisation ([`RunRecord::use_normalisation`]). None: not such a file.
    pub fn other_split(&self, data: &Path) -> Result<Option<String>> {
        let (Some(ours), Some(theirs)) = (
            crate::features::recorded(&self.config.data)?,
            crate::features::recorded(data)?,
        ) else {
            return Ok(None);
        };
        let same = ours.front_end == theirs.front_end
            && ours.manifest_sha256 == theirs.manifest_sha256
            && ours.labels == theirs.labels
            && ours.voice_split != theirs.voice_split;
        Ok(same.then(|| theirs.voice_split.unwrap_or_else(|| "all".into())))
    }

    /// Evaluates on `setup` with the run's own normalisation (the deployed model's) and the
    /// baseline's standardisation, not ones fitted on `setup`'s file.
    pub fn use_normalisation(&self, setup: &mut Setup) {
        setup.norm = self.normalisation.clone();
        setup.standardise = self.standardise.clone();
    }

    /// Refuses a data set or configuration that is not the run's: another file, or another split.
    pub fn check(&self, cfg: &ClsConfig, setup: &Setup) -> Result<()> {
        if setup.ds.sha256 != self.data_sha256 && self.other_split(&cfg.data)?.is_none() {
            bail!(
                "{}: SHA-256 {} but the model was trained on {} (SHA-256 {}): its split and normalisation belong to that file",
                setup.ds.file,
                setup.ds.sha256,
                self.config.data.display(),
                self.data_sha256
            );
        }
        let r = &self.config;
        for (key, same) in [
            ("train_classes", r.train_classes == cfg.train_classes),
            ("test_classes", r.test_classes == cfg.test_classes),
            ("val_classes", self.val_classes == setup.val_classes),
            ("split_seed", r.split_seed == cfg.split_seed),
            ("val_fraction", r.val_fraction == cfg.val_fraction),
            ("input", r.input == cfg.input),
            ("normalise", r.normalise == cfg.normalise),
        ] {
            if !same {
                bail!("`{key}` differs from the run that trained this model: its held-out classes and normalisation would not be the ones it was validated with");
            }
        }
        if setup.norm != self.normalisation {
            bail!("the normalisation fitted on this data differs from the model's");
        }
        // The baseline trunk is read from this file: its sizes are checked before it runs.
        if let Some((arch, params)) = &self.trained_trunk {
            let fits = arch.inputs == setup.ds.d
                && params.len() == arch.n_params()
                && arch.shift.len() == arch.inputs
                && arch.scale.len() == arch.inputs
                && arch.layers.first().is_none_or(|l| l.inputs == arch.inputs)
                && arch.layers.windows(2).all(|w| w[0].outputs == w[1].inputs);
            if !fits {
                bail!("the record's trained trunk does not fit its own architecture or the data");
            }
        }
        Ok(())
    }
}
