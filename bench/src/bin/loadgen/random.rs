//! One benchmark session in the full protocol, through random matching: two connections (on the
//! same node or on two nodes of a cluster) say hello and search with an interest only they share,
//! are matched, exchange a ~3 KB offer and answer and four candidates each way, then close. The
//! send time rides inside what the server relays (an `a=t:` line of the SDP, a `t` field of the
//! candidate object), since the server rebuilds every relayed message from its parsed fields.

use std::time::Instant;

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::session::{Outcome, STEP, Ws, connect, next_text};

fn now_ns(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64
}

async fn send(ws: &mut Ws, v: Value) -> Result<(), String> {
    tokio::time::timeout(STEP, ws.send(Message::text(v.to_string())))
        .await
        .map_err(|_| "send timed out".to_string())?
        .map_err(|e| e.to_string())
}

/// The next message of type `ty` (others, such as `waiting`, are skipped).
async fn expect(ws: &mut Ws, ty: &str) -> Result<Value, String> {
    loop {
        let text = next_text(ws).await?;
        let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if v["type"] == ty {
            return Ok(v);
        }
        if v["type"] == "error" || v["type"] == "partner_left" {
            return Err(format!("while waiting for {ty}: {text}"));
        }
    }
}

/// The send time carried by a relayed offer, answer or candidate.
fn sent_at(v: &Value) -> Option<u64> {
    if let Some(t) = v["candidate"]["t"].as_u64() {
        return Some(t);
    }
    let sdp = v["sdp"].as_str()?;
    sdp.rsplit("a=t:").next()?.trim().parse().ok()
}

/// Run one session: `a` on `url_a`, `b` on `url_b`, meeting through interest `tag`.
pub async fn run(url_a: &str, url_b: &str, tag: &str, sdp: &str, base: Instant) -> Result<Outcome, String> {
    let started = Instant::now();
    let mut out = Outcome::default();
    let (a, b) = tokio::join!(connect(url_a), connect(url_b));
    let (mut a, mut b) = (a?, b?);
    for ws in [&mut a, &mut b] {
        send(ws, json!({"type":"hello","version":1})).await?;
        expect(ws, "welcome").await?;
        send(ws, json!({"type":"find","mode":"text","interests":[tag]})).await?;
    }
    let (ma, mb) = tokio::join!(expect(&mut a, "matched"), expect(&mut b, "matched"));
    let (ma, _) = (ma?, mb?);
    // The offerer offers, whichever it is.
    let (off, ans) = if ma["role"] == "offerer" { (&mut a, &mut b) } else { (&mut b, &mut a) };
    let mut hop = |v: &Value| {
        if let Some(t) = sent_at(v) {
            out.hops_ns.push(now_ns(base).saturating_sub(t));
        }
    };
    send(off, json!({"type":"offer","sdp":format!("{sdp}a=t:{}", now_ns(base))})).await?;
    hop(&expect(ans, "offer").await?);
    send(ans, json!({"type":"answer","sdp":format!("{sdp}a=t:{}", now_ns(base))})).await?;
    hop(&expect(off, "answer").await?);
    let candidate = |i: u32, t: u64| json!({"type":"candidate","candidate":{"candidate":format!("candidate:{i} 1 udp 2130706431 127.0.0.1 5{i}000 typ host"),"sdpMid":"0","sdpMLineIndex":0,"t":t}});
    for i in 0..4 {
        send(off, candidate(i, now_ns(base))).await?;
        send(ans, candidate(i + 4, now_ns(base))).await?;
    }
    for _ in 0..4 {
        hop(&expect(ans, "candidate").await?);
        hop(&expect(off, "candidate").await?);
    }
    crate::session::finish(a, b, started, out).await
}
