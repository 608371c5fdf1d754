//! `trainer inspect`: what a model file holds, through the runtime's loader.

use anyhow::{anyhow, bail, Result};
use runtime::writer::RateDef;
use runtime::Model;
use std::fmt::Write;

pub fn describe(bytes: &[u8]) -> Result<String> {
    let m = Model::from_bytes(bytes).map_err(|e| anyhow!("not a valid model: {e}"))?;
    let mut s = String::new();
    write_input(&mut s, &m, bytes)?;
    write_layers(&mut s, &m)?;
    for h in 0..m.heads().len() {
        write_head(&mut s, &m, h)?;
    }
    Ok(s)
}

/// The model's name, format, input, its transform, views and front-end, parameter count.
fn write_input(w: &mut String, m: &Model<'_>, bytes: &[u8]) -> Result<()> {
    writeln!(w, "model      {:?} (id {:#010x})", m.name(), m.model_id())?;
    writeln!(
        w,
        "format     v{}, {} bytes (flash), CRC-32 {:#010x}",
        bytes
            .get(4..6)
            .map_or(0, |v| u16::from_le_bytes([v[0], v[1]])),
        m.blob_len(),
        m.crc()
    )?;
    writeln!(
        w,
        "inputs     {} (normalisation: {})",
        m.input_len(),
        if m.normalisation().is_some() {
            "yes"
        } else {
            "no"
        }
    )?;
    if let Some(runtime::format::InputTransform::StandardiseChannels { channels, eps }) =
        m.input_transform()
    {
        writeln!(
            w,
            "transform  each sample's {channels} channel(s) standardised (eps {eps:e}), then the normalisation"
        )?;
    }
    if let Some((set, _)) = m.views() {
        writeln!(
            w,
            "views      {} affine warps of the {}x{} image input, the trunk run on each; read by matching heads",
            set.count, set.width, set.height
        )?;
    }
    if let Some(fe) = m.front_end() {
        let what = if fe.dct_coeffs > 0 {
            format!("{} MFCCs", fe.dct_coeffs)
        } else {
            "log-mel".to_string()
        };
        writeln!(
            w,
            "front-end  {} Hz mono; frames of {} samples every {}, Hann, FFT {}, {} mel bands {}-{} Hz, ln(e + {:e}), {what}: {} frames x {} = the input",
            fe.sample_rate,
            fe.frame_len,
            fe.hop,
            fe.fft_size,
            fe.mel_bins,
            fe.f_min,
            fe.f_max,
            fe.log_offset,
            fe.frames_per_second(),
            fe.features_per_frame()
        )?;
    }
    let words = m.param_count();
    // The int8 layers' stored bytes and the f32 bytes of the same weights and biases.
    match int8_flash(m)?.map(|(int8, f32)| (int8 / 4, f32 / 4)) {
        Some((stored, params)) => writeln!(
            w,
            "parameters {} ({params} in int8 layers, stored in {stored} words with their per-channel requantisation)",
            words - stored + params
        )?,
        None => writeln!(w, "parameters {words}")?,
    }
    Ok(())
}

/// The stem's layers (and the flash its int8 tensors save), the trunk's.
fn write_layers(w: &mut String, m: &Model<'_>) -> Result<()> {
    for (i, l) in m.stem().iter().enumerate() {
        write_stem_layer(w, m, i, l)?;
    }
    if let Some((int8, f32)) = int8_flash(m)? {
        writeln!(
            w,
            "int8 stem  {int8} bytes of tensors (int8 weights; int32 biases, multipliers, shifts; f32 weight scales), {f32} as f32 weights and biases: {} bytes saved ({:.2}x smaller)",
            f32.saturating_sub(int8),
            f32 as f64 / int8.max(1) as f64
        )?;
    }
    for (i, l) in m.trunk().iter().enumerate() {
        writeln!(
            w,
            "trunk[{i}]   {} -> {} {:?} ({} params)",
            l.inputs,
            l.outputs,
            l.activation,
            l.param_count()
        )?;
    }
    Ok(())
}

