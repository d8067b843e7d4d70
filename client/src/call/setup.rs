//! What every peer connection is built from: the codecs we offer, the interceptor chain (NACK,
//! RTCP reports, congestion control) and the ICE settings.

use std::time::Duration;

use rtc::interceptor::{CongestionControlBuilder, Gcc, NackGeneratorBuilder, NackResponderBuilder, Registry, Slot};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc,
};
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS, MediaEngine};
use rtc::peer_connection::configuration::setting_engine::SettingEngine;
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use webrtc::peer_connection::SettingEngineBuilder;

use super::error::CallError;
use super::peer::rtc_err;
use crate::media::ladder;

const H264_FMTP: &str = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

pub(super) fn h264_codec() -> RTCRtpCodec {
    let fb = |typ: &str, parameter: &str| RTCPFeedback { typ: typ.into(), parameter: parameter.into() };
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: H264_FMTP.to_owned(),
        rtcp_feedback: vec![fb("nack", ""), fb("nack", "pli"), fb("ccm", "fir")],
    }
}

pub(super) fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// H.264 (payload type 102) and Opus (111), nothing else: both ends run the same encoders.
pub(super) fn media_engine() -> Result<MediaEngine, CallError> {
    let mut media = MediaEngine::default();
    let video_params = RTCRtpCodecParameters { rtp_codec: h264_codec(), payload_type: 102 };
    let audio_params = RTCRtpCodecParameters { rtp_codec: opus_codec(), payload_type: 111 };
    media.register_codec(video_params, RtpCodecKind::Video).map_err(rtc_err)?;
    media.register_codec(audio_params, RtpCodecKind::Audio).map_err(rtc_err)?;
    Ok(media)
}

/// How often the receiver asks again for one lost packet. webrtc-rs's default is without limit,
/// every 100 ms, for the last 512 packets: on a congested link the retransmissions are lost
/// too, the requests multiply, and the retransmission flood (thousands of packets a second
/// were measured on a 300 kbit/s link) keeps the link congested for good. Two requests, 100 ms
/// apart, cover random loss; our receiver gives up on a hole after 200 ms anyway.
const NACKS_PER_PACKET: u16 = 2;

/// Packets the NACK generator watches and the responder keeps for retransmission (about a
/// second of video at the top step). With webrtc-rs's 512 and 1024, a second of overload on a
/// link that fell from 2 Mbit/s to 300 kbit/s left seconds of retransmissions queued behind it
/// (the round trip stayed at 700 ms for 5 s after the sender had cut its rate to a third).
const NACK_WINDOW: u16 = 128;

/// The interceptor chain: NACK/RTX with bounded retries, RTCP reports, and send-side congestion
/// control: GCC over transport-wide feedback (as browsers do) estimates what the path carries,
/// and the encoders follow the estimate (see [`crate::media::ladder`]).
///
/// Without webrtc-rs's pacer (`configure_congestion_control` adds one): on a 300 kbit/s link
/// its queue grew without end while the encoders sent well under the estimate (glass-to-glass
/// 6 s, then 16 s, audio mostly missing), where the same call without it ran at 10-20 ms. The
/// encoders' own rate control is the pacing; keyframe bursts wait in the bottleneck's queue.
pub(super) fn interceptors(media: &mut MediaEngine) -> Result<Registry, CallError> {
    let registry =
        Registry::new().with(Slot::NackResponder, NackResponderBuilder::new().with_size(NACK_WINDOW).build()).with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new().with_size(NACK_WINDOW).with_max_nacks_per_packet(NACKS_PER_PACKET).build(),
        );
    configure_simulcast_extension_headers(media).map_err(rtc_err)?;
    let registry = configure_rtcp_reports(registry);
    let gcc = Gcc::new(
        f64::from(ladder::INITIAL_ESTIMATE_BPS),
        f64::from(ladder::MIN_ESTIMATE_BPS),
        f64::from(ladder::MAX_ESTIMATE_BPS),
    );
    let registry = configure_twcc(registry, media).map_err(rtc_err)?;
    Ok(registry.with(Slot::CongestionControl, CongestionControlBuilder::new(gcc).build()))
}

/// How long the controlling side waits before nominating a pair through a relay, in case a
/// direct one succeeds.
const RELAY_WAIT: Duration = Duration::from_millis(300);

/// The same when we relay everything (`relay_only`): every pair we have goes through our relay,
/// so there is nothing better to wait for; only long enough for the checks through it to
/// succeed against the partner's reflexive address as well as its relay (one relay hop rather
/// than two).
const RELAY_ONLY_WAIT: Duration = Duration::from_millis(60);

/// ICE tuned for calls between strangers: quick checks, quick nomination, a vanished partner
/// noticed in seconds, no mDNS.
pub(super) fn ice_settings(relay_only: bool) -> SettingEngine {
    SettingEngineBuilder::new()
        // Check candidate pairs every 20 ms instead of 200 ms: calls connect in tens of ms.
        .with_ice_connection_attempts(Some(Duration::from_millis(20)), Some(50))
        // Notice a vanished partner within seconds, not the default half minute.
        .with_ice_timeouts(
            Some(Duration::from_secs(3)),
            Some(Duration::from_secs(6)),
            // Keepalives every 200 ms rather than 500: webrtc-rs 0.21.1 sends what is queued
            // for a TURN relay only when its loop next wakes. Until the connection is up our
            // sockets wake it (`link_io`), but the first relayed media still waits for a
            // wake-up: with 500 ms, relayed calls showed a picture later (median 555 against
            // 479 ms, 10 each, same lab and day).
            Some(Duration::from_millis(200)),
        )
        // How long the controlling side waits before nominating a pair through a NAT or a
        // relay, in case a better one succeeds: the defaults (0.5 s, 1 s, 2 s) put half a
        // second into every call between two home networks. Checks run every 20 ms, so a
        // direct pair that works has succeeded well within 100 ms.
        .with_srflx_acceptance_min_wait(Some(Duration::from_millis(100)))
        .with_prflx_acceptance_min_wait(Some(Duration::from_millis(100)))
        .with_relay_acceptance_min_wait(Some(if relay_only { RELAY_ONLY_WAIT } else { RELAY_WAIT }))
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build()
}
