//! The device side: [`Device`] answers each [`Request`] from one head's [`Learner`], a support
//! buffer ([`SupportSet`]), the head's class bank ([`BankState`]) when it is enrollable, and a flash holding
//! the saved state and bank ([`Slots`]) and the signed model slots ([`ModelSlots`]);
//! [`Session`] turns received bytes into reply frames, and [`Session::serve`] runs that loop
//! over a firmware's UART ([`Port`]).
//!
//! Nothing here panics on what the host sends: every request is checked by the runtime (input
//! widths, finite values, labels, capacities) and a refusal is a [`Reply::Error`]. A model
//! update is written only through [`ModelSlots`], which accepts the new slot only after the
//! whole envelope verified, so no request sequence leaves a half-written model active.
//!
//! ```
//! use fewshot_protocol::device::{Device, Layout, RamFlash, Session};
//! use fewshot_protocol::{frame, Reply, Request, MAX_FRAME};
//! use fewshot_runtime::signature::SigningKey;
//! use fewshot_runtime::writer::{AdaptDef, Dense, HeadDef, ModelDef, RateDef};
//! use fewshot_runtime::{Activation, AdaptScope, Model};
//!
//! let head = HeadDef::regression(0, "y", vec![Dense::new(2, 1, Activation::Identity, vec![0.0; 2], vec![0.0])])
//!     .with_adapt(AdaptDef::new(AdaptScope::HeadOnly, 5, RateDef::Scalar(0.1), 10.0));
//! let blob = ModelDef::new("line", 2).head(head).to_aligned_bytes().unwrap();
//! let model = Model::from_bytes(&blob).unwrap();
//! let key = SigningKey::from_seed([1; 32]).public_key();
//! // 3 adapted parameters, 64 floats of scratch, 6 losses; 4 samples of 2 inputs, 1 target.
//! let mut device: Device<'_, RamFlash<32768>, 3, 64, 6, 4, 2, 1> =
//!     Device::new(&model, 0, RamFlash::new(), &Layout::SMALL, key).unwrap();
//!
//! let mut buf = [0u8; MAX_FRAME];
//! let request = frame::encode(&Request::Info, &mut buf).unwrap().to_vec();
//! let mut session = Session::new();
//! let mut reply = None;
//! for &b in &request {
//!     if let Some(answer) = session.feed(&mut device, b) {
//!         reply = Some(frame::decode::<Reply>(&mut answer.frame.to_vec()).unwrap());
//!     }
//! }
//! assert!(matches!(reply, Some(Reply::Info(info)) if info.input_len == 2 && info.max_samples == 4));
//! ```

mod bank;
mod error;
mod layout;
mod port;
mod ram;
mod session;
mod window;

pub use error::runtime_error;
pub use layout::{Layout, Records};
pub use port::Port;
pub use ram::RamFlash;
pub use session::{Answer, Handler, Session};
pub use window::Window;

use crate::{BankInfo, DeviceError, HeadInfo, HeadKind, Info, InputAction, Installed, Reply};
use crate::{Request, Target};
use crate::{MAX_CLASSES, MAX_HEADS, MAX_NAME, MAX_OUTPUTS, PROTOCOL_VERSION};
use bank::Bank;
use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;
use fewshot_runtime::enroll::BankState;
use fewshot_runtime::in_place::by_value;
use fewshot_runtime::persist::Slots;
use fewshot_runtime::signature::PublicKey;
use fewshot_runtime::update::{MappedFlash, ModelSlots, Update};
use fewshot_runtime::{Error, Learner, Model, SupportSet};
use heapless::{String, Vec};

/// One adaptable head of a model served over the protocol: its [`Learner`] (`P` adapted
/// parameters, `S` scratch floats, `LOG` losses: the sizes `trainer inspect --rust` writes), a
/// support buffer of `K` samples of `D` inputs (`T` regression targets each) and the flash `F`.
/// When the head is enrollable (exported with a max class count) the device also holds its
/// class bank ([`BankState`]) of `B` floats (`BANK` of `trainer inspect --rust --device`),
/// started from the head's exported classes as labels `0..N` (but rows of zeros), which works in the learner's
/// scratch (`S` then covers the bank's scratch too: `--device` sizes it so); for other heads
/// `B` is unused (0 by default). An input wider than a request carries
/// is staged into a buffer of `D` floats ([`Request::StageInput`]).
pub struct Device<
    'm,
    F,
    const P: usize,
    const S: usize,
    const LOG: usize,
    const K: usize,
    const D: usize,
    const T: usize,
    const B: usize = 0,
