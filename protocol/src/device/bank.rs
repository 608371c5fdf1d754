//! The device's class bank and its flash slots, kept so that the bank can be built in place
//! ([`fewshot_runtime::enroll::BankState::init`]) inside a device that is itself built in place
//! (an `Option` holding the bank could only be written whole, from a copy on the stack).

use core::mem::MaybeUninit;
use fewshot_runtime::enroll::BankState;
use fewshot_runtime::persist::Slots;

/// An enrollable head's bank (without scratch: the device lends it the learner's) and slots, or nothing for other heads. Invariant: `slots` is
/// `Some` exactly when `bank` is initialised.
pub(super) struct Bank<'m, const B: usize> {
    slots: Option<Slots>,
    bank: MaybeUninit<BankState<'m, B>>,
}

impl<'m, const B: usize> Bank<'m, B> {
    /// Makes `this` hold no bank.
    ///
    /// # Safety
    /// `this` is valid for writes of a `Bank`.
    pub(super) unsafe fn write_none(this: *mut Self) {
        // SAFETY: `this` is valid (the caller's promise); `slots` = None with `bank` left
        // uninitialised keeps the invariant.
        unsafe { core::ptr::addr_of_mut!((*this).slots).write(None) }
    }

    /// Builds the bank of head `head` of `model` in `this` with `slots`.
    ///
    /// # Safety
    /// `this` is valid for writes of a `Bank` and nothing else reaches it meanwhile.
    pub(super) unsafe fn init(
        this: *mut Self,
        model: &'m fewshot_runtime::Model<'m>,
        head: usize,
        slots: Slots,
    ) -> Result<(), fewshot_runtime::Error> {
        // SAFETY: `bank` is a `MaybeUninit` field of the caller's valid `this`; `slots` is
        // written only once the bank is, which keeps the invariant.
        unsafe {
            BankState::init(&mut *core::ptr::addr_of_mut!((*this).bank), model, head)?;
            core::ptr::addr_of_mut!((*this).slots).write(Some(slots));
        }
        Ok(())
    }

    /// The bank and its slots, when the head is enrollable.
    pub(super) fn get_mut(&mut self) -> Option<(&mut BankState<'m, B>, &Slots)> {
        let slots = self.slots.as_ref()?;
        // SAFETY: `slots` is Some, so `bank` is initialised (the invariant).
        Some((unsafe { self.bank.assume_init_mut() }, slots))
    }

    /// The bank, when the head is enrollable.
    pub(super) fn get(&self) -> Option<&BankState<'m, B>> {
        self.slots.as_ref()?;
        // SAFETY: `slots` is Some, so `bank` is initialised (the invariant).
        Some(unsafe { self.bank.assume_init_ref() })
    }
}
