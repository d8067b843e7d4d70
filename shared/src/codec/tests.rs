//! Round-trip and rejection tests for the codec.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::msg::{LeaveReason, Member, Mode, Role};
use crate::{IceServer, PeerId};

fn ok(text: &str) -> ClientMsg {
    match decode_client(text) {
        Ok(m) => m,
        Err(e) => panic!("{text} should decode: {e}"),
    }
}

fn err(text: &str) -> DecodeError {
    match decode_client(text) {
        Ok(m) => panic!("{text} should fail, got {m:?}"),
        Err(e) => e,
    }
}

#[test]
fn every_client_message_round_trips() {
    let msgs = vec![
        ClientMsg::Hello { version: 1, resume: None, terms: None, install: None },
        ClientMsg::Hello {
            version: 1,
            resume: Some("r1.00.00".into()),
            terms: Some("2026-12".into()),
            install: Some("0123456789abcdef0123456789abcdef".into()),
        },
        ClientMsg::Find { mode: Mode::Video, interests: vec!["music".into(), "rust".into()] },
        ClientMsg::Next { reason: None },
        ClientMsg::Next { reason: Some(crate::NextReason::Failed) },
        ClientMsg::Stop,
        ClientMsg::Join { room: RoomName("r1".into()), name: None, capacity: None },
        ClientMsg::Join { room: RoomName("r1".into()), name: Some("Ann".into()), capacity: Some(4) },
        ClientMsg::Leave,
        ClientMsg::Offer(Relay { sdp: Some("v=0".into()), ..Relay::default() }),
        ClientMsg::Answer(Relay { sdp: Some("v=0".into()), to: Some(PeerId(3)), ..Relay::default() }),
        ClientMsg::Candidate(Relay {
            candidate: Some(
                json!({"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}),
            ),
            ..Relay::default()
        }),
        ClientMsg::Chat { text: "hello".into() },
        ClientMsg::Typing { active: true },
        ClientMsg::MediaState { audio: false, video: true },
        ClientMsg::Report { reason: crate::ReportReason::Spam, text: None, chat: vec![], call: Some(3) },
        ClientMsg::Report {
            reason: crate::ReportReason::Other,
            text: Some("kept asking my age".into()),
            chat: vec!["how old are you".into()],
            call: None,
        },
        ClientMsg::Block { call: None },
        ClientMsg::Block { call: Some(9) },
    ];
    for msg in msgs {
        let text = encode(&msg);
        assert_eq!(ok(&text), msg, "{text}");
        assert!(ClientMsg::TYPES.contains(&msg.type_name()));
    }
}

#[test]
fn every_server_message_round_trips() {
    let member = Member { id: PeerId(7), name: "Bo".into(), audio: true, video: false };
    let msgs = vec![
        ServerMsg::Welcome {
            peer_id: PeerId(1),
            version: 1,
            online: 3,
            ice_servers: vec![IceServer { urls: vec!["stun:a:3478".into()], username: None, credential: None }],
            resume: None,
            resumed: false,
            terms: None,
        },
        ServerMsg::Welcome {
            peer_id: PeerId(2),
            version: 1,
            online: 3,
            ice_servers: vec![],
            resume: Some("r1.00.11".into()),
            resumed: true,
            terms: Some("2026-12".into()),
        },
        ServerMsg::Waiting { mode: Mode::Text, online: 3, searching: 1 },
        ServerMsg::PartnerResumed,
        ServerMsg::Matched {
            role: Role::Offerer,
            mode: Mode::Video,
            common_interests: vec!["x".into()],
            resume: None,
            call: Some(7),
        },
        ServerMsg::Matched {
            role: Role::Answerer,
            mode: Mode::Text,
            common_interests: vec![],
            resume: Some("r1.ab.cd".into()),
            call: None,
        },
        ServerMsg::PartnerLeft { reason: LeaveReason::Skipped },
        ServerMsg::Offer { from: Some(PeerId(2)), sdp: "v=0".into() },
        ServerMsg::Answer { from: None, sdp: "v=0".into() },
        ServerMsg::Candidate { from: None, candidate: None },
        ServerMsg::Chat { from: None, text: "hi".into(), ts: 5 },
        ServerMsg::Typing { from: Some(PeerId(2)), active: false },
        ServerMsg::MediaState { from: None, audio: true, video: true },
        ServerMsg::Ready { room: RoomName("r".into()) },
        ServerMsg::Joined { room: RoomName("r".into()), you: PeerId(1), capacity: 4, members: vec![member.clone()] },
        ServerMsg::PeerJoined { room: RoomName("r".into()), peer: member },
        ServerMsg::PeerLeft { room: RoomName("r".into()), peer: PeerId(7), reason: LeaveReason::Disconnected },
        ServerMsg::Error { code: ErrorCode::RoomFull, message: "full".into(), retry_in_ms: None, until_ms: None },
        ServerMsg::Error {
            code: ErrorCode::SlowDown,
            message: "slow down".into(),
            retry_in_ms: Some(29_500),
            until_ms: None,
        },
        ServerMsg::Error {
            code: ErrorCode::Banned,
            message: "banned".into(),
            retry_in_ms: Some(3_600_000),
            until_ms: Some(1_800_000_000_000),
        },
        ServerMsg::Reported,
        ServerMsg::Blocked,
    ];
    for msg in msgs {
        let text = encode(&msg);
        assert_eq!(decode_server(&text), Ok(msg), "{text}");
    }
}

#[test]
fn ready_is_exactly_the_simple_ws_shape() {
    let text = encode(&ServerMsg::Ready { room: RoomName("room123".into()) });
    assert_eq!(text, r#"{"type":"ready","room":"room123"}"#);
}

#[test]
fn simple_ws_client_messages_decode() {
    assert_eq!(
        ok(r#"{"type":"join","room":"room123"}"#),
        ClientMsg::Join { room: RoomName("room123".into()), name: None, capacity: None }
    );
    let offer = ok(r#"{"type":"offer","offer":{"type":"offer","sdp":"v=0\r\n"},"room":"room123"}"#);
    assert!(matches!(offer, ClientMsg::Offer(Relay { room: Some(_), sdp: None, .. })));
    let cand = ok(r#"{"type":"candidate","candidate":{"candidate":"c","sdpMid":"0"},"room":"room123"}"#);
    assert!(matches!(cand, ClientMsg::Candidate(Relay { candidate: Some(_), .. })));
}

#[test]
fn bad_input_is_classified() {
    assert!(matches!(err("not json"), DecodeError::Malformed(_)));
    assert!(matches!(err("[1,2]"), DecodeError::Malformed(_)));
    // The array form of a tagged enum (found by the decode fuzzer): not a protocol message.
    assert!(matches!(err(r#"["offer",3,".","c",30E043]"#), DecodeError::Malformed(_)));
    assert!(matches!(err(r#"["join","room"]"#), DecodeError::Malformed(_)));
    assert!(matches!(decode_server(r#"["ready","r"]"#), Err(DecodeError::Malformed(_))));
    assert_eq!(err(r#"{"room":"x"}"#), DecodeError::MissingType);
    assert_eq!(err(r#"{"type":7}"#), DecodeError::MissingType);
    assert_eq!(err(r#"{"type":"dance"}"#), DecodeError::UnknownType("dance".into()));
    assert!(matches!(err(r#"{"type":"find","mode":"smell"}"#), DecodeError::BadFields { ty: "find", .. }));
    assert!(matches!(err(r#"{"type":"chat"}"#), DecodeError::BadFields { ty: "chat", .. }));
    assert_eq!(err(r#"{"type":"chat","text":"  "}"#).code(), ErrorCode::InvalidField);
    assert_eq!(err(r#"{"type":"join","room":""}"#).code(), ErrorCode::InvalidField);
    assert_eq!(err(r#"{"type":"join","room":"a\u0000b"}"#).code(), ErrorCode::InvalidField);
    assert_eq!(err(r#"{"type":"join","room":"r","capacity":1}"#).code(), ErrorCode::InvalidField);
    for bad in ["256", "-1", "2.5", "\"4\"", "true", "[4]", "0", "9", "1e3"] {
        let text = format!(r#"{{"type":"join","room":"r","name":"a","capacity":{bad}}}"#);
        assert_eq!(err(&text).code(), ErrorCode::InvalidField, "{text}");
    }
    let null = ok(r#"{"type":"join","room":"r","name":"a","capacity":null}"#);
    assert!(matches!(null, ClientMsg::Join { capacity: None, .. }), "null is no capacity: {null:?}");
    assert_eq!(err(r#"{"type":"join","room":"r","name":"   "}"#).code(), ErrorCode::InvalidField);
}

#[test]
fn oversized_fields_are_rejected() {
    let long_chat = "é".repeat(MAX_CHAT_CHARS + 1);
    let e = err(&encode(&ClientMsg::Chat { text: long_chat }));
    assert_eq!(e, DecodeError::TooLong { field: "text", max: MAX_CHAT_CHARS });
    let token = "0".repeat(crate::limits::MAX_RESUME_TOKEN_BYTES + 1);
    let e = err(&format!(r#"{{"type":"hello","version":1,"resume":"{token}"}}"#));
    assert_eq!(e, DecodeError::TooLong { field: "resume", max: crate::limits::MAX_RESUME_TOKEN_BYTES });
    // A welcome from an older server (no resume fields) still decodes.
    let old = decode_server(r#"{"type":"welcome","peer_id":1,"version":1,"online":1,"ice_servers":[]}"#);
    assert!(matches!(old, Ok(ServerMsg::Welcome { resume: None, resumed: false, .. })));
    // Exactly at the limit, counted in characters not bytes, is fine.
    ok(&encode(&ClientMsg::Chat { text: "é".repeat(MAX_CHAT_CHARS) }));

    let sdp = "a".repeat(MAX_SDP_BYTES + 1);
    let e = err(&encode(&ClientMsg::Offer(Relay { sdp: Some(sdp), ..Relay::default() })));
    assert_eq!(e.code(), ErrorCode::FieldTooLong);

    let room = RoomName("r".repeat(MAX_ROOM_NAME_CHARS + 1));
    assert_eq!(err(&encode(&ClientMsg::Join { room, name: None, capacity: None })).code(), ErrorCode::FieldTooLong);

    let cand = json!({"candidate": "c".repeat(MAX_CANDIDATE_BYTES)});
    let e = err(&encode(&ClientMsg::Candidate(Relay { candidate: Some(cand), ..Relay::default() })));
    assert_eq!(e.code(), ErrorCode::FieldTooLong);
}

#[test]
fn interests_are_normalised() {
    let tags: Vec<String> = ["  Music ", "music", "RUST", "", "   "].iter().map(|s| s.to_string()).collect();
    assert_eq!(normalize_interests(&tags), Ok(vec!["music".to_string(), "rust".to_string()]));

    let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    assert_eq!(normalize_interests(&eleven).map_err(|e| e.code()), Err(ErrorCode::FieldTooLong));
    // Duplicates do not count against the limit.
    let dup: Vec<String> = (0..30).map(|i| format!("T{}", i % 10)).collect();
    assert_eq!(normalize_interests(&dup).map(|v| v.len()), Ok(10));

    let long = vec!["x".repeat(MAX_INTEREST_CHARS + 1)];
    assert_eq!(normalize_interests(&long).map_err(|e| e.code()), Err(ErrorCode::FieldTooLong));
    let exact = vec![format!("  {}  ", "x".repeat(MAX_INTEREST_CHARS))];
    assert!(normalize_interests(&exact).is_ok());

    let msg = ok(r#"{"type":"find","mode":"text","interests":[" Cats","cats","DOGS"]}"#);
    assert_eq!(msg, ClientMsg::Find { mode: Mode::Text, interests: vec!["cats".into(), "dogs".into()] });
}

#[test]
fn unknown_type_echo_is_bounded() {
    let text = format!(r#"{{"type":"{}"}}"#, "z".repeat(10_000));
    match err(&text) {
        DecodeError::UnknownType(t) => assert_eq!(t.len(), 32),
        other => panic!("{other:?}"),
    }
}

proptest! {
    #[test]
    fn decoding_arbitrary_text_never_panics(s in ".{0,300}") {
        let _ = decode_client(&s);
        let _ = decode_server(&s);
    }

    #[test]
    fn decoding_json_like_text_never_panics(
        ty in prop::sample::select(ClientMsg::TYPES.to_vec()),
        body in r#"[a-z":,{}\[\]0-9 ]{0,80}"#,
    ) {
        let _ = decode_client(&format!(r#"{{"type":"{ty}",{body}"#));
        let _ = decode_client(&format!(r#"{{"type":"{ty}"{body}}}"#));
    }

    #[test]
    fn chat_round_trips(text in "[^\\x00-\\x1f]{1,200}") {
        prop_assume!(!text.trim().is_empty());
        let msg = ClientMsg::Chat { text };
        prop_assert_eq!(decode_client(&encode(&msg)), Ok(msg));
    }
}

#[test]
fn the_relay_fast_path_agrees_with_the_derived_decoder() {
    for text in [
        r#"{"type":"offer","sdp":"v=0\r\n","to":3}"#,
        r#"  { "type" : "answer", "sdp":"x","room":"r"}"#,
        r#"{"type":"candidate","candidate":{"candidate":"c","sdpMid":"0"},"room":"r"}"#,
        r#"{"sdp":"x","type":"offer"}"#,
    ] {
        let derived: ClientMsg = serde_json::from_str(text).unwrap();
        assert_eq!(decode_client(text), Ok(derived), "{text}");
    }
    assert!(matches!(err(r#"{"type":"offer","sdp":7}"#), DecodeError::BadFields { ty: "offer", .. }));
    assert!(matches!(err(r#"{"type":"offer","sdp":"x""#), DecodeError::Malformed(_)));
    assert_eq!(leading_tag(r#"{"type":"of\"fer"}"#), None);
}

#[test]
fn report_and_hello_limits_are_enforced() {
    let long = "x".repeat(crate::limits::MAX_REPORT_TEXT_CHARS + 1);
    let text = format!(r#"{{"type":"report","reason":"spam","text":"{long}"}}"#);
    assert_eq!(err(&text).code(), ErrorCode::FieldTooLong);
    let lines = vec!["a"; crate::limits::MAX_REPORT_CHAT_LINES + 1];
    let text = serde_json::json!({"type":"report","reason":"spam","chat":lines}).to_string();
    assert_eq!(err(&text).code(), ErrorCode::FieldTooLong);
    let big = vec!["b".repeat(1000); 5];
    let text = serde_json::json!({"type":"report","reason":"spam","chat":big}).to_string();
    assert_eq!(err(&text).code(), ErrorCode::FieldTooLong, "4,000 characters of chat at most");
    assert_eq!(err(r#"{"type":"report","reason":"ugly"}"#).code(), ErrorCode::Malformed);
    assert_eq!(err(r#"{"type":"hello","version":1,"install":"ABC"}"#).code(), ErrorCode::InvalidField);
    let upper = r#"{"type":"hello","version":1,"install":"0123456789ABCDEF0123456789ABCDEF"}"#;
    assert_eq!(err(upper).code(), ErrorCode::InvalidField);
    assert_eq!(err(r#"{"type":"hello","version":1,"terms":"a\nb"}"#).code(), ErrorCode::InvalidField);
    // Old clients' hello is unchanged.
    assert!(matches!(ok(r#"{"type":"hello","version":1}"#), ClientMsg::Hello { terms: None, install: None, .. }));
}
