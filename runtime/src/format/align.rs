//! 4-byte alignment for blobs: [`include_model!`](crate::include_model) for flash,
//! [`AlignedBytes`] for blobs built or read at run time on a host.

/// Forces the alignment of `Bytes` to that of `Align`; used by
/// [`include_model!`](crate::include_model).
#[repr(C)]
pub struct AlignedAs<Align, Bytes: ?Sized> {
    /// Zero-sized field that sets the alignment.
    pub _align: [Align; 0],
    /// The bytes.
    pub bytes: Bytes,
}

/// Embeds a model file in flash, 4-byte aligned, as a `&'static [u8]` ready for
/// [`Model::from_bytes`](crate::Model::from_bytes).
///
/// ```ignore
/// static MODEL: &[u8] = fewshot_runtime::include_model!("../models/sinusoid.postcard");
/// let model = fewshot_runtime::Model::from_bytes(MODEL)?;
/// ```
#[macro_export]
macro_rules! include_model {
    ($path:expr) => {{
        static ALIGNED: &$crate::format::align_as::AlignedAs<u32, [u8]> =
            &$crate::format::align_as::AlignedAs {
                _align: [],
                bytes: *include_bytes!($path),
            };
        &ALIGNED.bytes
    }};
}

/// An owned, 4-byte aligned byte buffer (host only): what the writer returns and what a host
/// reads a model file into.
#[cfg(feature = "std")]
#[derive(Clone, PartialEq, Eq)]
pub struct AlignedBytes {
    words: std::vec::Vec<u32>,
    len: usize,
}

#[cfg(feature = "std")]
impl AlignedBytes {
    /// Copies `bytes` into an aligned buffer.
    pub fn from_slice(bytes: &[u8]) -> Self {
        let mut words = std::vec![0u32; bytes.len().div_ceil(4)];
        bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        AlignedBytes {
            words,
            len: bytes.len(),
        }
    }
    /// Reads a file into an aligned buffer.
    pub fn read(path: impl AsRef<std::path::Path>) -> std::io::Result<Self> {
        std::fs::read(path).map(|b| Self::from_slice(&b))
    }
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u32, u8>(&self.words)[..self.len]
    }
    /// The bytes, mutable (tests flip bits here).
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u32, u8>(&mut self.words)[..self.len]
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Keeps the first `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

#[cfg(feature = "std")]
impl core::fmt::Debug for AlignedBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AlignedBytes({} bytes)", self.len)
    }
}

#[cfg(feature = "std")]
impl core::ops::Deref for AlignedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}
