//! The early-DTLS shelf on real UDP sockets: what arrives in the DTLS range before the gate
//! opens is kept, in order and within bounds, and delivered the moment the gate opens; anything
//! else passes at once.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use strangers_client::call::early_dtls::{Gate, HELD_BYTES, HELD_MAX, HoldingSocket};
use webrtc::runtime::{AsyncUdpSocket, Runtime, TokioRuntime};

const CLIENT_HELLO: u8 = 22; // DTLS handshake record
const STUN: u8 = 0; // a STUN binding request starts with 0x00 0x01

/// A holding socket on 127.0.0.1 and a plain socket to send to it from.
fn pair(gate: &Arc<Gate>) -> (HoldingSocket, UdpSocket) {
    let ours = UdpSocket::bind("127.0.0.1:0").expect("bind ours");
    let inner = TokioRuntime.wrap_udp_socket(ours).expect("wrap");
    let partner = UdpSocket::bind("127.0.0.1:0").expect("bind partner");
    partner.connect(inner.local_addr().expect("addr")).expect("connect");
    (HoldingSocket::new(inner, gate.clone()), partner)
}

fn datagram(first: u8, tag: u8, len: usize) -> Vec<u8> {
    let mut d = vec![tag; len];
    d[0] = first;
    d
}

/// The next datagram, or None if none comes within `wait`.
async fn next(socket: &HoldingSocket, wait: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(wait, socket.recv_from(&mut buf)).await.ok()?.expect("recv");
    Some(buf[..n].to_vec())
}

#[tokio::test]
async fn dtls_waits_for_the_gate_and_stun_does_not() {
    let gate = Arc::new(Gate::default());
    let (socket, partner) = pair(&gate);
    partner.send(&datagram(CLIENT_HELLO, 1, 200)).expect("send");
    partner.send(&datagram(STUN, 2, 40)).expect("send");
    // The STUN datagram passes; the hello that came before it is kept.
    assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(STUN, 2, 40)));
    assert_eq!(next(&socket, Duration::from_millis(200)).await, None);
    assert_eq!(gate.held(), 1);

    // Opening the gate wakes a receive that is already waiting, with no new datagram.
    let opener = {
        let gate = gate.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            gate.open();
        })
    };
    assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(CLIENT_HELLO, 1, 200)));
    opener.await.expect("opener");

    // Open: DTLS passes straight through.
    partner.send(&datagram(CLIENT_HELLO, 3, 100)).expect("send");
    assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(CLIENT_HELLO, 3, 100)));
    assert_eq!(socket.dropped(), 0);
}

#[tokio::test]
async fn a_flood_before_the_gate_keeps_only_the_first_few() {
    let gate = Arc::new(Gate::default());
    let (socket, partner) = pair(&gate);
    for tag in 0..20u8 {
        partner.send(&datagram(CLIENT_HELLO, tag, 300)).expect("send");
    }
    partner.send(&datagram(STUN, 99, 40)).expect("send");
    // Reading the STUN datagram sets every hello before it aside (or drops it).
    assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(STUN, 99, 40)));
    assert_eq!(gate.held(), HELD_MAX);
    assert_eq!(socket.dropped(), 20 - HELD_MAX as u64);
    gate.open();
    for tag in 0..HELD_MAX as u8 {
        assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(CLIENT_HELLO, tag, 300)), "in order");
    }
    assert_eq!(next(&socket, Duration::from_millis(200)).await, None);
}

#[tokio::test]
async fn big_datagrams_are_bounded_by_bytes() {
    let gate = Arc::new(Gate::default());
    let (socket, partner) = pair(&gate);
    let size = 3000;
    for tag in 0..HELD_MAX as u8 {
        partner.send(&datagram(CLIENT_HELLO, tag, size)).expect("send");
    }
    partner.send(&datagram(STUN, 99, 40)).expect("send");
    assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(STUN, 99, 40)));
    let fit = HELD_BYTES / size;
    assert!(fit < HELD_MAX);
    assert_eq!(gate.held(), fit);
    assert_eq!(socket.dropped(), (HELD_MAX - fit) as u64);
}

#[tokio::test]
async fn media_and_turn_framing_pass_while_shut() {
    let gate = Arc::new(Gate::default());
    let (socket, partner) = pair(&gate);
    // RFC 7983: 64-79 TURN ChannelData, 128-191 RTP/RTCP. Neither is DTLS.
    for first in [64u8, 79, 128, 191, 19] {
        partner.send(&datagram(first, 7, 60)).expect("send");
        assert_eq!(next(&socket, Duration::from_secs(2)).await, Some(datagram(first, 7, 60)));
    }
    assert_eq!(gate.held(), 0);
}