/// Head `h`: its kind, class bank, output normalisation, layers and adaptation.
fn write_head(w: &mut String, m: &Model<'_>, h: usize) -> Result<()> {
    let head = &m.heads()[h];
    let kind = head.kind;
    writeln!(w, "head {h}     id {} {:?}: {kind}", head.id, head.name)?;
    if let Some(e) = m.enrollable(h) {
        let bank = runtime::ClassBank::<1, 1>::bank_len(m, h).map_err(|e| anyhow!("{e}"))?;
        writeln!(
            w,
            "  enroll   up to {} classes added on the device (class bank {bank} floats, {} bytes, beside its scratch: `--rust --k K` gives the RAM of both)",
            e.max_classes,
            4 * bank
        )?;
        if 4 * bank > 256 << 10 {
            writeln!(
                w,
                "  warning  the class bank alone is more than 256 KiB of RAM, beyond most microcontrollers: a smaller `export --max-classes`"
            )?;
        }
    }
    if let Some((shift, scale)) = m.output_normalisation(h) {
        writeln!(
            w,
            "  outputs  in raw units: z * {scale:?} + {shift:?} (targets standardised alike)"
        )?;
    }
    for (i, l) in head.layers.iter().enumerate() {
        writeln!(
            w,
            "  layer[{i}] {} -> {} {:?} ({} params)",
            l.inputs,
            l.outputs,
            l.activation,
            l.param_count()
        )?;
    }
    match &head.adapt {
        None => writeln!(w, "  adapt    none (fixed head)")?,
        Some(a) => write_adapt(w, m, h, a)?,
    }
    Ok(())
}

/// Head `h`'s adaptation: scope, steps, the range of its rates, clip, adapted parameters and
/// RAM for a few K.
fn write_adapt(w: &mut String, m: &Model<'_>, h: usize, a: &runtime::AdaptSpec) -> Result<()> {
    let rate = a.rate;
    let rates = match runtime::writer::ModelDef::from_model(m)
        .map_err(|e| anyhow!("{e}"))?
        .heads
        .get(h)
        .and_then(|hd| hd.adapt.clone())
        .map(|a| a.rate)
    {
        Some(RateDef::Scalar(r)) => vec![r],
        Some(RateDef::PerLayerPerStep { table, .. }) => table,
        Some(RateDef::PerParameter(v)) | Some(RateDef::Proximal(v)) => v,
        None => vec![],
    };
    let (lo, hi) = rates
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    writeln!(
        w,
        "  adapt    {:?}, {} steps, rates {rate} in [{lo:.4}, {hi:.4}], clip {}{}",
        a.scope,
        a.steps,
        a.clip,
        a.prototype_scale
            .map_or(String::new(), |p| format!(", prototypes (scale {p})"))
    )?;
    writeln!(
        w,
        "  adapted  {} params",
        m.adapted_param_count(h).map_err(|e| anyhow!("{e}"))?
    )?;
    // K counts support samples: a head of C classes takes C of them for 1 shot, 5 C for 5.
    let ks: Vec<(usize, String)> = match m.head(h).ok().and_then(|hd| hd.kind.classes()) {
        Some(c) => [1, 5]
            .iter()
            .map(|&shots| {
                let c = usize::from(c);
                (shots * c, format!(" ({shots} shot x {c} classes)"))
            })
            .collect(),
        None => [1, 5, 10, 20].map(|k| (k, String::new())).into(),
    };
    for (k, what) in ks {
        let r = m.ram_needs(h, k).map_err(|e| anyhow!("{e}"))?;
        writeln!(
            w,
            "  RAM K={k:<3} {} bytes{what} (state {} + scratch {} floats; lower bound {} floats)",
            r.total_bytes(),
            r.state,
            r.adapt_scratch.max(r.infer_scratch),
            r.lower_bound()
        )?;
    }
    Ok(())
}

