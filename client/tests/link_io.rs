//! A peer connection's sockets (`call::link_io`) on real UDP sockets: what arrives in the DTLS
//! range before ICE has a path is kept, in order and within bounds, and delivered the moment it
//! has one, while anything else passes at once; and an unsettled connection's socket wakes its
//! reader every tick with an empty datagram, a settled one never.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use strangers_client::call::early_dtls::{HELD_BYTES, HELD_MAX};
use strangers_client::call::link_io::{LinkIo, LinkSocket, TICK};
use webrtc::runtime::{AsyncUdpSocket, Runtime, TokioRuntime};

const CLIENT_HELLO: u8 = 22; // DTLS handshake record
const STUN: u8 = 0; // a STUN binding request starts with 0x00 0x01

/// Link state for the shelf tests: not yet settled would tick, so settled.
fn quiet_io() -> Arc<LinkIo> {
    let io = Arc::new(LinkIo::default());
    io.set_settled(true);
    io
}

/// A link socket on 127.0.0.1 and a plain socket to send to it from.
fn pair(io: &Arc<LinkIo>) -> (LinkSocket, UdpSocket) {
    let ours = UdpSocket::bind("127.0.0.1:0").expect("bind ours");
    let inner = TokioRuntime.wrap_udp_socket(ours).expect("wrap");
    let partner = UdpSocket::bind("127.0.0.1:0").expect("bind partner");
    partner.connect(inner.local_addr().expect("addr")).expect("connect");
    (LinkSocket::new(inner, io.clone()), partner)
}

fn datagram(first: u8, tag: u8, len: usize) -> Vec<u8> {
    let mut d = vec![tag; len];
    d[0] = first;
    d
}

/// The next datagram, or None if none comes within `wait`.
async fn next(socket: &LinkSocket, wait: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(wait, socket.recv_from(&mut buf)).await.ok()?.expect("recv");
    Some(buf[..n].to_vec())
}

#[tokio::test]
async fn dtls_waits_for_a_path_and_stun_does_not() {
    let io = quiet_io();
    let (socket, partner) = pair(&io);
    partner.send(&datagram(CLIENT_HELLO, 1, 200)).expect("send");
    partner.send(&datagram(STUN, 2, 40)).expect("send");
    // The STUN datagram passes; the hello that came before it is kept.
    assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(STUN, 2, 40)));
    assert_eq!(next(&socket, Duration::from_millis(200)).await, None);
    assert_eq!(io.held(), 1);

    // The path opening wakes a receive that is already waiting, with no new datagram.
    let opener = {
        let io = io.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            io.open_path();
        })
    };
    assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(CLIENT_HELLO, 1, 200)));
    opener.await.expect("opener");

    // With a path, DTLS passes straight through.
    partner.send(&datagram(CLIENT_HELLO, 3, 100)).expect("send");
    assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(CLIENT_HELLO, 3, 100)));
    assert_eq!(socket.dropped(), 0);
}

#[tokio::test]
async fn a_flood_before_a_path_keeps_only_the_first_few() {
    let io = quiet_io();
    let (socket, partner) = pair(&io);
    for tag in 0..20u8 {
        partner.send(&datagram(CLIENT_HELLO, tag, 300)).expect("send");
    }
    partner.send(&datagram(STUN, 99, 40)).expect("send");
    // Reading the STUN datagram sets every hello before it aside (or drops it).
    assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(STUN, 99, 40)));
    assert_eq!(io.held(), HELD_MAX);
    assert_eq!(socket.dropped(), 20 - HELD_MAX as u64);
    io.open_path();
    for tag in 0..HELD_MAX as u8 {
        assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(CLIENT_HELLO, tag, 300)), "in order");
    }
    assert_eq!(next(&socket, Duration::from_millis(200)).await, None);
}

