//! Holding back a connection's last frame so that it leaves with the FIN; see [`Cork`].

use tokio::net::TcpStream;

/// A stream over a TCP socket that can hold back what is written next until the socket closes.
///
/// When a peer closes a WebSocket, the server's last act is a close frame followed by the end of
/// the TCP stream. Written normally, that is two segments: the frame, then a FIN, each crossing
/// the network (and waking the peer) on its own. With the socket corked first, the frame waits in
/// the send queue and the kernel sets FIN on that same segment when the socket closes: one packet
/// and one wake-up of the peer instead of two (the write itself is still a system call). The
/// kernel releases corked data after 200 ms at the latest, so a close that is late costs latency,
/// never the frame.
pub trait Cork {
    /// Hold back partial segments from now on (`TCP_CORK`). Best effort: if the socket refuses,
    /// writes simply go out at once as before.
    fn cork(&self);
}

impl Cork for TcpStream {
    fn cork(&self) {
        #[cfg(target_os = "linux")]
        let _ = socket2::SockRef::from(self).set_tcp_cork(true);
    }
}

impl<S: Cork> Cork for tokio_rustls::server::TlsStream<S> {
    fn cork(&self) {
        self.get_ref().0.cork();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::net::readahead::ReadAhead;

    /// A corked socket still delivers everything written before it closes, then the end of the
    /// stream: the cork only delays the segment until the FIN can ride on it.
    #[tokio::test]
    async fn a_corked_socket_delivers_its_last_words_and_then_the_end() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut server = ReadAhead::new(server);
        server.cork();
        let last = b"\x88\x02\x03\xe8"; // a WebSocket close frame, code 1000
        server.write_all(last).await.unwrap();
        server.flush().await.unwrap();
        drop(server);
        let mut got = Vec::new();
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), client.read_to_end(&mut got)).await;
        assert_eq!(n.unwrap().unwrap(), last.len(), "the frame arrives, then end of stream");
        assert_eq!(got, last);
    }
}