/// The Rust constants a firmware needs to run head `head` (default: the first adaptable one) of
/// the model `bytes` with up to `k` support samples through `fewshot_runtime::Learner`: the
/// module `trainer inspect MODEL --rust` prints; with `device`, also the serial protocol's
/// `Device` for the head (`--device`). Every size is the model's own (the runtime refuses
/// smaller ones when the learner is made).
pub fn rust_sizes(
    bytes: &[u8],
    head: Option<usize>,
    sizing: Sizing,
    source: &Source<'_>,
    device: Option<DeviceOptions>,
) -> Result<String> {
    let file = source.file;
    let k = sizing.k;
    let m = Model::from_bytes(bytes).map_err(|e| anyhow!("not a valid model: {e}"))?;
    let head = match head {
        Some(h) => h,
        None => (0..m.heads().len())
            .find(|&h| m.adapt_spec(h).is_ok() || m.enrollable(h).is_some())
            .ok_or_else(|| anyhow!("the model has no adaptable head (pick one with --head)"))?,
    };
    let names: Vec<String> = m.heads().iter().map(|h| format!("{:?}", h.name)).collect();
    let outputs = m.head(head).map_err(|e| anyhow!("{e}"))?.kind.outputs();
    let mut s = String::new();
    let w = &mut s;
    writeln!(
        w,
        "//! Sizes of model {:?} (id {:#010x}), head {head}, for up to {k} support samples.",
        m.name(),
        m.model_id()
    )?;
    let flag = match device {
        Some(DeviceOptions {
            update_bytes: Some(n),
        }) => format!(" --device --update-bytes {n}"),
        Some(_) => " --device".to_string(),
        None => String::new(),
    };
    let flag = match sizing.max_steps {
        Some(n) => format!(" --max-steps {n}{flag}"),
        None => flag,
    };
    writeln!(w, "//! Generated by `trainer inspect {file} --rust --head {head} --k {k}{flag}`; regenerate it with the model.")?;
    writeln!(w)?;
    writeln!(w, "/// The model these sizes are for (`Model::model_id`).")?;
    writeln!(w, "pub const MODEL_ID: u32 = {:#010x};", m.model_id())?;
    writeln!(
        w,
        "/// The model's CRC-32 (its last 4 bytes, `Model::crc`): what `check_model` compares."
    )?;
    writeln!(w, "pub const MODEL_CRC: u32 = {:#010x};", m.crc())?;
    writeln!(
        w,
        "/// Fails the build unless `bytes` are the model these sizes were generated from: write"
    )?;
    writeln!(
        w,
        "/// `const _: () = sizes::check_model(MODEL);` beside the model's `include_model!`."
    )?;
    writeln!(w, "pub const fn check_model(bytes: &[u8]) {{")?;
    writeln!(
        w,
        "    match fewshot_runtime::format::trailer_crc(bytes) {{"
    )?;
    writeln!(w, "        Some(crc) if crc == MODEL_CRC => {{}}")?;
    writeln!(w, "        _ => panic!(\"these sizes were generated from another model (`trainer inspect {file} --rust --head {head} --k {k}{flag}`): regenerate them from the model this firmware embeds\"),")?;
    writeln!(w, "    }}")?;
    writeln!(w, "}}")?;
    feature_check(w, &m)?;
    writeln!(w, "/// The head the learner adapts.")?;
    writeln!(w, "pub const HEAD: usize = {head};")?;
    writeln!(
        w,
        "/// Every head's name, by index (`Learner::predict_head`)."
    )?;
    writeln!(
        w,
        "pub const HEAD_NAMES: [&str; {}] = [{}];",
        names.len(),
        names.join(", ")
    )?;
    writeln!(w, "/// Floats per input sample.")?;
    writeln!(w, "pub const INPUTS: usize = {};", m.input_len())?;
    if let Some(names) = source
        .inputs
        .filter(|n| n.len() == m.input_len() && n.len() <= MAX_INPUT_NAMES)
    {
        writeln!(
            w,
            "/// The input columns, in the order the model takes them (its run record)."
        )?;
        let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        writeln!(
            w,
            "pub const INPUT_NAMES: [&str; INPUTS] = [{}];",
            quoted.join(", ")
        )?;
    }
    writeln!(
        w,
        "/// The head's outputs (values, or one probability per class)."
    )?;
    writeln!(w, "pub const OUTPUTS: usize = {outputs};")?;
    let regression = matches!(
        m.head(head).map(|h| h.kind),
        Ok(runtime::HeadKind::Regression { .. })
    );
    if let Some(names) = source
        .targets
        .filter(|n| regression && n.len() == outputs && n.len() <= MAX_INPUT_NAMES)
    {
        writeln!(
            w,
            "/// The head's outputs by index: its target columns (the run record), in raw units."
        )?;
        let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        writeln!(
            w,
            "pub const OUTPUT_NAMES: [&str; OUTPUTS] = [{}];",
            quoted.join(", ")
        )?;
    }
    writeln!(
        w,
        "/// The largest support set the scratch is sized for (samples in all: ways x shots)."
    )?;
    writeln!(w, "pub const K_MAX: usize = {k};")?;
    let adaptable = m.adapt_spec(head).is_ok();
    let mut learner_bytes = 0;
    if adaptable {
        // The protocol's device lends the learner's scratch to the class bank.
        let lent = match (device, m.enrollable(head)) {
            (Some(_), Some(_)) => runtime::BankState::<0>::scratch_len(&m, head, k.max(1), 0)
                .map_err(|e| anyhow!("{e}"))?,
            _ => 0,
        };
        learner_bytes = learner_sizes(w, &m, head, sizing, lent)?;
    }
    if m.enrollable(head).is_some() {
        bank_sizes(w, &m, head, k)?;
    } else if !adaptable {
        bail!("head {head} is neither adaptable nor enrollable");
    }
    if let Some(spec) = m.front_end() {
        front_end_sizes(w, &spec)?;
    }
    if let Some(options) = device {
        if !adaptable {
            bail!("--device: head {head} is not adaptable (the protocol's Device adapts its head)");
        }
        let update = options.update_bytes.unwrap_or_else(|| {
            (bytes.len() + runtime::signature::ENVELOPE_HEADER_LEN).next_multiple_of(4096)
        });
        let least = bytes.len() + runtime::signature::ENVELOPE_HEADER_LEN;
        if update < least {
            bail!("--update-bytes {update}: this model's own signed envelope is {least} bytes");
        }
        device_sizes(w, &m, (head, k), update, learner_bytes)?;
    }
    Ok(s)
}

