//! Where the inner loop keeps what it needs, and how much RAM that is.

use crate::format::layout::AdaptedRange;
use crate::format::spec::MAX_CHAIN;
use crate::format::Model;
use crate::Error;

/// The scratch layout of one adaptation: activations of the adapted layers for all K samples
/// (sample-major: `[k][feature]`), then the backpropagation block (`8 K` floats, when more than
/// one layer adapts), then the ping-pong buffers of the frozen prefix (stem and frozen trunk layers), then (implicit steps
/// only) the solver's `K x K` system, `K x outputs` accumulated solutions and a `K` vector.
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    pub k: usize,
    pub chain_len: usize,
    /// Start of each activation region: the input of the first adapted layer, then the output
    /// of each adapted layer; the last entry is the end.
    pub starts: heapless::Vec<usize, { MAX_CHAIN + 2 }>,
    /// Floats of the backpropagation block: the deltas of 8 input columns for every sample.
    pub block: usize,
    /// Width of each frozen-prefix ping-pong buffer (0 when the first layer adapts).
    pub prefix_width: usize,
    /// Floats of the implicit step's solver (0 for explicit steps).
    pub solve: usize,
    /// Floats of scratch in all (checked sum of the parts).
    total: usize,
}

fn too_big(what: &'static str) -> Error {
    Error::Capacity {
        what,
        needed: usize::MAX,
        available: usize::MAX,
    }
}

impl Geometry {
    pub fn new(
        model: &Model<'_>,
        head: usize,
        range: &AdaptedRange,
        k: usize,
    ) -> Result<Self, Error> {
        let first_layer = model.chain_layer(head, range.first)?;
        let mut starts = heapless::Vec::new();
        let mut at = 0usize;
        let mut push = |at: usize| starts.push(at).map_err(|_| too_big("chain"));
        push(at)?;
        at = k
            .checked_mul(usize::from(first_layer.inputs))
            .ok_or(too_big("support set"))?;
        push(at)?;
        for i in range.first..range.chain_len {
            let out = usize::from(model.chain_layer(head, i)?.outputs);
            at = k
                .checked_mul(out)
                .and_then(|n| n.checked_add(at))
                .ok_or(too_big("support set"))?;
            push(at)?;
        }
        let mut prefix_width = 0;
        if range.first > 0 || !model.stem().is_empty() {
            // The normalised input and the stem's maps, then the frozen trunk layers.
            prefix_width = model.stem_width();
            for i in 0..range.first {
                prefix_width = prefix_width.max(usize::from(model.chain_layer(head, i)?.outputs));
            }
        }
        let block = if range.layers() > 1 {
            k.checked_mul(8).ok_or(too_big("support set"))?
        } else {
            0
        };
        let outputs = usize::from(
            model
                .chain_layer(head, range.chain_len.saturating_sub(1))?
                .outputs,
        );
        let solve = model
            .adapt_spec(head)?
            .rate
            .solve_len(k, outputs)
            .ok_or(too_big("support set"))?;
        let total = prefix_width
            .checked_mul(2)
            .and_then(|p| p.checked_add(block))
            .and_then(|p| p.checked_add(solve))
            .and_then(|p| p.checked_add(at))
            .ok_or(too_big("support set"))?;
        Ok(Geometry {
            k,
            chain_len: range.chain_len,
            starts,
            block,
            prefix_width,
            solve,
            total,
        })
    }

    /// Floats of activations (the lower bound's activation part).
    pub fn activations(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    /// Floats of scratch in all.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// The RAM an adaptation or an inference needs, in f32 (multiply by 4 for bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RamNeeds {
    /// The adapted parameters ([`AdaptState`](crate::AdaptState) capacity).
    pub state: usize,
    /// Scratch for [`AdaptState::adapt`](crate::AdaptState::adapt) with K shots.
    pub adapt_scratch: usize,
    /// Of which activations that backpropagation needs.
    pub activations: usize,
    /// Scratch for inference.
    pub infer_scratch: usize,
}

impl RamNeeds {
    /// The lower bound: adapted parameters plus the activations backpropagation needs.
    pub fn lower_bound(&self) -> usize {
        self.state + self.activations
    }
    /// What adaptation takes: state plus scratch.
    pub fn adapt_total(&self) -> usize {
        self.state + self.adapt_scratch
    }
    /// Bytes for state plus the larger scratch (adaptation and inference share it).
    pub fn total_bytes(&self) -> usize {
        4 * (self.state + self.adapt_scratch.max(self.infer_scratch))
    }
}

/// What a firmware provides: the capacities a model must fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Capacities {
    /// Floats in the adapted state (`AdaptState<P>`: `P`).
    pub state: usize,
    /// Floats of scratch.
    pub scratch: usize,
    /// Shots the firmware adapts on (K).
    pub shots: usize,
}

impl<'a> Model<'a> {
    /// The RAM that adapting head `head` on `k` shots, and inference, need; known before
    /// running anything.
    pub fn ram_needs(&self, head: usize, k: usize) -> Result<RamNeeds, Error> {
        let range = self.adapted_range(head)?;
        let geo = Geometry::new(self, head, &range, k)?;
        Ok(RamNeeds {
            state: self.adapted_param_count(head)?,
            adapt_scratch: geo.total(),
            activations: geo.activations(),
            infer_scratch: self.infer_scratch_len(),
        })
    }

    /// Checks that every head fits `caps`; the error says what is too small.
    pub fn check_fits(&self, caps: &Capacities) -> Result<(), Error> {
        let infer = self.infer_scratch_len();
        if infer > caps.scratch {
            return Err(Error::Capacity {
                what: "scratch (inference)",
                needed: infer,
                available: caps.scratch,
            });
        }
        for (h, head) in self.heads().iter().enumerate() {
            if head.adapt.is_none() {
                continue;
            }
            let needs = self.ram_needs(h, caps.shots)?;
            if needs.state > caps.state {
                return Err(Error::Capacity {
                    what: "adapted state",
                    needed: needs.state,
                    available: caps.state,
                });
            }
            if needs.adapt_scratch > caps.scratch {
                return Err(Error::Capacity {
                    what: "scratch (adaptation)",
                    needed: needs.adapt_scratch,
                    available: caps.scratch,
                });
            }
        }
        Ok(())
    }

    /// [`Model::from_bytes`], then [`Model::check_fits`]: refuses at load a model that does not
    /// fit the firmware's capacities.
    pub fn from_bytes_with(bytes: &'a [u8], caps: &Capacities) -> Result<Self, Error> {
        let model = Model::from_bytes(bytes)?;
        model.check_fits(caps)?;
        Ok(model)
    }
}