#[tokio::test]
async fn big_datagrams_are_bounded_by_bytes() {
    let io = quiet_io();
    let (socket, partner) = pair(&io);
    let size = 3000;
    for tag in 0..HELD_MAX as u8 {
        partner.send(&datagram(CLIENT_HELLO, tag, size)).expect("send");
    }
    partner.send(&datagram(STUN, 99, 40)).expect("send");
    assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(STUN, 99, 40)));
    let fit = HELD_BYTES / size;
    assert!(fit < HELD_MAX);
    assert_eq!(io.held(), fit);
    assert_eq!(socket.dropped(), (HELD_MAX - fit) as u64);
}

#[tokio::test]
async fn media_and_turn_framing_pass_while_shut() {
    let io = quiet_io();
    let (socket, partner) = pair(&io);
    // RFC 7983: 64-79 TURN ChannelData, 128-191 RTP/RTCP. Neither is DTLS.
    for first in [64u8, 79, 128, 191, 19] {
        partner.send(&datagram(first, 7, 60)).expect("send");
        assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(first, 7, 60)));
    }
    assert_eq!(io.held(), 0);
}

#[tokio::test]
async fn an_unsettled_link_ticks_and_a_settled_one_does_not() {
    let io = Arc::new(LinkIo::default());
    let (socket, partner) = pair(&io);
    // Unsettled: empty datagrams, about one per tick, with nothing sent.
    let start = tokio::time::Instant::now();
    let mut ticks = 0;
    while start.elapsed() < TICK * 20 {
        let got = next(&socket, TICK * 20).await.expect("a tick");
        assert!(got.is_empty(), "only ticks arrive: {got:?}");
        ticks += 1;
    }
    assert!((2..=21).contains(&ticks), "{ticks} ticks in 20 tick periods");
    // A real datagram still gets through between ticks.
    partner.send(&datagram(STUN, 5, 40)).expect("send");
    let mut got = next(&socket, Duration::from_secs(2)).await.expect("recv");
    while got.is_empty() {
        got = next(&socket, Duration::from_secs(2)).await.expect("recv");
    }
    assert_eq!(got, datagram(STUN, 5, 40));
    // Settled: silence.
    io.set_settled(true);
    let _ = next(&socket, TICK * 2).await; // a tick already due may still come
    assert_eq!(next(&socket, TICK * 20).await, None);
    // Unsettled again (a lost path): ticking again.
    io.set_settled(false);
    assert_eq!(next(&socket, TICK * 20).await, Some(Vec::new()));
}

#[tokio::test]
async fn ticking_again_wakes_a_receive_already_waiting() {
    let io = quiet_io();
    let (socket, _partner) = pair(&io);
    let socket = Arc::new(socket);
    // Settled for a while: any timer left from before has fired and is not re-armed.
    assert_eq!(next(&socket, TICK * 4).await, None);
    let waiting = {
        let socket = socket.clone();
        tokio::spawn(async move { next(&socket, Duration::from_secs(2)).await })
    };
    tokio::time::sleep(TICK * 4).await; // the receive is parked now
    io.set_settled(false);
    assert_eq!(waiting.await.expect("receive"), Some(Vec::new()), "a tick, without a new datagram");
}

#[tokio::test]
async fn kept_dtls_comes_before_ticks_and_a_repeat_is_kept_once() {
    let io = Arc::new(LinkIo::default()); // unsettled: ticking
    let (socket, partner) = pair(&io);
    let hello = datagram(CLIENT_HELLO, 1, 200);
    partner.send(&hello).expect("send");
    partner.send(&hello).expect("send"); // a retransmission of the same hello
    partner.send(&datagram(STUN, 2, 40)).expect("send");
    let mut got = next(&socket, Duration::from_secs(2)).await.expect("recv");
    while got.is_empty() {
        got = next(&socket, Duration::from_secs(2)).await.expect("recv");
    }
    assert_eq!(got, datagram(STUN, 2, 40));
    assert_eq!((io.held(), socket.dropped()), (1, 1), "the repeat is not kept twice");
    // Ticks keep coming while there is no path, and the hello stays kept.
    assert_eq!(next(&socket, TICK * 20).await, Some(Vec::new()));
    io.open_path();
    assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(hello), "before any tick");
    assert_eq!(io.held(), 0);
}