/// Most input names `--rust` writes as `INPUT_NAMES` (wider inputs are images or spectra,
/// their columns numbered rather than named).
const MAX_INPUT_NAMES: usize = 64;

/// Where the model bytes of [`rust_sizes`] come from: the file (as the generated module's
/// header names it) and its inputs' column names when its run record keeps them.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The model file as the command was given it.
    pub file: &'a str,
    /// The input columns' names, in the order the model takes them.
    pub inputs: Option<&'a [String]>,
    /// A regression run's target columns, in the order of the head's outputs.
    pub targets: Option<&'a [String]>,
}

/// How [`rust_sizes`] sizes the learner.
#[derive(Debug, Clone, Copy)]
pub struct Sizing {
    /// The largest support set (samples in all).
    pub k: usize,
    /// The most inner steps an adaptation may ask for (the loss log's length minus one;
    /// `None`: the model's default steps).
    pub max_steps: Option<u16>,
}

/// What `--device` is given besides the head and K.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceOptions {
    /// Bytes of the largest signed model update the device takes (default: the model's own
    /// envelope, rounded up to 4 KiB).
    pub update_bytes: Option<usize>,
}

/// The serial protocol part of [`rust_sizes`] (`--device`): `fewshot_protocol::device::Device`
/// for the head, its support buffer of K_MAX samples, and the records it keeps on its flash
/// (`update` bytes for a model update); `learner` the learner's bytes.
fn device_sizes(
    w: &mut String,
    m: &Model<'_>,
    (head, k): (usize, usize),
    update: usize,
    learner: usize,
) -> Result<()> {
    let kind = m.head(head).map_err(|e| anyhow!("{e}"))?.kind;
    let targets = match kind {
        runtime::HeadKind::Regression { .. } => kind.outputs(),
        _ => 1,
    };
    let enrollable = m.enrollable(head).is_some();
    let bank = match enrollable {
        true => "BANK",
        false => "0",
    };
    writeln!(
        w,
        "/// Values per support sample's target: the regression head's outputs, else 1 (its class)."
    )?;
    writeln!(w, "pub const TARGETS: usize = {targets};")?;
    // The support set's inputs, targets and labels, and the staged input.
    let support = 4 * (k * (m.input_len() + targets) + m.input_len()) + 2 * k;
    writeln!(
        w,
        "/// The serial protocol's device for this head (`fewshot_protocol::device::Device`, feature"
    )?;
    writeln!(
        w,
        "/// `device`) on the flash `F`: the learner ({learner} bytes){}, and {support} bytes of support buffer and staged input.",
        match enrollable {
            true => format!(
                ", the class bank ({} bytes: it works in the learner's scratch)",
                4 * runtime::BankState::<0>::bank_len(m, head).map_err(|e| anyhow!("{e}"))?
            ),
            false => String::new(),
        },
    )?;
    // One parameter a line, as rustfmt lays it out (the module is formatted with its crate).
    writeln!(
        w,
        "pub type Device<'m, F> = fewshot_protocol::device::Device<"
    )?;
    for p in [
        "'m", "F", "PARAMS", "SCRATCH", "LOSS_LOG", "K_MAX", "INPUTS", "TARGETS", bank,
    ] {
        writeln!(w, "    {p},")?;
    }
    writeln!(w, ">;")?;
    writeln!(
        w,
        "/// Bytes of the largest signed model update the device takes: each of its two model slots"
    )?;
    writeln!(
        w,
        "/// on flash (an installed update is served in place from its slot: no RAM holds a copy)."
    )?;
    writeln!(w, "pub const UPDATE_BYTES: usize = {update};")?;
    writeln!(
        w,
        "/// What the device keeps on its flash: `Layout::fitting::<F>(&RECORDS)` places it on a flash `F`."
    )?;
    writeln!(
        w,
        "pub const RECORDS: fewshot_protocol::device::Records = fewshot_protocol::device::Records {{"
    )?;
    writeln!(w, "    state: PARAMS,")?;
    writeln!(w, "    bank: {bank},")?;
    writeln!(w, "    update: UPDATE_BYTES,")?;
    writeln!(w, "}};")?;
    writeln!(w, "{}", flash_comment(m, head, update)?)?;
    Ok(())
}

