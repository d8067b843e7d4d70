//! One benchmark session in the plain room protocol: two connections join a fresh room, wait for
//! `ready`, exchange a ~3 KB offer and answer and four candidates each way, then close. Every
//! relayed message carries its send time, so the receiver measures the relay hop.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Per-step time limit; a session that takes longer has failed.
pub(crate) const STEP: Duration = Duration::from_secs(10);

/// What one session measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Send → receive of each relayed message, nanoseconds.
    pub hops_ns: Vec<u64>,
    /// Whole session, nanoseconds.
    pub total_ns: u64,
}

/// A realistic ~3 KB session description (two m-sections, codecs, ICE and DTLS attributes).
pub fn fake_sdp() -> String {
    let mut sdp = String::from(
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS stream\r\n",
    );
    for (mid, kind, pts) in
        [(0, "audio", "111 63 9 0 8 13 110 126"), (1, "video", "96 97 102 103 104 105 106 107 108 109 127 125")]
    {
        sdp.push_str(&format!("m={kind} 9 UDP/TLS/RTP/SAVPF {pts}\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"));
        sdp.push_str("a=ice-ufrag:sXhV\r\na=ice-pwd:Qm9PdTZ4ZlN2b2RqRW5hWUxjZ2tCcXNF\r\na=ice-options:trickle\r\n");
        sdp.push_str("a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n");
        sdp.push_str(&format!(
            "a=setup:actpass\r\na=mid:{mid}\r\na=sendrecv\r\na=msid:stream track{mid}\r\na=rtcp-mux\r\n"
        ));
        for pt in pts.split(' ') {
            sdp.push_str(&format!(
                "a=rtpmap:{pt} codec{pt}/90000\r\na=rtcp-fb:{pt} nack\r\na=rtcp-fb:{pt} nack pli\r\n"
            ));
            sdp.push_str(&format!(
                "a=fmtp:{pt} level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
            ));
        }
        sdp.push_str(&format!("a=ssrc:{} cname:strangersbench\r\n", 1_000_000 + mid));
    }
    sdp.truncate(3000);
    sdp
}

fn relay(kind: &str, room: &str, t: u64, body: &str) -> String {
    match kind {
        "candidate" => format!(
            r#"{{"type":"candidate","t":{t},"room":"{room}","candidate":{{"candidate":"candidate:{body} 1 udp 2130706431 127.0.0.1 5{body}000 typ host generation 0","sdpMid":"0","sdpMLineIndex":0}}}}"#
        ),
        _ => format!(
            r#"{{"type":"{kind}","t":{t},"room":"{room}","{kind}":{{"type":"{kind}","sdp":{}}}}}"#,
            json_str(body)
        ),
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Nanoseconds since `base`.
fn now_ns(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64
}

pub(crate) async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match tokio::time::timeout(STEP, ws.next()).await {
            Err(_) => return Err("timed out".into()),
            Ok(None) => return Err("connection closed".into()),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t.to_string()),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// Read until a message of `kind` for `room` arrives (skipping any extras a server sends); returns its embedded send time.
async fn expect(ws: &mut Ws, kind: &str, room: &str) -> Result<Option<u64>, String> {
    let prefix = format!(r#"{{"type":"{kind}""#);
    let room_field = format!(r#""room":"{room}""#);
    loop {
        let text = next_text(ws).await?;
        if !text.starts_with(&prefix) {
            if text.starts_with(r#"{"type":"error""#) {
                return Err(format!("server error: {text}"));
            }
            continue;
        }
        if !text.contains(&room_field) {
            return Err(format!("{kind} for another room: {text}"));
        }
        let t = text
            .split(r#""t":"#)
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse().ok());
        return Ok(t);
    }
}

async fn send(ws: &mut Ws, text: String) -> Result<(), String> {
    tokio::time::timeout(STEP, ws.send(Message::text(text)))
        .await
        .map_err(|_| "send timed out".to_string())?
        .map_err(|e| e.to_string())
}

pub(crate) async fn connect(url: &str) -> Result<Ws, String> {
    match tokio::time::timeout(STEP, connect_async(url)).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(format!("connect: {e}")),
        Err(_) => Err("connect timed out".into()),
    }
}

/// Run one session against `url` in room `room`.
pub async fn run(url: &str, room: &str, sdp: &str, base: Instant) -> Result<Outcome, String> {
    let started = Instant::now();
    let mut out = Outcome::default();
    let (a, b) = tokio::join!(connect(url), connect(url));
    let (mut a, mut b) = (a?, b?);
    let join = format!(r#"{{"type":"join","room":"{room}"}}"#);
    send(&mut a, join.clone()).await?;
    send(&mut b, join).await?;
    let (ra, rb) = tokio::join!(expect(&mut a, "ready", room), expect(&mut b, "ready", room));
    ra?;
    rb?;
    let mut hop = |sent: Option<u64>| {
        if let Some(t) = sent {
            out.hops_ns.push(now_ns(base).saturating_sub(t));
        }
    };
    send(&mut a, relay("offer", room, now_ns(base), sdp)).await?;
    hop(expect(&mut b, "offer", room).await?);
    send(&mut b, relay("answer", room, now_ns(base), sdp)).await?;
    hop(expect(&mut a, "answer", room).await?);
    for i in 0..4 {
        send(&mut a, relay("candidate", room, now_ns(base), &i.to_string())).await?;
        send(&mut b, relay("candidate", room, now_ns(base), &(i + 4).to_string())).await?;
    }
    for _ in 0..4 {
        hop(expect(&mut b, "candidate", room).await?);
        hop(expect(&mut a, "candidate", room).await?);
    }
    finish(a, b, started, out).await
}

/// Close both sides and stamp the session's length.
pub(crate) async fn finish(a: Ws, b: Ws, started: Instant, mut out: Outcome) -> Result<Outcome, String> {
    let (ca, cb) = tokio::join!(close(a), close(b));
    ca?;
    cb?;
    out.total_ns = started.elapsed().as_nanos() as u64;
    Ok(out)
}

/// Close and wait for the server's half of the close handshake.
pub(crate) async fn close(mut ws: Ws) -> Result<(), String> {
    tokio::time::timeout(STEP, async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await
    .map_err(|_| "close timed out".to_string())
}

/// Open a connection and join `room` alone (for the idle-memory measurement).
pub async fn idle(url: &str, room: &str) -> Result<Ws, String> {
    let mut ws = connect(url).await?;
    send(&mut ws, format!(r#"{{"type":"join","room":"{room}"}}"#)).await?;
    Ok(ws)
}
