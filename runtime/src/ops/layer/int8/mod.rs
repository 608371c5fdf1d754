//! The int8 stem's layers (cargo features `conv` and `int8`, format v4, capability `int8`):
//! [`Boundary`] (f32 <-> int8), [`QConv`], [`QDense`] and [`QPool`], running the kernels of
//! [`crate::math::int8`] with TFLite Micro semantics.
//!
//! They run in the stem's f32 ping-pong buffers: an int8 map of `n` values takes the first
//! `ceil(n / 4)` floats of its buffer (four values to a float), and a convolution or dense
//! layer keeps its packed-input scratch in its output buffer right after its output
//! ([`LayerOp::buffer_len`](super::LayerOp::buffer_len)), so the int8 stem needs no memory of its own.
//!
//! ```
//! use fewshot_runtime::format::spec::{Int8Boundary, Int8Params, Map, StemLayer};
//! use fewshot_runtime::ops::layer::{LayerOp, Stem};
//! let map = Map { channels: 2, height: 1, width: 5 };
//! let params = Int8Params { scale: 0.5, zero_point: -3 };
//! let q = Stem::of(&StemLayer::Quantise(Int8Boundary { map, params })).unwrap();
//! // Ten int8 values take three floats of the output buffer.
//! assert_eq!((q.inputs(), q.outputs(), q.buffer_len()), (10, 10, 3));
//! ```

mod boundary;
mod conv;
mod dense;
mod pool;

pub use boundary::Boundary;
pub use conv::QConv;
pub use dense::QDense;
pub use pool::QPool;

use crate::format::int8::Int8Tensor;
use crate::format::invalid;
use crate::format::spec::Int8Params;
use crate::math::int8::Requant;
use crate::{Activation, Error};

/// Floats that `n` int8 values take in a buffer.
pub(crate) fn words(n: usize) -> usize {
    n.div_ceil(4)
}

/// The first `n` int8 values of buffer `x`.
fn input(x: &[f32], n: usize) -> Result<&[i8], Error> {
    let bytes: &[i8] = bytemuck::cast_slice(x);
    bytes.get(..n).ok_or(Error::internal("int8 stem input"))
}

/// The first `n` int8 values of buffer `y`, and `scratch` words after them.
fn output(y: &mut [f32], n: usize, scratch: usize) -> Result<(&mut [i8], &mut [u32]), Error> {
    let bug = Error::internal("int8 stem output");
    let (out, rest) = y.split_at_mut_checked(words(n)).ok_or(bug)?;
    let out: &mut [i8] = bytemuck::cast_slice_mut(out);
    let rest: &mut [u32] = bytemuck::cast_slice_mut(rest);
    Ok((
        out.get_mut(..n).ok_or(bug)?,
        rest.get_mut(..scratch).ok_or(bug)?,
    ))
}

/// Checks a weighted layer's activation (ReLU or the identity) and its maps' parameters.
fn check_io(
    activation: Activation,
    input: Int8Params,
    output: Int8Params,
    field: &'static str,
) -> Result<(), Error> {
    if !matches!(activation, Activation::Relu | Activation::Identity) {
        return Err(invalid(field));
    }
    input.check(field)?;
    output.check(field)
}

/// The requantisation of a weighted layer: its tensor's multipliers and shifts, the output's
/// zero point, and a ReLU as the clamp at that zero point.
fn requant<'a>(t: &Int8Tensor<'a>, activation: Activation, output: Int8Params) -> Requant<'a> {
    let act_min = match activation {
        Activation::Relu => output.zero_point,
        _ => i8::MIN,
    };
    Requant {
        multiplier: t.multiplier,
        shift: t.shift,
        out_zp: i32::from(output.zero_point),
        act_min,
        act_max: i8::MAX,
    }
}
