//! Format v4's enrollable heads ([`Enrollable`]): decoding by version and validation.

use super::decode::{self, decode_struct};
use super::{invalid, Extension, HeadKind, Header, InputTransform, OutputNormalisation};
use super::{Enrollable, MAX_ENROLL_CLASSES, MAX_HEADS};
use crate::Error;
use heapless::Vec;
use serde::{Deserialize, Serialize};

/// The extension as versions 2 and 3 encode it (no enrollable heads).
#[derive(Serialize, Deserialize, Debug)]
pub(super) struct ExtensionV3 {
    input_transform: Option<InputTransform>,
    outputs: Vec<OutputNormalisation, MAX_HEADS>,
}
decode_struct!(ExtensionV3 {
    input_transform,
    outputs
});

/// Decodes the extension of a blob of format `version` (2 or later) from the front of `bytes`
/// into `ext`; returns the bytes after it.
pub(crate) fn decode<'a>(
    version: u16,
    bytes: &'a [u8],
    ext: &mut Extension,
) -> Result<&'a [u8], Error> {
    if version >= 4 {
        return decode::take_into(bytes, ext);
    }
    let (v3, rest) = decode::take::<ExtensionV3>(bytes)?;
    *ext = Extension {
        input_transform: v3.input_transform,
        outputs: v3.outputs,
        enrollable: Vec::new(),
        stem: Vec::new(),
        views: None,
        front_end: None,
    };
    Ok(rest)
}

/// Encodes `ext` as a blob of format `version` (2 or later) carries it: without the enrollable
/// heads before version 4.
#[cfg(feature = "std")]
pub(crate) fn encode(version: u16, ext: &Extension) -> Result<std::vec::Vec<u8>, Error> {
    let encoded = if version >= 4 {
        postcard::to_stdvec(ext)
    } else {
        postcard::to_stdvec(&ExtensionV3 {
            input_transform: ext.input_transform,
            outputs: ext.outputs.clone(),
        })
    };
    encoded.map_err(|_| Error::HeaderDecode)
}

/// Checks each enrollable head: in increasing head order, a classification head of one dense
/// layer (reading the trunk's features), `max_classes` from its class count to
/// [`MAX_ENROLL_CLASSES`].
pub(crate) fn validate(header: &Header<'_>, ext: &Extension) -> Result<(), Error> {
    let mut previous: Option<u8> = None;
    for e in &ext.enrollable {
        if previous.is_some_and(|p| p >= e.head) {
            return Err(invalid("enrollable.head"));
        }
        previous = Some(e.head);
        let head = header
            .heads
            .get(usize::from(e.head))
            .ok_or(invalid("enrollable.head"))?;
        let HeadKind::Classification { classes } = head.kind else {
            return Err(invalid("enrollable.head"));
        };
        if head.layers.len() != 1 {
            return Err(invalid("enrollable.head"));
        }
        if e.max_classes < classes || e.max_classes > MAX_ENROLL_CLASSES {
            return Err(invalid("enrollable.max_classes"));
        }
    }
    Ok(())
}

/// The declaration of head `head`, if it is enrollable.
pub(crate) fn of(ext: &Extension, head: usize) -> Option<Enrollable> {
    ext.enrollable
        .iter()
        .find(|e| usize::from(e.head) == head)
        .copied()
}