/// A comment line: the flash `Layout::fitting` gives the head's records on a flash of 4 KiB
/// erase blocks and 4-byte writes (an nRF52840's pages, the QEMU firmware's NOR), region by
/// region, so a firmware author knows what to set aside before building.
fn flash_comment(m: &Model<'_>, head: usize, update: usize) -> Result<String> {
    use fewshot_protocol::device::{Layout, RamFlash, Records};
    type Pages = RamFlash<4096>;
    let bank = match m.enrollable(head) {
        Some(_) => runtime::ClassBank::<0, 0>::bank_len(m, head).map_err(|e| anyhow!("{e}"))?,
        None => 0,
    };
    let state = m.adapted_param_count(head).map_err(|e| anyhow!("{e}"))?;
    let records = Records {
        state,
        bank,
        update,
    };
    let layout = Layout::fitting::<Pages>(&records)
        .ok_or_else(|| anyhow!("the device's records do not fit a 32-bit flash"))?;
    let total = layout.end::<Pages>().unwrap_or(u32::MAX);
    let floor = runtime::update::ModelSlots::floor_slot_len::<Pages>().unwrap_or(u32::MAX);
    let kib = |bytes: u32| format!("{} KiB", bytes / 1024);
    let bank = match layout.bank_slot {
        0 => String::new(),
        b => format!(", bank 2 x {}", kib(b)),
    };
    Ok(format!(
        "// Flash on 4 KiB erase blocks: {} (state 2 x {}, model updates 2 x {}, version floor 2 x {}{bank}).",
        kib(total),
        kib(layout.state_slot),
        kib(layout.model_slot),
        kib(floor),
    ))
}

/// The audio front-end part of [`rust_sizes`] (a model that carries its front-end, format v6):
/// the const generics of `fewshot_runtime::frontend::FrontEnd` for it, its ring one input.
fn front_end_sizes(w: &mut String, spec: &runtime::frontend::FrontEndSpec) -> Result<()> {
    writeln!(w, "/// The model's audio front-end: FFT points.")?;
    writeln!(w, "pub const FFT: usize = {};", spec.fft_size)?;
    writeln!(w, "/// The model's audio front-end: mel bands.")?;
    writeln!(w, "pub const MELS: usize = {};", spec.mel_bins)?;
    writeln!(
        w,
        "/// The model's front-end, its ring holding one input ({} frames of {} values).",
        spec.frames_per_second(),
        spec.features_per_frame()
    )?;
    writeln!(
        w,
        "pub type FrontEnd = fewshot_runtime::frontend::FrontEnd<FFT, MELS, INPUTS>;"
    )?;
    Ok(())
}

