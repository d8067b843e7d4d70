//! Enumerating cameras, microphones and speakers. Enumeration can be slow (it probes hardware),
//! so the app runs it on a worker thread.

use cpal::traits::{DeviceTrait, HostTrait};
use nokhwa::utils::{ApiBackend, CameraIndex};

use super::DeviceError;

/// One device the user can pick.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceInfo {
    /// Stable id (a cpal device id, or a camera index).
    pub id: String,
    /// What to show.
    pub name: String,
}

/// Everything found on this machine.
#[derive(Debug, Clone, Default)]
pub struct Devices {
    /// Cameras.
    pub cameras: Vec<DeviceInfo>,
    /// Microphones.
    pub microphones: Vec<DeviceInfo>,
    /// Speakers.
    pub speakers: Vec<DeviceInfo>,
    /// Problems met while looking (shown in the device settings).
    pub problems: Vec<String>,
}

/// Look for devices. Never panics; what fails is listed in `problems`.
pub fn scan() -> Devices {
    let mut devices = Devices::default();
    match nokhwa::query(ApiBackend::Auto) {
        Ok(cams) => {
            for cam in cams {
                let id = match cam.index() {
                    CameraIndex::Index(i) => i.to_string(),
                    CameraIndex::String(s) => s.clone(),
                };
                devices.cameras.push(DeviceInfo { id, name: cam.human_name() });
            }
        }
        Err(e) => devices.problems.push(format!("cameras: {e}")),
    }
    let host = cpal::default_host();
    match host.input_devices() {
        Ok(list) => devices.microphones = list.filter_map(|d| describe(&d)).collect(),
        Err(e) => devices.problems.push(format!("microphones: {e}")),
    }
    match host.output_devices() {
        Ok(list) => devices.speakers = list.filter_map(|d| describe(&d)).collect(),
        Err(e) => devices.problems.push(format!("speakers: {e}")),
    }
    devices
}

fn describe(device: &cpal::Device) -> Option<DeviceInfo> {
    let id = device.id().ok()?.to_string();
    let name = device.description().map(|d| d.name().to_string()).unwrap_or_else(|_| id.clone());
    Some(DeviceInfo { id, name })
}

/// The cpal device with `id`, or the default one when `id` is `None`.
pub(crate) fn audio_device(id: Option<&str>, input: bool) -> Result<cpal::Device, DeviceError> {
    let host = cpal::default_host();
    match id {
        Some(id) => {
            let parsed: cpal::DeviceId =
                id.parse().map_err(|source| DeviceError::BadId { id: id.to_string(), source })?;
            host.device_by_id(&parsed).ok_or_else(|| DeviceError::NotConnected(id.to_string()))
        }
        None if input => host.default_input_device().ok_or(DeviceError::NoMicrophone),
        None => host.default_output_device().ok_or(DeviceError::NoSpeakers),
    }
}
