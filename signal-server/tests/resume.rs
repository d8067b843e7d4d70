//! Resumption over real sockets: a client whose connection dies mid-call presents its token on
//! a new connection and keeps its partner; a restarted server (same `--resume-secret`) pairs the
//! two again; a forged or replayed token gets `resume_refused`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Client, HELLO, matched_pair, matched_pair_with_messages, metric, server_with};
use serde_json::{Value, json};
use signal_server::ServerHandle;
use tokio_tungstenite::MaybeTlsStream;

async fn with_secret(addr: &str) -> ServerHandle {
    server_with(|cfg| {
        cfg.listen = addr.parse().unwrap();
        cfg.resume_secret = Some("test-resume-secret".parse().unwrap());
        cfg.resume_window = Duration::from_secs(15);
    })
    .await
}

/// Connect and present `token`; returns the client and its welcome. A refused token's `error`
/// comes before the welcome, which then starts a new session; the client must read it with
/// [`refused`].
async fn resume(srv: &ServerHandle, token: &str) -> (Client, Value) {
    let mut c = Client::connect_raw(srv).await;
    c.send_json(json!({"type": "hello", "version": 1, "resume": token})).await;
    let first = c.recv().await;
    if first["type"] == "error" {
        assert_eq!(first["code"], "resume_refused", "{first}");
        let welcome = c.expect("welcome").await;
        assert!(welcome.get("resumed").is_none(), "{welcome}");
        return (c, json!({"refused": true}));
    }
    assert_eq!(first["type"], "welcome", "{first}");
    (c, first)
}

fn refused(welcome: &Value) -> bool {
    welcome["refused"] == true
}

/// Drop the client's TCP connection with a reset (SO_LINGER 0), as a network failure looks.
fn reset(c: Client) {
    if let MaybeTlsStream::Plain(tcp) = c.ws.get_ref() {
        tcp.set_zero_linger().unwrap();
    }
    drop(c);
}

/// Two matched clients and the tokens their `matched` carried.
async fn pair(srv: &ServerHandle) -> (Client, Client, String, String) {
    let (a, b, ma, mb) = matched_pair_with_messages(srv).await;
    let token = |m: &Value| m["resume"].as_str().unwrap_or_default().to_string();
    (a, b, token(&ma), token(&mb))
}

#[tokio::test]
async fn a_killed_connection_resumes_its_call_and_the_partner_never_hears_of_it() {
    let srv = with_secret("127.0.0.1:0").await;
    let (a, mut b, ta, _) = pair(&srv).await;
    reset(a); // the network fails: the server sees a reset, not a goodbye
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.send(r#"{"type":"chat","text":"hello?"}"#).await;
    let (mut a2, welcome) = resume(&srv, &ta).await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    assert_eq!(a2.expect("chat").await["text"], "hello?", "what came meanwhile is delivered");
    // b hears that a is back (so that an ICE restart in flight is offered again), never that it
    // left.
    b.expect("partner_resumed").await;
    a2.send(r#"{"type":"offer","sdp":"v=0 restart"}"#).await;
    assert_eq!(b.expect("offer").await["sdp"], "v=0 restart");
    b.nothing_pending().await;
    assert_eq!(metric(&srv, "strangers_resumed_total").await, 1.0);
    // The token was spent: a replay is refused and changes nothing.
    let (_thief, welcome) = resume(&srv, &ta).await;
    assert!(refused(&welcome), "a replayed token was taken: {welcome}");
    a2.send(r#"{"type":"chat","text":"still you"}"#).await;
    assert_eq!(b.expect("chat").await["text"], "still you");
    srv.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_restarted_server_pairs_the_two_again_from_their_tokens() {
    let srv = with_secret("127.0.0.1:0").await;
    let addr = srv.addr().to_string();
    let (mut a, mut b, ta, tb) = pair(&srv).await;
    srv.shutdown().await.unwrap();
    a.closed().await;
    b.closed().await;
    let srv = with_secret(&addr).await;
    let (mut a2, wa) = resume(&srv, &ta).await;
    let (mut b2, wb) = resume(&srv, &tb).await;
    assert_eq!((wa["resumed"].clone(), wb["resumed"].clone()), (json!(true), json!(true)));
    a2.send(r#"{"type":"chat","text":"after the deploy"}"#).await;
    assert_eq!(b2.expect("chat").await["text"], "after the deploy");
    b2.send(r#"{"type":"answer","sdp":"v=0 b"}"#).await;
    assert_eq!(a2.expect("answer").await["sdp"], "v=0 b");
    assert_eq!(metric(&srv, "strangers_matches_total").await, 0.0, "paired by token, not by a match");
    srv.shutdown().await.unwrap();
}

#[tokio::test]
async fn forged_tokens_and_tokens_from_another_secret_are_refused() {
    let srv = with_secret("127.0.0.1:0").await;
    let (_a, _b, ta, _) = pair(&srv).await;
    let mut forged = ta.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let (_c, welcome) = resume(&srv, &forged).await;
    assert!(refused(&welcome), "{welcome}");
    // A server with another secret does not take this one's tokens.
    let other = server_with(|cfg| cfg.resume_secret = Some("another".parse().unwrap())).await;
    let (_d, welcome) = resume(&other, &ta).await;
    assert!(refused(&welcome), "{welcome}");
    // Oversized: refused by the decoder, and the connection stays up.
    let mut e = Client::connect_raw(&srv).await;
    e.send_json(json!({"type": "hello", "version": 1, "resume": "r".repeat(300)})).await;
    e.expect_error("field_too_long").await;
    e.send(HELLO).await;
    e.expect("welcome").await;
    srv.shutdown().await.unwrap();
    other.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_that_closes_its_connection_has_left_and_the_partner_hears_at_once() {
    let srv = with_secret("127.0.0.1:0").await;
    let (a, mut b, _, _) = pair(&srv).await;
    drop(a); // its process exited: the TCP connection closes (a FIN), without a close frame
    assert_eq!(b.expect("partner_left").await["reason"], "disconnected");
    srv.shutdown().await.unwrap();
}

#[tokio::test]
async fn with_a_zero_window_a_dropped_connection_ends_the_call_at_once() {
    let srv = server_with(|cfg| cfg.resume_window = Duration::ZERO).await;
    let (a, mut b) = matched_pair(&srv).await;
    drop(a);
    assert_eq!(b.expect("partner_left").await["reason"], "disconnected");
    srv.shutdown().await.unwrap();
}
