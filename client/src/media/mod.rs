//! Media: sources, pixel formats, codecs, the jitter buffer and signal analysis.

pub mod assemble;
pub mod audio_source;
pub mod echo;
pub mod error;
pub mod estimate;
pub mod frame;
pub mod h264;
pub mod jitter;
pub mod ladder;
pub mod opus_codec;
pub mod pattern;
pub mod probe;
pub mod receive;
pub mod resample;
pub mod scale;
pub mod send;
pub mod speech;
pub mod switch;
pub mod tone;
pub mod video_rate;
pub mod video_source;
