//! Why a device could not be found or opened. A variant caused by the driver keeps the driver's
//! own error as its [`source`](std::error::Error::source) (to log, or to tell a busy device by
//! its kind); the messages read as they did when they were plain strings, so the app shows
//! `to_string()` to the user as it is.

/// See the module docs.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// An audio device id that is not in cpal's `host:device` form (a saved setting gone stale).
    #[error("bad audio device id {id:?}")]
    BadId {
        /// The id as given.
        id: String,
        /// What cpal found wrong with it.
        #[source]
        source: cpal::Error,
    },
    /// The chosen audio device is not (or no longer) connected.
    #[error("audio device {0} is not connected")]
    NotConnected(String),
    /// The system has no default microphone.
    #[error("no microphone found")]
    NoMicrophone,
    /// The system has no default speakers.
    #[error("no speakers found")]
    NoSpeakers,
    /// An audio device refused: reading its configuration, building its stream or starting it.
    #[error("{device}: {source}")]
    Audio {
        /// The device's name.
        device: String,
        /// cpal's error.
        #[source]
        source: cpal::Error,
    },
    /// The device only offers samples in a format the app does not convert.
    #[error("{device}: unsupported sample format {format:?}")]
    SampleFormat {
        /// The device's name.
        device: String,
        /// What it offers.
        format: cpal::SampleFormat,
    },
    /// The camera could not be opened, or its stream not started.
    #[error("camera {id}: {source}")]
    Camera {
        /// The camera's id (an index or a device path).
        id: String,
        /// nokhwa's error.
        #[source]
        source: nokhwa::NokhwaError,
    },
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn messages_read_as_before_and_keep_their_source() {
        let source = cpal::Error::with_message(cpal::ErrorKind::InvalidInput, "expected \"host:device_id\"");
        let bad = DeviceError::BadId { id: "usb mic".into(), source };
        assert_eq!(bad.to_string(), "bad audio device id \"usb mic\"");
        assert!(bad.source().is_some_and(|s| s.to_string().contains("host:device_id")));

        let source = cpal::Error::with_message(cpal::ErrorKind::DeviceBusy, "device busy");
        let busy = DeviceError::Audio { device: "Built-in Audio".into(), source };
        assert_eq!(busy.to_string(), "Built-in Audio: device busy");
        let kind = busy.source().and_then(|s| s.downcast_ref::<cpal::Error>()).map(cpal::Error::kind);
        assert_eq!(kind, Some(cpal::ErrorKind::DeviceBusy), "the caller can still tell a busy device");

        assert_eq!(DeviceError::NoMicrophone.to_string(), "no microphone found");
        assert!(DeviceError::NotConnected("alsa:hw:1".into()).source().is_none());
    }
}