> {
    model: &'m Model<'m>,
    learner: Learner<'m, P, S, LOG>,
    bank: Bank<'m, B>,
    samples: SupportSet<K, D, T>,
    /// The input [`Request::StageInput`] writes and [`Request::WithStaged`] reads.
    staged: Vec<f32, D>,
    flash: F,
    state: Slots,
    models: ModelSlots,
    /// Where the records are: an update's model must fit its slots.
    layout: Layout,
    update: Option<Update>,
    /// The model slots' active update as `Info` reports it, once looked up (a look-up verifies
    /// the slots' signatures: millions of instructions on a Cortex-M); set by `UpdateFinish`,
    /// forgotten by `UpdateBegin` (the requests that change the slots).
    installed: Option<Option<Installed>>,
    /// An update was accepted since this boot (it runs from the next one).
    accepted: bool,
}

impl<
        'm,
        F: MappedFlash,
        const P: usize,
        const S: usize,
        const LOG: usize,
        const K: usize,
        const D: usize,
        const T: usize,
        const B: usize,
    > Device<'m, F, P, S, LOG, K, D, T, B>
{
    /// The device for head `head` of `model` at its meta-learned start, with an empty buffer,
    /// keeping its state and model updates on `flash` as `layout` says; updates must be signed
    /// with the key of `key`. Refuses sizes made for another model ([`Error::Capacity`]), and
    /// for an enrollable head a bank of `B` or a scratch `S` too small for it
    /// ([`Error::Capacity`]) or a flash
    /// without room for the bank's slots at `layout.bank_at` ([`Error::FlashLayout`]), and an
    /// adapted state or a bank whose record does not fit `layout.state_slot` or
    /// `layout.bank_slot` ([`Error::Capacity`]: a layout made by [`Layout::fitting`] for the
    /// model's records, or fewer classes).
    ///
    /// The device is large (its support buffer, learner and bank: `trainer inspect --rust
    /// --device` prints the bytes): a firmware builds it in place in a `static` with
    /// [`Device::init`] (the `serial` firmware does so), where the linker checks that it fits
    /// the RAM; a value returned from `new` is on the stack, and moving it copies it.
    pub fn new(
        model: &'m Model<'m>,
        head: usize,
        flash: F,
        layout: &Layout,
        key: PublicKey,
    ) -> Result<Self, Error> {
        // SAFETY: `init` initialises every field of the slot when it returns Ok.
        unsafe { by_value(|slot| Self::init(slot, model, head, flash, layout, key)) }
    }

    /// [`Device::new`] built in `slot` (a `static`, say): the learner, the class bank and the
    /// support buffer are written where they stay, never on the stack. On error `slot` is to
    /// be taken as uninitialised (and `flash` is dropped).
    pub fn init<'s>(
        slot: &'s mut MaybeUninit<Self>,
        model: &'m Model<'m>,
        head: usize,
        flash: F,
        layout: &Layout,
        key: PublicKey,
    ) -> Result<&'s mut Self, Error> {
        Self::check_fits(model, head, layout)?;
        let targets = match model.head(head)?.kind {
            fewshot_runtime::HeadKind::Regression { outputs } => usize::from(outputs),
            _ => 1,
        };
        let state = Slots::new(&flash, layout.state_at, layout.state_slot)?;
        let bank_slots = match model.enrollable(head) {
            Some(_) => Some(Slots::new(&flash, layout.bank_at, layout.bank_slot)?),
            None => None,
        };
        let models = layout.model_slots(&flash, key)?;
        let p = slot.as_mut_ptr();
        // SAFETY: `p` is valid for writes of a `Self` (it is `slot`'s); `learner` is viewed as
        // the `MaybeUninit` of its own type (same layout); each field is written once (the
        // fallible ones first, and the flash last: on error nothing written needs dropping), and
        // after the last write every field is initialised.
        unsafe {
            let learner = addr_of_mut!((*p).learner).cast::<MaybeUninit<Learner<'m, P, S, LOG>>>();
            Learner::init(&mut *learner, model, head)?;
            match bank_slots {
                Some(slots) => Bank::init(addr_of_mut!((*p).bank), model, head, slots)?,
                None => Bank::write_none(addr_of_mut!((*p).bank)),
            }
            addr_of_mut!((*p).model).write(model);
            addr_of_mut!((*p).samples).write(SupportSet::new());
            // The model's widths in the room of `D` and `T` (`check_sizes` compared them).
            (*p).samples.set_widths(model.input_len(), targets)?;
            addr_of_mut!((*p).staged).write(Vec::new());
            addr_of_mut!((*p).state).write(state);
            addr_of_mut!((*p).models).write(models);
            addr_of_mut!((*p).layout).write(*layout);
            addr_of_mut!((*p).update).write(None);
            addr_of_mut!((*p).installed).write(None);
            addr_of_mut!((*p).accepted).write(false);
            addr_of_mut!((*p).flash).write(flash);
            Ok(slot.assume_init_mut())
        }
    }

    /// What [`Device::new`] checks of the model before it takes the flash: these sizes serve
    /// head `head` of `model`. A firmware asks it of an installed update before it hands the
    /// flash over, and runs its built-in model when the update does not fit.
    pub fn check_sizes(model: &Model<'_>, head: usize) -> Result<(), Error> {
        Learner::<P, S, LOG>::check_sizes(model, head)?;
        Error::check_capacity("support input width (D)", model.input_len(), D)?;
        let outputs = model.head(head)?.kind.outputs();
        Error::check_capacity("protocol outputs (MAX_OUTPUTS)", outputs, MAX_OUTPUTS)?;
        if matches!(
            model.head(head)?.kind,
            fewshot_runtime::HeadKind::Regression { .. }
        ) {
            Error::check_capacity("support targets (T)", outputs, T)?;
        }
        match model.enrollable(head) {
            Some(_) => {
                BankState::<B>::check_sizes(model, head)?;
                // The bank works in the learner's scratch (`Learner::scratch_mut`).
                let needed = BankState::<B>::scratch_len(model, head, K, 0)?;
                Error::check_capacity("learner scratch (S), lent to the class bank", needed, S)
            }
            None => Ok(()),
        }
    }

    /// [`Device::check_sizes`], and the head's records (its adapted state, its class bank)
    /// fit `layout`'s slots: what a model must pass to be served, at boot and when an update
    /// is accepted (a record too large for its slot would be refused only at the first save).
    fn check_fits(model: &Model<'_>, head: usize, layout: &Layout) -> Result<(), Error> {
        Self::check_sizes(model, head)?;
        let record = |what, floats, slot: u32| {
            let needed = Slots::record_len::<F>(floats).unwrap_or(usize::MAX);
            Error::check_capacity(what, needed, slot as usize)
        };
        record(
            "adapted state's record (Layout::state_slot)",
            model.adapted_param_count(head)?,
            layout.state_slot,
        )?;
        if model.enrollable(head).is_some() {
            record(
                "class bank's record (Layout::bank_slot)",
                BankState::<B>::bank_len(model, head)?,
                layout.bank_slot,
            )?;
        }
        Ok(())
    }

    /// At boot: the signed update installed in `layout`'s model slots on `flash`, read in place
    /// ([`Layout::installed_model`]), when it also fits these sizes for head `head`
    /// ([`Device::check_sizes`]) and its records fit `layout`'s slots. Ok(None) when none is
    /// installed; an error when the installed one is refused (sizes made for another model):
    /// either way the firmware serves its built-in model.
    ///
    /// # Safety
    /// As [`Layout::installed_model`]: `flash.mapped()` stays readable where it is for the rest
    /// of the program, and the model is served by the [`Device`] this `flash` is then given to
    /// (the only writer of its model slots).
    pub unsafe fn installed(
        flash: &mut F,
        layout: &Layout,
        key: PublicKey,
        head: usize,
    ) -> Result<Option<Model<'static>>, Error> {
        // SAFETY: the caller's contract.
        let model = match unsafe { layout.installed_model(flash, key) } {
            Err(Error::NoValidModel) => return Ok(None),
            other => other?,
        };
        Self::check_fits(&model, head, layout)?;
        Ok(Some(model))
    }

    /// The flash (to inspect it; the device is its only writer).
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// At boot: restores what was saved for the served model, the adapted state and the class
    /// bank. Both replies: `Restored`, or the refusal (`NoSavedState` when nothing was saved,
    /// `SavedStateMismatch` for another model's record, [`DeviceError::NoBank`] for a head
    /// that is not enrollable); [`restore_outcome`] says which in a word, for a boot log.
    pub fn restore_saved(&mut self) -> (Reply, Reply) {
        (
            self.handle(&Request::Restore),
            self.handle(&Request::RestoreBank),
        )
    }

    /// The reply to `request`.
    pub fn handle(&mut self, request: &Request) -> Reply {
        self.serve(request)
            .unwrap_or_else(|e| Reply::Error(DeviceError::Runtime(runtime_error(&e))))
    }

    fn serve(&mut self, request: &Request) -> Result<Reply, Error> {
        Ok(match request {
            Request::Info => Reply::Info(self.info()?),
            Request::PushSample { target, x } => {
                let push = InputAction::Push {
                    target: target.clone(),
                };
                self.serve_input(&push, Some(x))?
            }
            Request::ClearSamples => {
                self.samples.clear();
                self.samples_reply()
            }
            Request::Adapt { steps } => {
                let r = self
                    .learner
                    .adapt_steps(self.samples.as_support(), *steps)?;
                Reply::Adapted {
                    steps: r.steps,
                    initial_loss: r.initial_loss,
                    final_loss: r.final_loss,
                }
            }
            Request::Infer { x } => self.serve_input(&InputAction::Infer, Some(x))?,
            Request::Classify { x } => self.serve_input(&InputAction::Classify, Some(x))?,
            Request::ClassifyEnrolled { x } => {
                self.serve_input(&InputAction::ClassifyEnrolled, Some(x))?
            }
            Request::StageInput { offset, values } => self.stage(*offset, values),
            Request::WithStaged(action) => self.serve_input(action, None)?,
            Request::Save => {
                let r = self
                    .state
                    .save(&mut self.flash, self.model, self.learner.state())?;
                Reply::Saved {
                    sequence: r.sequence,
                    slot: r.slot,
                }
            }
            Request::Restore => {
                let r = self.learner.restore(&self.state, &mut self.flash)?;
                Reply::Restored {
                    sequence: r.sequence,
                    slot: r.slot,
                }
            }
            Request::Reset => {
                self.learner.reset()?;
                Reply::Done
            }
            Request::UpdateBegin { .. } | Request::UpdateChunk { .. } | Request::UpdateFinish => {
                self.serve_update(request)?
            }
            Request::Reboot => Reply::Done,
            Request::Enroll { .. }
            | Request::Forget { .. }
            | Request::Relabel { .. }
            | Request::SaveBank
            | Request::RestoreBank
            | Request::SetMargin { .. } => self.serve_bank(request)?,
        })
    }

    /// The class bank requests; [`DeviceError::NoBank`] when the head is not enrollable.
    fn serve_bank(&mut self, request: &Request) -> Result<Reply, Error> {
        let Some((bank, slots)) = self.bank.get_mut() else {
            return Ok(Reply::Error(DeviceError::NoBank));
        };
        match request {
            Request::Enroll { label } => {
                // Every buffered input, whatever its target; the bank checks the count.
                let scratch = self.learner.scratch_mut();
                bank.enroll(*label, self.samples.as_support().inputs, scratch)?;
                self.samples.clear();
            }
            Request::Forget { label } => bank.forget(*label)?,
            Request::Relabel { old, new } => bank.relabel(*old, *new)?,
            Request::SetMargin { margin } => bank.set_margin(*margin)?,
            Request::SaveBank => {
                let r = slots.save_bank(&mut self.flash, bank)?;
                return Ok(Reply::Saved {
                    sequence: r.sequence,
                    slot: r.slot,
                });
            }
            _ => {
                let r = slots.restore_bank(&mut self.flash, bank)?;
                return Ok(Reply::Restored {
                    sequence: r.sequence,
                    slot: r.slot,
                });
            }
        }
        Ok(Reply::Bank {
            classes: count(bank.len()),
            capacity: count(bank.capacity()),
        })
    }

    /// The model update requests: one update at a time; a refused chunk leaves it open (send
    /// again from where it stands), a refused finish or a new begin ends it.
    fn serve_update(&mut self, request: &Request) -> Result<Reply, Error> {
        match request {
            Request::UpdateBegin { total_len } => {
                self.update = None;
                // The model may be served in place from a model slot (`Device::installed`).
                let served = self.model.bytes();
                let u = self
                    .models
                    .begin_keeping(&mut self.flash, *total_len, served)?;
                let slot = u.slot();
                self.update = Some(u);
                // `begin` erased a slot and may have raised the floor: look up again when asked.
                self.installed = None;
                Ok(Reply::UpdateStarted { slot })
            }
            Request::UpdateChunk { offset, bytes } => {
                let Some(u) = self.update.as_mut() else {
                    return Ok(Reply::Error(DeviceError::NoUpdate));
                };
                self.models
                    .write_chunk(&mut self.flash, u, *offset, bytes)?;
                Ok(Reply::UpdateProgress {
                    written: u.written(),
                })
            }
            _ => {
                let Some(u) = self.update.take() else {
                    return Ok(Reply::Error(DeviceError::NoUpdate));
                };
                // A model this device cannot serve is refused now, not at the next boot.
                let (head, layout) = (self.learner.head(), self.layout);
                let fits = |m: &Model<'_>| Self::check_fits(m, head, &layout);
                let a = self.models.finish_fitting(&mut self.flash, u, fits)?;
                self.installed = Some(Some(Installed {
                    slot: a.slot,
                    model_version: a.model_version,
                }));
                self.accepted = true;
                Ok(Reply::UpdateInstalled {
                    slot: a.slot,
                    model_version: a.model_version,
                })
            }
        }
    }

    /// `action` with `inline`, or with the staged input when `None`.
    fn serve_input(
        &mut self,
        action: &InputAction,
        inline: Option<&[f32]>,
    ) -> Result<Reply, Error> {
        let width = self.model.input_len();
        let x = match inline {
            Some(x) => x,
            None if self.staged.len() == width => &self.staged,
            None => {
                return Ok(Reply::Error(DeviceError::InputIncomplete {
                    staged: count(self.staged.len()),
                    width: count(width),
                }))
            }
        };
        Ok(match action {
            InputAction::Push { target } => {
                match target {
                    Target::Class(c) => {
                        // Refused here, not at the next `Adapt` (which it would block).
                        let head = self.model.head(self.learner.head())?;
                        if let Some(classes) = head.kind.classes().filter(|n| c >= n) {
                            return Err(Error::LabelOutOfRange {
                                sample: self.samples.len(),
                                label: *c,
                                classes,
                            });
                        }
                        self.samples.push_labelled(x, *c)?
                    }
                    Target::Values(v) => self.samples.push_valued(x, v)?,
                }
                self.samples_reply()
            }
            InputAction::Infer => {
                let mut out = Vec::<f32, MAX_OUTPUTS>::new();
                // `new` checked that the outputs fit.
                out.resize(self.learner.output_len()?, 0.0)
                    .map_err(|_| Error::Internal {
                        at: "device::infer",
                    })?;
                self.learner.predict(finite(x)?, &mut out)?;
                Reply::Outputs(out)
            }
            InputAction::Classify => {
                let (class, score) = self.learner.classify(finite(x)?)?;
                Reply::Class { class, score }
            }
            InputAction::ClassifyEnrolled => {
                let Some((bank, _)) = self.bank.get_mut() else {
                    return Ok(Reply::Error(DeviceError::NoBank));
                };
                let s = bank.score(finite(x)?, self.learner.scratch_mut())?;
                Reply::Enrolled {
                    class: s.label,
                    score: s.probability,
                    distance: s.distance,
                    relative_distance: s.relative_distance,
                }
            }
        })
    }

    /// Stages `values` from `offset` ([`Request::StageInput`]).
    fn stage(&mut self, offset: u16, values: &[f32]) -> Reply {
        let width = self.model.input_len();
        let staged = self.staged.len();
        if offset != 0 && usize::from(offset) != staged {
            return Reply::Error(DeviceError::InputOutOfOrder {
                offset,
                staged: count(staged),
            });
        }
        let end = usize::from(offset) + values.len();
        if end > width {
            return Reply::Error(DeviceError::InputTooWide {
                end: u32::try_from(end).unwrap_or(u32::MAX),
                width: count(width),
            });
        }
        if offset == 0 {
            self.staged.clear();
        }
        // `check_sizes`: the model's width fits D, and `end` is within it.
        if self.staged.extend_from_slice(values).is_err() {
            return Reply::Error(DeviceError::Runtime(runtime_error(&Error::Internal {
                at: "device::stage",
            })));
        }
        Reply::Staged {
            staged: count(self.staged.len()),
            width: count(width),
        }
    }

    fn samples_reply(&self) -> Reply {
        Reply::Samples {
            stored: count(self.samples.len()),
            capacity: count(K),
        }
    }

    fn info(&mut self) -> Result<Info, Error> {
        let mut heads = Vec::<HeadInfo, MAX_HEADS>::new();
        for (i, h) in self.model.heads().iter().enumerate().take(MAX_HEADS) {
            let kind = match h.kind {
                fewshot_runtime::HeadKind::Regression { .. } => HeadKind::Regression,
                fewshot_runtime::HeadKind::Classification { .. } => HeadKind::Classification,
                _ => HeadKind::Matching,
            };
            let head = HeadInfo {
                name: name(h.name),
                kind,
                outputs: count(h.kind.outputs()),
                adaptable: self.model.adapt_spec(i).is_ok(),
            };
            // At most MAX_HEADS (take above).
            let _ = heads.push(head);
        }
        let installed = match self.installed {
            Some(known) => known,
            None => {
                let found = self.models.active(&mut self.flash).ok().map(|a| Installed {
                    slot: a.slot,
                    model_version: a.model_version,
                });
                self.installed = Some(found);
                found
            }
        };
        let served_slot = self
            .models
            .served_slot(&self.flash, self.model.bytes())
            .ok()
            .flatten();
        // Installed before this boot and not served: the boot refused it.
        let installed_refused =
            !self.accepted && installed.is_some_and(|i| served_slot != Some(i.slot));
        Ok(Info {
            protocol_version: PROTOCOL_VERSION,
            model_id: self.model.model_id(),
            model_crc: self.model.crc(),
            model_name: name(self.model.name()),
            input_len: count(self.model.input_len()),
            heads,
            adapted_head: u8::try_from(self.learner.head()).unwrap_or(u8::MAX),
            max_samples: count(K),
            free_samples: count(K.saturating_sub(self.samples.len())),
            installed,
            installed_refused,
            served_slot,
            max_steps: self.learner.max_steps(),
            bank: self.bank.get().map(|b| BankInfo {
                capacity: count(b.capacity()),
                labels: b.labels().take(MAX_CLASSES).collect(),
                margin: b.margin(),
            }),
        })
    }
}

