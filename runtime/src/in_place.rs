//! Values built where they stay. The learner, the class bank and the protocol's device are
//! large (kilobytes of floats); each has an `init` that writes it into a caller's
//! `MaybeUninit` slot (a `static` on a device: never on the stack, and counted by the linker
//! against the RAM), and a by-value `new` that is [`by_value`] of that `init`.
//!
//! ```
//! use core::mem::MaybeUninit;
//! use fewshot_runtime::in_place::by_value;
//!
//! fn init(slot: &mut MaybeUninit<[f32; 4]>) -> Result<&mut [f32; 4], ()> {
//!     Ok(slot.write([1.0; 4]))
//! }
//! // SAFETY: `init` initialises the whole slot when it returns Ok.
//! let v = unsafe { by_value(init) };
//! assert_eq!(v, Ok([1.0; 4]));
//! ```

use core::mem::MaybeUninit;

/// Runs `init` on a slot on the stack and returns its value: the by-value constructor of a
/// type built in place.
///
/// # Safety
/// When `init` returns Ok it has initialised the whole slot.
pub unsafe fn by_value<T, E>(
    init: impl FnOnce(&mut MaybeUninit<T>) -> Result<&mut T, E>,
) -> Result<T, E> {
    let mut slot = MaybeUninit::uninit();
    init(&mut slot)?;
    // SAFETY: `init` returned Ok, so it initialised the slot (the caller's promise).
    Ok(unsafe { slot.assume_init() })
}
