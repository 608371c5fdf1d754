//! One name for the Cortex-M4F kernels' condition: `cfg(m4f_kernels)` holds on bare-metal ARM
//! with hardware float (`thumbv7em-none-eabihf`), where `math::arm` and `math::arm_block` are
//! compiled and selected (see the `math` module's documentation), unless the `portable-kernels`
//! feature asks for the portable code there too (smaller, slower, the same results).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-check-cfg=cfg(m4f_kernels)");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_ARCH") == "arm"
        && var("CARGO_CFG_TARGET_ABI") == "eabihf"
        && var("CARGO_CFG_TARGET_OS") == "none"
        && std::env::var_os("CARGO_FEATURE_PORTABLE_KERNELS").is_none()
    {
        println!("cargo:rustc-cfg=m4f_kernels");
    }
}
