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
    /// A random id for this install (never shown): the server keeps a keyed hash of it so that
    /// blocks last and bans reach whoever is banned. Made on first run.
    pub install_id: String,
    /// The version of the terms (and the 18+ confirmation) the user accepted; empty: none yet.
    pub accepted_terms: String,
    /// Blur a new stranger's video until the user clicks it. On for new installs; settings
    /// saved before the option existed keep it off.
    #[serde(default)]
    pub blur_new: bool,
    /// Mask the words in `masked_words` in the stranger's chat.
    pub mask_words: bool,
    /// The words to mask, one per line (the user may edit them).
    pub masked_words: String,
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
            install_id: String::new(),
            accepted_terms: String::new(),
            blur_new: true,
            mask_words: true,
            masked_words: super::chat_filter::DEFAULT_WORDS.to_string(),
        }
    }
}

impl Settings {
    /// Make an install id if there is none (or the stored one is not a valid id).
    pub fn ensure_install_id(&mut self) {
        if !strangers_shared::is_install_id(&self.install_id) {
            self.install_id = crate::signaling::Identity::new_install_id();
        }
    }

    /// Whether the user accepted the terms this app ships.
    pub fn terms_accepted(&self) -> bool {
        self.accepted_terms == super::terms::TERMS_VERSION
    }

    /// What every `hello` says about this install.
    pub fn identity(&self) -> crate::signaling::Identity {
        crate::signaling::Identity {
            install: Some(self.install_id.clone()).filter(|id| !id.is_empty()),
            terms: self.terms_accepted().then(|| self.accepted_terms.clone()),
        }
    }

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
        assert!(!old.blur_new, "an install from before the option keeps its video unblurred");
        assert!(Settings::default().blur_new, "a new install blurs");
    }

    #[test]
    fn an_install_id_is_made_once_and_a_bad_one_replaced() {
        let mut s = Settings::default();
        s.ensure_install_id();
        let id = s.install_id.clone();
        assert_eq!(id.len(), 32);
        s.ensure_install_id();
        assert_eq!(s.install_id, id, "kept");
        s.install_id = "NOT-AN-ID".into();
        s.ensure_install_id();
        assert_ne!(s.install_id, "NOT-AN-ID");
        assert_eq!(s.identity().terms, None, "no terms accepted yet");
    }
}
