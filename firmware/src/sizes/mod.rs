//! The sizes of the models the demo runs, as `trainer inspect MODEL --rust` prints them (a
//! trainer test checks that they are current): the firmware writes no size constant by hand.

pub mod digits_enroll;
/// The keyword model's (its front-end's type needs the feature `audio-frontend`).
#[cfg(feature = "audio-frontend")]
pub mod keyword;
/// The trainer's f32 keyword model's (the benchmark's f32 trunk row).
#[cfg(feature = "audio-frontend")]
pub mod keyword_f32;
pub mod sinusoid;
pub mod sinusoid_proximal;

// Each module is for its fixture: one regenerated for another model fails the build.
const _: () = digits_enroll::check_model(crate::fixtures::DIGITS_ENROLL);
#[cfg(all(feature = "audio-frontend", feature = "conv", feature = "int8"))]
const _: () = keyword::check_model(crate::fixtures::keyword::MODEL);
#[cfg(all(feature = "audio-frontend", feature = "conv", feature = "int8"))]
const _: () = keyword_f32::check_model(crate::fixtures::keyword::F32);
const _: () = sinusoid::check_model(crate::fixtures::SINUSOID);
const _: () = sinusoid_proximal::check_model(crate::fixtures::SINUSOID_PROXIMAL);
