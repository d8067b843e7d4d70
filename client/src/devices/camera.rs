//! The camera as a [`VideoSource`] (nokhwa): opened at 640×480@30 or the nearest format the
//! camera offers, MJPEG decoded or YUYV converted straight to I420.

use std::time::Instant;

use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution};

use super::DeviceError;
use crate::media::frame::{I420, VideoFrame};
use crate::media::video_source::{SourceError, VideoSource};

/// A nokhwa camera; see the module docs.
pub struct CameraSource {
    camera: Camera,
    name: String,
    size: (usize, usize),
}

impl CameraSource {
    /// Open camera `id` (an index or a device path) near `width`×`height`@`fps`. Slow (it
    /// talks to the driver), so call it off the UI thread.
    pub fn open(id: &str, width: u32, height: u32, fps: u32) -> Result<Self, DeviceError> {
        let index = id.parse::<u32>().map_or_else(|_| CameraIndex::String(id.to_string()), CameraIndex::Index);
        let wanted = CameraFormat::new(Resolution::new(width, height), FrameFormat::MJPEG, fps);
        let request = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(wanted));
        let refused = |source| DeviceError::Camera { id: id.to_string(), source };
        let mut camera = Camera::new(index, request).map_err(refused)?;
        camera.open_stream().map_err(refused)?;
        let name = camera.info().human_name();
        let res = camera.resolution();
        let size = (res.width() as usize, res.height() as usize);
        Ok(Self { camera, name, size })
    }
}

impl VideoSource for CameraSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn size(&self) -> (usize, usize) {
        self.size
    }

    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        let buffer = self.camera.frame().map_err(|e| SourceError::Failed(e.to_string()))?;
        let captured_at = Instant::now();
        let res = buffer.resolution();
        let (w, h) = (res.width() as usize & !1, res.height() as usize & !1);
        let picture = match buffer.source_frame_format() {
            FrameFormat::YUYV => I420::from_yuyv(w, h, buffer.buffer()),
            _ => {
                let rgb = buffer.decode_image::<RgbFormat>().map_err(|e| SourceError::Failed(e.to_string()))?;
                I420::from_rgb(w, h, rgb.as_raw())
            }
        }
        .ok_or_else(|| SourceError::Failed(format!("camera gave a short {w}x{h} frame")))?;
        self.size = (w, h);
        Ok(VideoFrame { picture, captured_at })
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        if let Err(e) = self.camera.stop_stream() {
            tracing::debug!(error = %e, "camera stop");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_camera_is_an_open_error_not_a_panic() {
        match CameraSource::open("/dev/strangers-no-such-camera", 640, 480, 30) {
            Err(e @ DeviceError::Camera { .. }) => {
                assert!(e.to_string().contains("no-such-camera"), "{e}");
                assert!(std::error::Error::source(&e).is_some(), "nokhwa's error is kept: {e:?}");
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("opened a camera that does not exist"),
        }
    }
}