/// The `Learner` part of [`rust_sizes`]; its scratch also covers `lent` floats (the class
/// bank's, which the protocol's device runs in the learner's scratch; 0 for none). Returns the
/// learner's bytes.
fn learner_sizes(
    w: &mut String,
    m: &Model<'_>,
    head: usize,
    sizing: Sizing,
    lent: usize,
) -> Result<usize> {
    let k = sizing.k;
    let e = |e: runtime::Error| anyhow!("{e}");
    let spec = m.adapt_spec(head).map_err(e)?;
    let max_steps = sizing.max_steps.unwrap_or(spec.steps);
    if max_steps < spec.steps {
        bail!(
            "--max-steps {max_steps}: below the model's default of {} inner steps, which an adaptation without a step count runs",
            spec.steps
        );
    }
    if max_steps > runtime::MAX_STEPS {
        bail!(
            "--max-steps {max_steps}: the runtime takes at most {} inner steps",
            runtime::MAX_STEPS
        );
    }
    let outputs = m.head(head).map_err(e)?.kind.outputs();
    let needs = m.ram_needs(head, k.max(1)).map_err(e)?;
    let scratch = needs
        .adapt_scratch
        .max(m.infer_scratch_len() + outputs)
        .max(lent);
    writeln!(w, "/// The model's default inner steps.")?;
    writeln!(w, "pub const STEPS: u16 = {};", spec.steps)?;
    writeln!(w, "/// Adapted parameters.")?;
    writeln!(w, "pub const PARAMS: usize = {};", needs.state)?;
    writeln!(
        w,
        "/// Scratch floats: adaptation with K_MAX samples, and inference{}.",
        if lent > 0 {
            "; the device lends it to the class bank"
        } else {
            ""
        }
    )?;
    writeln!(w, "pub const SCRATCH: usize = {scratch};")?;
    writeln!(
        w,
        "/// The most inner steps `Learner::adapt_steps` takes (`--max-steps`; the default: STEPS)."
    )?;
    writeln!(w, "pub const MAX_STEPS: u16 = {max_steps};")?;
    writeln!(
        w,
        "/// Support losses logged: one before each step and one after the last."
    )?;
    writeln!(w, "pub const LOSS_LOG: usize = MAX_STEPS as usize + 1;")?;
    let bytes = 4 * (needs.state + scratch + usize::from(max_steps) + 1);
    if bytes > 1 << 20 {
        eprintln!(
            "warning: the learner needs {bytes} bytes of RAM for K = {k}, more than a microcontroller's 1 MiB: a smaller --k (its scratch grows with K)"
        );
    }
    writeln!(
        w,
        "/// RAM of the learner: {bytes} bytes of floats (state and scratch, as `trainer inspect` counts them, and the loss log),\n/// and a few dozen bytes of its own fields (`core::mem::size_of::<Learner>()` gives the whole)."
    )?;
    writeln!(
        w,
        "pub type Learner<'m> = fewshot_runtime::Learner<'m, PARAMS, SCRATCH, LOSS_LOG>;"
    )?;
    slot_fn(w, "state_slot", "PARAMS", "the adapted state")?;
    Ok(bytes)
}

/// A `const fn NAME<F>() -> u32` of the generated module: the bytes of each of the two flash
/// slots that hold a record of `floats` values on a flash of type `F` (`Slots::slot_len`).
fn slot_fn(w: &mut String, name: &str, floats: &str, what: &str) -> Result<()> {
    writeln!(
        w,
        "/// Bytes of each of the two flash slots (`persist::Slots::new`) that hold {what}"
    )?;
    writeln!(
        w,
        "/// on a flash of type `F`: a record of {floats} floats in whole erase blocks (use it in a"
    )?;
    writeln!(
        w,
        "/// `const`: a size that overflows then fails the build)."
    )?;
    writeln!(
        w,
        "pub const fn {name}<F: fewshot_runtime::persist::nor_flash::NorFlash>() -> u32 {{"
    )?;
    writeln!(
        w,
        "    match fewshot_runtime::persist::Slots::slot_len::<F>({floats}) {{"
    )?;
    writeln!(w, "        Some(bytes) => bytes,")?;
    writeln!(
        w,
        "        None => panic!(\"a record of {floats} floats overflows a flash slot\"),"
    )?;
    writeln!(w, "    }}")?;
    writeln!(w, "}}")?;
    Ok(())
}

