//! Which reply answers which request: a host that finds a reply of another kind reads a reply
//! left on the line by an earlier request (a client that stopped before reading it, a request
//! that timed out), not this request's.
//!
//! ```
//! use fewshot_protocol::{DeviceError, Reply, Request};
//! assert!(Request::Save.answered_by(&Reply::Saved { sequence: 3, slot: 1 }));
//! assert!(!Request::Info.answered_by(&Reply::Samples { stored: 0, capacity: 20 }));
//! // A refusal answers any request.
//! assert!(Request::Info.answered_by(&Reply::Error(DeviceError::NoUpdate)));
//! ```

use crate::{InputAction, Reply, Request};

impl Request {
    /// Whether `reply` is of a kind this request gets: its own reply (see each variant) or
    /// [`Reply::Error`].
    pub fn answered_by(&self, reply: &Reply) -> bool {
        use Reply as R;
        if matches!(reply, R::Error(_)) {
            return true;
        }
        match self {
            Request::Info => matches!(reply, R::Info(_)),
            Request::PushSample { .. } | Request::ClearSamples => {
                matches!(reply, R::Samples { .. })
            }
            Request::Adapt { .. } => matches!(reply, R::Adapted { .. }),
            Request::Infer { .. } => matches!(reply, R::Outputs(_)),
            Request::Classify { .. } => matches!(reply, R::Class { .. }),
            Request::Save | Request::SaveBank => matches!(reply, R::Saved { .. }),
            Request::Restore | Request::RestoreBank => matches!(reply, R::Restored { .. }),
            Request::Reset | Request::Reboot => matches!(reply, R::Done),
            Request::UpdateBegin { .. } => matches!(reply, R::UpdateStarted { .. }),
            Request::UpdateChunk { .. } => matches!(reply, R::UpdateProgress { .. }),
            Request::UpdateFinish => matches!(reply, R::UpdateInstalled { .. }),
            Request::Enroll { .. }
            | Request::Forget { .. }
            | Request::Relabel { .. }
            | Request::SetMargin { .. } => matches!(reply, R::Bank { .. }),
            Request::ClassifyEnrolled { .. } => matches!(reply, R::Enrolled { .. }),
            Request::StageInput { .. } => matches!(reply, R::Staged { .. }),
            Request::WithStaged(action) => match action {
                InputAction::Push { .. } => matches!(reply, R::Samples { .. }),
                InputAction::Infer => matches!(reply, R::Outputs(_)),
                InputAction::Classify => matches!(reply, R::Class { .. }),
                InputAction::ClassifyEnrolled => matches!(reply, R::Enrolled { .. }),
            },
        }
    }
}
