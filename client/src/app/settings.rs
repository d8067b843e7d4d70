//! The user's choices, kept between runs in eframe's storage.

use serde::{Deserialize, Serialize};
use strangers_shared::Mode;

/// Where video comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VideoChoice {
    /// A camera, by id.
    Camera(String),
    /// The synthetic test card.
    TestCard,
    /// Send no video (receive only).
    Off,
}

/// Where audio comes from, or goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AudioChoice {
    /// The system default device.
    Default,
    /// A device, by id.
    Device(String),
    /// The synthetic tone (microphone side only).
    TestTone,
    /// No device.
    Off,
}

/// Persisted settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Signal server URL; empty means the local default.
    pub server_url: String,
    /// Video or text.
    pub text_mode: bool,
    /// Comma-separated interests.
    pub interests: String,
    /// Camera.
    pub video: Option<VideoChoice>,
    /// Microphone.
    pub mic: Option<AudioChoice>,
    /// Speakers.
    pub speaker: Option<AudioChoice>,
    /// Display name in rooms.
    pub name: String,
    /// Last room joined.
    pub room: String,
    /// Group room (up to 4) rather than a private call.
    pub group_room: bool,
    /// Esc needs a second press to skip, as on Omegle.
    pub confirm_next: bool,
    /// Show the statistics overlay.
    pub show_stats: bool,
    /// Play a sound when a stranger is found.
    pub match_sound: bool,
    /// Relay all media through the TURN server, so that no stranger learns our IP address.
    pub relay_only: bool,
    /// Cancel the speakers' echo in the microphone (off for headphones).
    pub echo_cancellation: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server_url: String::new(),
            text_mode: false,
            interests: String::new(),
            video: None,
            mic: None,
            speaker: None,
            name: "Stranger".into(),
            room: String::new(),
            group_room: false,
            confirm_next: true,
            show_stats: false,
            match_sound: true,
            relay_only: false,
            echo_cancellation: true,
        }
    }
}

impl Settings {
    /// The mode to search in.
    pub fn mode(&self) -> Mode {
        if self.text_mode { Mode::Text } else { Mode::Video }
    }

    /// The interests as tags (the server normalises them further).
    pub fn interest_tags(&self) -> Vec<String> {
        self.interests.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interests_split_on_commas_and_old_settings_still_load() {
        let s = Settings { interests: " music, ,Films ,".into(), ..Settings::default() };
        assert_eq!(s.interest_tags(), vec!["music", "Films"]);
        let old: Settings = serde_json::from_str(r#"{"interests":"cats"}"#).unwrap();
        assert_eq!((old.interests.as_str(), old.confirm_next), ("cats", true), "missing fields take defaults");
    }
}
