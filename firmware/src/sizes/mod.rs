//! The sizes of the models the demo runs, as `trainer inspect MODEL --rust` prints them (a
//! trainer test checks that they are current): the firmware writes no size constant by hand.

pub mod digits_enroll;
pub mod sinusoid;
pub mod sinusoid_proximal;
