//! Assembly-text macros shared by the Cortex-M4F kernels ([`super::arm`], `arm_conv`): a
//! function's opening and closing directives, and runs of `vmla.f32` that share a weight.

/// The directives that open a Thumb function `$name` in its own section. `.fpu` names the
/// Cortex-M4F's FPU: a `global_asm!` block is assembled with the target's base features, which
/// leave it out unless the crate is compiled with fat LTO (a plain `cargo build` of a crate
/// that depends on the runtime would refuse the `vpush` and `vldmia` below).
macro_rules! asm_fn_start {
    ($name:literal) => {
        concat!(
            ".fpu fpv4-sp-d16\n.section .text.",
            $name,
            ",\"ax\",%progbits\n.global ",
            $name,
            "\n.type ",
            $name,
            ",%function\n.thumb_func\n.p2align 2\n",
            $name,
            ":\n"
        )
    };
}
/// The directive that closes function `$name` (its size).
macro_rules! asm_fn_end {
    ($name:literal) => {
        concat!(".size ", $name, ", . - ", $name, "\n")
    };
}
/// `vmla.f32 $acc, $w, $x` for each `$acc $x` pair, in order: one weight register's terms added
/// to several accumulators (a filter tap over a block's outputs); only the convolution kernels use it.
#[cfg(feature = "conv")]
macro_rules! vmla_w {
    ($w:literal; $($acc:literal $x:literal),+ $(,)?) => {
        concat!($("    vmla.f32 ", $acc, ", ", $w, ", ", $x, "\n",)+)
    };
}
