//! [`Session`]: bytes from the host in, one reply frame per request frame out.

use crate::frame::{self, Frame, FrameReader};
use crate::{DeviceError, Reply, Request, MAX_FRAME};

/// What answers requests: [`super::Device`], or anything a test puts in its place.
pub trait Handler {
    /// The reply to `request`.
    fn handle(&mut self, request: &Request) -> Reply;
}

/// A reply frame to send, and whether the request asked for a reset after it.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer<'a> {
    /// The reply's frame, delimiter included.
    pub frame: &'a [u8],
    /// The request was [`Request::Reboot`]: reset once the frame is sent.
    pub reboot: bool,
}

/// The receiving end of a serial line: collects frames, decodes requests, encodes replies. A
/// damaged frame gets [`DeviceError::BadFrame`], a whole frame that is not a request of this
/// version [`DeviceError::UnknownRequest`], a frame longer than [`MAX_FRAME`]
/// [`DeviceError::FrameTooLong`], and the session goes on with the next frame. The `Info`
/// request of protocols before 7 ([`frame::LEGACY_INFO`]) gets this device's `Info` without
/// the check, so that an older host names this device's version.
pub struct Session {
    reader: FrameReader<{ MAX_FRAME - 1 }>,
    out: [u8; MAX_FRAME],
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// A session waiting for its first frame.
    pub const fn new() -> Self {
        Session {
            reader: FrameReader::new(),
            out: [0; MAX_FRAME],
        }
    }

    /// Takes one received byte; the reply to send when it ended a frame.
    pub fn feed<H: Handler>(&mut self, handler: &mut H, byte: u8) -> Option<Answer<'_>> {
        let (reply, reboot) = match self.reader.push(byte)? {
            Frame::TooLong => (too_long(), false),
            // An older host's first request: its `Info`, answered in its framing.
            Frame::Whole(f) if *f == frame::LEGACY_INFO => {
                let len = frame::encode_unchecked(&handler.handle(&Request::Info), &mut self.out)
                    .ok()?
                    .len();
                let frame = self.out.get(..len)?;
                return Some(Answer {
                    frame,
                    reboot: false,
                });
            }
            Frame::Whole(f) => {
                let len = u16::try_from(f.len()).unwrap_or(u16::MAX);
                match frame::decode::<Request>(f) {
                    Ok(request) => (handler.handle(&request), request == Request::Reboot),
                    Err(crate::Error::Unknown { tag, .. }) => {
                        (Reply::Error(DeviceError::UnknownRequest { tag }), false)
                    }
                    Err(_) => (Reply::Error(DeviceError::BadFrame { len }), false),
                }
            }
        };
        // Every reply fits MAX_FRAME (tested); should one not, say so in a frame that does.
        let len = match frame::encode(&reply, &mut self.out) {
            Ok(f) => f.len(),
            Err(_) => frame::encode(&too_long(), &mut self.out).ok()?.len(),
        };
        let frame = self.out.get(..len)?;
        Some(Answer { frame, reboot })
    }
}

fn too_long() -> Reply {
    Reply::Error(DeviceError::FrameTooLong {
        max: MAX_FRAME as u16,
    })
}
