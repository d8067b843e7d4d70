//! Relaying between partners and room members: WebRTC signaling, chat, typing and media state.
//! The server picks every recipient; nothing a client sends can reach outside its pair or room.

use strangers_shared::{ErrorCode, PeerId, Relay, ServerMsg, check_unique_keys, encode};

use super::rooms::RoomKind;
use super::{Core, State, TextFrame};

/// Which signaling message is being relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Offer,
    Answer,
    Candidate,
}

/// Who a relayed message goes to.
enum Target {
    /// The random partner; `from` is implicit.
    Partner(PeerId),
    /// The other members of the sender's room.
    Room(RoomKind, Vec<PeerId>),
}

impl Core {
    fn target(&mut self, peer: PeerId) -> Option<Target> {
        if let Some(State::Paired { partner }) = self.peers.get(&peer).map(|p| &p.state) {
            return Some(Target::Partner(*partner));
        }
        let r = self.rooms.get(self.room_of(peer)?)?;
        Some(Target::Room(r.kind, r.others(peer).collect()))
    }

    pub(super) fn relay_signal(&mut self, peer: PeerId, kind: Kind, relay: Relay, frame: TextFrame) {
        match self.target(peer) {
            // Rebuilt from what was parsed, never passed on as sent: a partner cannot add a
            // `from`, a second `type` or any other field the receiving client would trust.
            Some(Target::Partner(partner)) => {
                let Some(msg) = signal_msg(kind, None, relay) else {
                    return self.error(peer, ErrorCode::Malformed, "sdp is required".into());
                };
                self.send_to_partner(peer, partner, TextFrame::text(encode(&msg)));
            }
            Some(Target::Room(RoomKind::Simple, others)) => {
                let in_room = match (&relay.room, self.room_of(peer)) {
                    (Some(asked), Some(room)) => asked == room,
                    _ => true,
                };
                if !in_room {
                    return self.error(peer, ErrorCode::NotInRoom, "that is not your room".into());
                }
                if others.is_empty() {
                    return self.error(peer, ErrorCode::NotPaired, "nobody else is in the room yet".into());
                }
                // This protocol's payloads are the client's own (`offer`, `answer`, … fields), so
                // the frame goes on verbatim; one that a JavaScript client would read differently
                // (a key twice: `JSON.parse` keeps the last) goes nowhere.
                if let Err(e) = check_unique_keys(frame.as_str()) {
                    return self.error(peer, e.code(), e.to_string());
                }
                for id in others {
                    self.send_frame(id, frame.clone());
                }
            }
            Some(Target::Room(RoomKind::Mesh, others)) => {
                let Some(to) = relay.to.filter(|to| others.contains(to)) else {
                    return self.error(
                        peer,
                        ErrorCode::UnknownPeer,
                        "`to` must name another member of your room".into(),
                    );
                };
                let Some(msg) = signal_msg(kind, Some(peer), relay) else {
                    return self.error(peer, ErrorCode::Malformed, "sdp is required".into());
                };
                self.send_frame(to, TextFrame::text(encode(&msg)));
            }
            None => self.error(peer, ErrorCode::NotPaired, "no partner or room to send this to".into()),
        }
    }

    /// Send `msg` to the partner (built with `from: None`) or the room (with `from` set).
    fn relay_app(&mut self, peer: PeerId, build: impl Fn(Option<PeerId>) -> ServerMsg) -> bool {
        match self.target(peer) {
            Some(Target::Partner(partner)) => {
                self.send_to_partner(peer, partner, TextFrame::text(encode(&build(None))));
                true
            }
            Some(Target::Room(_, others)) => {
                let frame = TextFrame::text(encode(&build(Some(peer))));
                for id in others {
                    self.send_frame(id, frame.clone());
                }
                true
            }
            None => false,
        }
    }

    pub(super) fn chat(&mut self, peer: PeerId, text: String) {
        let ts = self.now.unix_ms;
        if !self.relay_app(peer, |from| ServerMsg::Chat { from, text: text.clone(), ts }) {
            self.error(peer, ErrorCode::NotPaired, "nobody to chat with".into());
        }
    }

    pub(super) fn typing(&mut self, peer: PeerId, active: bool) {
        if !self.relay_app(peer, |from| ServerMsg::Typing { from, active }) {
            self.error(peer, ErrorCode::NotPaired, "nobody to show typing to".into());
        }
    }

    /// Media state is remembered (rooms list it for newcomers) and relayed when there is anyone.
    pub(super) fn media_state(&mut self, peer: PeerId, audio: bool, video: bool) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.audio = audio;
            p.video = video;
        } else if let Some(g) = self.ghosts.get_mut(&peer) {
            g.audio = audio;
            g.video = video;
        }
        self.relay_app(peer, |from| ServerMsg::MediaState { from, audio, video });
    }
}

/// The server's own frame for a relayed signaling message, with `from` set by the server (a room
/// member) or absent (the random partner). `None` when an offer or answer has no `sdp`.
fn signal_msg(kind: Kind, from: Option<PeerId>, relay: Relay) -> Option<ServerMsg> {
    match (kind, relay.sdp) {
        (Kind::Offer, Some(sdp)) => Some(ServerMsg::Offer { from, sdp }),
        (Kind::Answer, Some(sdp)) => Some(ServerMsg::Answer { from, sdp }),
        (Kind::Candidate, _) => Some(ServerMsg::Candidate { from, candidate: relay.candidate }),
        (_, None) => None,
    }
}
