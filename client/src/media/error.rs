//! The media pipeline's errors, shared by video and audio: sources (cameras, microphones,
//! synthetic ones) and codecs (H.264 and Opus).

/// Why a source could not deliver a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// No such device, or it could not be opened.
    #[error("cannot open {0}")]
    Open(String),
    /// The device stopped delivering frames.
    #[error("device failed: {0}")]
    Failed(String),
    /// The source was stopped.
    #[error("source stopped")]
    Stopped,
    /// No device is selected right now (a switchable source between devices); try again.
    #[error("no device selected")]
    Idle,
}

/// Why an encoder or decoder failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The codec could not be created.
    #[error("cannot create codec: {0}")]
    Init(String),
    /// Encoding failed.
    #[error("encode failed: {0}")]
    Encode(String),
    /// The bitstream could not be decoded (damaged or missing references); ask for a keyframe.
    #[error("decode failed: {0}")]
    Decode(String),
}
