//! What a stranger learns of our addresses. A host candidate is the machine's own address on
//! its network (a LAN address such as 192.168.1.20, or a public one without a NAT): it says
//! which network a person is on and helps nobody reach them unless both sit on the same LAN.
//! So in random calls with a STUN or TURN server at hand, host candidates are gathered and used
//! for checks as usual but never signalled: the partner sees the NAT's address (server- or
//! peer-reflexive) or the relay's. If the server gives us nothing to show in time (it does not
//! answer), the host candidates go out after all: a call matters more than this. And every
//! candidate we signal has its related address
//! (`raddr`/`rport`: the host address behind a server-reflexive candidate, the public address
//! behind a relayed one) zeroed, as browsers do; ICE does not use it, and in relay-only mode it
//! would otherwise give away exactly what the mode hides.
//!
//! webrtc-rs 0.21.1's mDNS host candidates are no alternative: its `QueryAndGather` mode hides a
//! single IPv4 address, and a partner could only use such a name on the same LAN anyway. The
//! engine keeps mDNS disabled.

/// Whether `servers` include a TURN relay this engine can use (webrtc-rs 0.21.1 relays over UDP
/// only: `turns:` and `?transport=tcp` URLs are skipped).
pub fn has_udp_turn(servers: &[strangers_shared::IceServer]) -> bool {
    servers.iter().flat_map(|s| &s.urls).any(|u| u.starts_with("turn:") && !u.contains("transport=tcp"))
}

/// The type of an ICE candidate line (`candidate:… typ host …`, with or without `a=`): `host`,
/// `srflx`, `prflx` or `relay`.
pub fn candidate_type(candidate: &str) -> Option<&str> {
    candidate.split_ascii_whitespace().skip_while(|w| *w != "typ").nth(1)
}

/// Whether an ICE candidate line is a host candidate.
pub fn is_host(candidate: &str) -> bool {
    candidate_type(candidate) == Some("host")
}

/// A candidate line as we let a stranger see it: `None` for a host candidate when `hide_host`,
/// otherwise the line with its related address zeroed.
pub fn shown(candidate: &str, hide_host: bool) -> Option<String> {
    if hide_host && is_host(candidate) {
        return None;
    }
    let end = candidate.trim_end_matches(['\r', '\n']);
    let mut words: Vec<&str> = end.split(' ').collect();
    for i in 0..words.len().saturating_sub(1) {
        match words[i] {
            "raddr" => words[i + 1] = "0.0.0.0",
            "rport" => words[i + 1] = "0",
            _ => {}
        }
    }
    Some(format!("{}{}", words.join(" "), &candidate[end.len()..]))
}

/// A session description as we let a stranger see it: its candidate lines passed through
/// [`shown`].
pub fn shown_sdp(sdp: &str, hide_host: bool) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("a=candidate:") {
            if let Some(line) = shown(line, hide_host) {
                out.push_str(&line);
            }
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_udp_turn_server_counts_as_a_relay() {
        let server =
            |url: &str| strangers_shared::IceServer { urls: vec![url.into()], username: None, credential: None };
        assert!(has_udp_turn(&[server("stun:a:3478"), server("turn:a:3478?transport=udp")]));
        assert!(has_udp_turn(&[server("turn:a:3478")]));
        assert!(!has_udp_turn(&[server("stun:a:3478")]));
        assert!(!has_udp_turn(&[server("turns:a:5349"), server("turn:a:3478?transport=tcp")]));
        assert!(!has_udp_turn(&[]));
    }

    #[test]
    fn host_candidates_are_recognised_by_their_type_only() {
        assert!(is_host("candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host"));
        assert!(is_host("a=candidate:1 1 udp 2130706431 10.0.0.2 50000 typ host generation 0\r\n"));
        assert!(!is_host("candidate:2 1 udp 1694498815 203.0.113.9 40000 typ srflx raddr 0.0.0.0 rport 0"));
        assert!(!is_host("candidate:3 1 udp 16777215 203.0.113.1 49152 typ relay raddr 203.0.113.9 rport 40000"));
        // A host name that happens to be "host" is not a type.
        assert!(!is_host("candidate:4 1 udp 1 host 50000 typ prflx"));
        assert!(!is_host(""));
        assert!(!is_host("typ"));
    }

    #[test]
    fn related_addresses_are_zeroed_and_host_candidates_hidden_on_request() {
        let relay = "candidate:3 1 udp 16777215 203.0.113.1 49152 typ relay raddr 203.0.113.9 rport 40000";
        assert_eq!(
            shown(relay, true).as_deref(),
            Some("candidate:3 1 udp 16777215 203.0.113.1 49152 typ relay raddr 0.0.0.0 rport 0")
        );
        let host = "candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host";
        assert_eq!(shown(host, true), None);
        assert_eq!(shown(host, false).as_deref(), Some(host));
        assert_eq!(shown("raddr", false).as_deref(), Some("raddr"), "a dangling keyword is left alone");
    }

    #[test]
    fn only_candidate_lines_change_in_a_description() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\n\
                   a=candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host\r\n\
                   a=candidate:2 1 udp 1694498815 203.0.113.9 40000 typ srflx raddr 192.168.1.20 rport 50000\r\n\
                   a=end-of-candidates\r\n";
        let out = shown_sdp(sdp, true);
        assert!(!out.contains("192.168.1.20"), "{out}");
        assert!(out.contains("typ srflx raddr 0.0.0.0 rport 0\r\n") && out.ends_with("a=end-of-candidates\r\n"));
        assert!(out.starts_with("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\n"));
        assert_eq!(out.lines().count(), sdp.lines().count() - 1);
        let kept = shown_sdp(sdp, false);
        assert!(kept.contains("192.168.1.20 50000 typ host") && !kept.contains("raddr 192.168.1.20"));
    }
}