/// The model's capabilities and `check_features`, which fails the build of a firmware whose
/// runtime lacks a feature the model needs (it would be refused at boot with
/// `Error::FeatureDisabled`).
fn feature_check(w: &mut String, m: &Model<'_>) -> Result<()> {
    let caps = m.capabilities();
    let names: Vec<&str> = caps.names().collect();
    // The capabilities a runtime build may lack: those behind a cargo feature of the same name.
    let features: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| {
            !runtime::format::Capabilities::ALWAYS
                .names()
                .any(|a| a == *n)
        })
        .collect();
    writeln!(
        w,
        "/// What the model needs of the runtime (`Model::capabilities`): {}.",
        names.join(", ")
    )?;
    writeln!(
        w,
        "pub const MODEL_CAPABILITIES: fewshot_runtime::format::Capabilities =\n    fewshot_runtime::format::Capabilities({:#x});",
        caps.0
    )?;
    writeln!(
        w,
        "/// Fails the build unless this build of the runtime runs every op of the model: write"
    )?;
    writeln!(
        w,
        "/// `const _: () = sizes::check_features();` where the firmware serves it."
    )?;
    writeln!(w, "pub const fn check_features() {{")?;
    writeln!(
        w,
        "    if !fewshot_runtime::format::Capabilities::ENABLED.contains(MODEL_CAPABILITIES) {{"
    )?;
    let how = match features.is_empty() {
        true => "this runtime is older than the model".to_string(),
        false => format!(
            "build with the runtime features {0} (fewshot-runtime's features of those names in your Cargo.toml, or `--features {0}` where the firmware forwards them, as the project's firmware and template do)",
            features.join(",")
        ),
    };
    writeln!(
        w,
        "        panic!(\"the model needs runtime features this build lacks: {how}\");"
    )?;
    writeln!(w, "    }}")?;
    writeln!(w, "}}")?;
    Ok(())
}

/// The `ClassBank` part of [`rust_sizes`] (an enrollable head): enrollment without inner
/// steps (the default, see trainer/README.md), whose scratch does not grow with the samples.
fn bank_sizes(w: &mut String, m: &Model<'_>, head: usize, k: usize) -> Result<()> {
    type Bank<'m> = runtime::ClassBank<'m, 1, 1>;
    let e = |e: runtime::Error| anyhow!("{e}");
    let max = m.enrollable(head).map_or(0, |e| e.max_classes);
    let bank = Bank::bank_len(m, head).map_err(e)?;
    let scratch = Bank::scratch_len(m, head, k.max(1), 0).map_err(e)?;
    writeln!(
        w,
        "/// Most classes the device holds in the head (its class bank)."
    )?;
    writeln!(w, "pub const MAX_CLASSES: usize = {max};")?;
    writeln!(
        w,
        "/// Floats of the class bank: MAX_CLASSES x (label, flag, samples, scatter, {} weights, bias).",
        m.feature_len()
    )?;
    writeln!(w, "pub const BANK: usize = {bank};")?;
    writeln!(
        w,
        "/// Scratch floats of the class bank: classify, and enroll from any number of samples without inner steps (`enroll_steps` needs `ClassBank::scratch_len`)."
    )?;
    writeln!(w, "pub const BANK_SCRATCH: usize = {scratch};")?;
    writeln!(
        w,
        "/// RAM of the class bank: {} bytes of floats, and a few dozen bytes of its own fields\n/// (`core::mem::size_of::<ClassBank>()` gives the whole).",
        4 * (bank + scratch)
    )?;
    writeln!(
        w,
        "pub type ClassBank<'m> = fewshot_runtime::ClassBank<'m, BANK, BANK_SCRATCH>;"
    )?;
    slot_fn(w, "bank_slot", "BANK", "the class bank")
}

