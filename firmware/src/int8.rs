//! Shapes shared by the int8 benchmark rows and the int8 on-target test.

use fewshot_runtime::math::int8::ConvGeom;

/// A convolution's geometry: `c` input channels of `hw` rows x columns, `oc` output channels,
/// kernel `k`, stride `s`, padding `p`, depthwise when `dw`.
pub const fn conv_geom(
    c: usize,
    hw: [usize; 2],
    oc: usize,
    k: [usize; 2],
    s: usize,
    p: [usize; 2],
    dw: bool,
) -> ConvGeom {
    ConvGeom {
        in_channels: c,
        height: hw[0],
        width: hw[1],
        out_channels: oc,
        kernel: k,
        stride: s,
        padding: p,
        depthwise: dw,
    }
}