impl<
        F: MappedFlash,
        const P: usize,
        const S: usize,
        const LOG: usize,
        const K: usize,
        const D: usize,
        const T: usize,
        const B: usize,
    > Handler for Device<'_, F, P, S, LOG, K, D, T, B>
{
    fn handle(&mut self, request: &Request) -> Reply {
        Device::handle(self, request)
    }
}

/// `x` when every value is finite (inference would answer NaN otherwise).
fn finite(x: &[f32]) -> Result<&[f32], Error> {
    match x.iter().all(|v| v.is_finite()) {
        true => Ok(x),
        false => Err(Error::NonFinite {
            what: "input",
            sample: 0,
        }),
    }
}

fn count(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// `s` cut to [`MAX_NAME`] bytes at a character boundary.
fn name(s: &str) -> String<MAX_NAME> {
    let mut out = String::new();
    for c in s.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

/// What a restore at boot ([`Device::restore_saved`]) found, in a few words for a boot log.
pub fn restore_outcome(reply: &Reply) -> &'static str {
    match reply {
        Reply::Restored { .. } => "restored",
        Reply::Error(DeviceError::Runtime(e)) if e.kind.as_str() == "NoSavedState" => "none",
        Reply::Error(DeviceError::NoBank) => "none (the head is not enrollable)",
        _ => "not restored (another model's, or refused)",
    }
}