/// One frozen stem layer (format v4): its kind, input and output maps, parameters and MACs;
/// for the int8 stem's layers, their maps' scales and zero points and their weights' scales.
fn write_stem_layer(
    w: &mut impl Write,
    m: &Model<'_>,
    i: usize,
    l: &runtime::format::StemLayer,
) -> Result<()> {
    use runtime::format::StemLayer;
    use runtime::ops::layer::{LayerOp, Stem};
    let kind = match l {
        StemLayer::Conv(_) => "conv",
        StemLayer::Depthwise(_) => "depthwise conv",
        StemLayer::MaxPool(_) => "max pool",
        StemLayer::AvgPool(_) => "avg pool",
        StemLayer::GlobalAvgPool(_) => "global avg pool",
        StemLayer::Quantise(_) => "quantise",
        StemLayer::Dequantise(_) => "dequantise",
        StemLayer::Int8Conv(c) if c.depthwise => "int8 depthwise conv",
        StemLayer::Int8Conv(_) => "int8 conv",
        StemLayer::Int8Dense(_) => "int8 dense",
        StemLayer::Int8MaxPool(_) => "int8 max pool",
        StemLayer::Int8AvgPool(_) => "int8 avg pool",
    };
    let map = |m: runtime::format::Map| format!("{}x{}x{}", m.channels, m.height, m.width);
    let Ok(op) = Stem::of(l) else {
        return Ok(writeln!(
            w,
            "stem[{i}]    {kind} (this build has no `conv` or no `int8`)"
        )?);
    };
    let out = op.output_map().map_or_else(|| "?".into(), map);
    let input = op
        .input_map()
        .map_or_else(|| format!("{} (flat)", op.inputs()), map);
    writeln!(
        w,
        "stem[{i}]    {kind} {input} -> {out} ({} {}, {} MACs)",
        op.param_count(),
        if l.is_int8() { "words" } else { "params" },
        op.macs()
    )?;
    let q = |p: runtime::format::spec::Int8Params| {
        format!("scale {:e} zero point {}", p.scale, p.zero_point)
    };
    match l {
        StemLayer::Quantise(b) => writeln!(w, "  int8     output {}", q(b.params))?,
        StemLayer::Dequantise(b) => writeln!(w, "  int8     input {}", q(b.params))?,
        StemLayer::Int8Conv(runtime::format::spec::Int8ConvSpec { input, output, .. })
        | StemLayer::Int8Dense(runtime::format::spec::Int8DenseSpec { input, output, .. }) => {
            writeln!(w, "  int8     input {}, output {}", q(*input), q(*output))?;
            let t = int8_tensor(m, l)?;
            let (lo, hi) = t
                .scale
                .iter()
                .fold((f32::INFINITY, 0.0f32), |(lo, hi), &s| {
                    (lo.min(s), hi.max(s))
                });
            writeln!(
                w,
                "  weights  {} int8, per-channel scale {lo:e} to {hi:e} over {} channels",
                t.weights.len(),
                t.scale.len()
            )?;
        }
        _ => {}
    }
    Ok(())
}

/// The int8 tensor of an int8 convolution or dense layer of `m`.
fn int8_tensor<'a>(
    m: &Model<'a>,
    l: &runtime::format::StemLayer,
) -> Result<runtime::format::int8::Int8Tensor<'a>> {
    use runtime::format::StemLayer;
    use runtime::ops::layer::LayerOp;
    let (words, _) = m.stem_params(l).map_err(|e| anyhow!("{e}"))?;
    let (channels, weights) = match l {
        StemLayer::Int8Conv(c) => {
            let f32_conv = runtime::ops::layer::Conv::of(&c.conv, c.depthwise);
            (usize::from(c.conv.channels), f32_conv.weight_count())
        }
        StemLayer::Int8Dense(d) => (
            usize::from(d.outputs),
            usize::from(d.inputs) * usize::from(d.outputs),
        ),
        _ => bail!("stem layer {l:?} has no int8 tensor"),
    };
    runtime::format::int8::Int8Tensor::of(words, channels, weights).map_err(|e| anyhow!("{e}"))
}

/// The flash of the int8 stem's tensors against the f32 layers they replace (weights and
/// biases as f32), in bytes; `None` without int8 layers.
pub fn int8_flash(m: &Model<'_>) -> Result<Option<(usize, usize)>> {
    let mut found = None;
    for l in m
        .stem()
        .iter()
        .filter(|l| l.offset().is_some() && l.is_int8())
    {
        let t = int8_tensor(m, l)?;
        let (int8, f32) = found.get_or_insert((0, 0));
        *int8 += 4 * (4 * t.scale.len() + t.weights.len().div_ceil(4));
        *f32 += 4 * (t.weights.len() + t.bias.len());
    }
    Ok(found)
}
