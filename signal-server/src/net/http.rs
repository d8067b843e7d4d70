//! The HTTP side of the port: read one request head, then either answer it (`/healthz`,
//! `/metrics`, errors) or accept a WebSocket upgrade at `/`.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Largest request head accepted.
const MAX_HEAD: usize = 8 * 1024;

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// A valid WebSocket upgrade; `accept` is the `Sec-WebSocket-Accept` value.
    Upgrade {
        /// Value for the `Sec-WebSocket-Accept` header.
        accept: String,
        /// The `Origin` header, if any.
        origin: Option<String>,
    },
    /// `GET /healthz`.
    Health,
    /// `GET /metrics`.
    Metrics,
    /// A request under `/admin/` (see `admin.rs`); answered only with the admin token.
    Admin {
        /// `GET` or `DELETE`.
        method: String,
        /// The path, without the query.
        path: String,
        /// The query string, if any.
        query: Option<String>,
        /// The `Authorization` header, if any.
        auth: Option<String>,
    },
    /// Anything else: answer with this status and text.
    Reject(u16, &'static str),
}

/// Why no request could be read.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The socket failed or closed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The head is larger than allowed.
    #[error("request head too large")]
    TooLarge,
    /// Not HTTP.
    #[error("bad request head: {0}")]
    Parse(#[from] httparse::Error),
}

/// Read one request head. Returns the request and any bytes that followed the head (a client may
/// send its first WebSocket frame without waiting for our 101).
pub async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Result<(Request, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        if buf.len() >= MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(HeadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(len) = req.parse(&buf)? {
            let request = classify(&req);
            return Ok((request, buf.split_off(len)));
        }
    }
}

fn header<'a>(req: &'a httparse::Request<'_, '_>, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
}

fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

fn classify(req: &httparse::Request<'_, '_>) -> Request {
    let path = req.path.unwrap_or("/");
    let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
    if path.starts_with("/admin/") {
        return Request::Admin {
            method: req.method.unwrap_or("").to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            auth: header(req, "authorization").map(str::to_owned),
        };
    }
    if req.method != Some("GET") {
        return Request::Reject(405, "only GET is supported\n");
    }
    match path {
        "/healthz" => return Request::Health,
        "/metrics" => return Request::Metrics,
        "/" | "/ws" => {}
        _ => return Request::Reject(404, "not found; the WebSocket endpoint is /\n"),
    }
    let upgrade = has_token(header(req, "upgrade"), "websocket") && has_token(header(req, "connection"), "upgrade");
    if !upgrade {
        return Request::Reject(426, "this is the Strangers signal server: connect with a WebSocket client\n");
    }
    if header(req, "sec-websocket-version") != Some("13") {
        return Request::Reject(400, "Sec-WebSocket-Version must be 13\n");
    }
    match header(req, "sec-websocket-key") {
        Some(key) if !key.is_empty() => Request::Upgrade {
            accept: derive_accept_key(key.as_bytes()),
            origin: header(req, "origin").map(str::to_owned),
        },
        _ => Request::Reject(400, "missing Sec-WebSocket-Key\n"),
    }
}

/// Write a complete plain HTTP response and close the write side.
pub async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// The 101 response head that completes a WebSocket upgrade.
pub fn switch_protocols(accept: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(raw: &str) -> Request {
        let mut input = raw.as_bytes();
        read_request(&mut input).await.map(|(r, _)| r).unwrap()
    }

    #[tokio::test]
    async fn upgrade_at_root_computes_the_rfc_accept_key() {
        let raw = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://a\r\n\r\n";
        assert_eq!(
            parse(raw).await,
            Request::Upgrade { accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(), origin: Some("http://a".into()) }
        );
    }

    #[tokio::test]
    async fn routes_and_rejections() {
        assert_eq!(parse("GET /healthz HTTP/1.1\r\n\r\n").await, Request::Health);
        assert_eq!(parse("GET /metrics?x=1 HTTP/1.1\r\n\r\n").await, Request::Metrics);
        assert!(matches!(parse("GET /nope HTTP/1.1\r\n\r\n").await, Request::Reject(404, _)));
        assert!(matches!(parse("POST / HTTP/1.1\r\n\r\n").await, Request::Reject(405, _)));
        assert!(matches!(parse("GET / HTTP/1.1\r\n\r\n").await, Request::Reject(426, _)));
        let no_key = "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
        assert!(matches!(parse(no_key).await, Request::Reject(400, _)));
    }

    #[tokio::test]
    async fn bytes_after_the_head_are_kept_and_garbage_is_an_error() {
        let mut input: &[u8] = b"GET /healthz HTTP/1.1\r\n\r\nEXTRA";
        let (req, rest) = read_request(&mut input).await.unwrap();
        assert_eq!((req, rest), (Request::Health, b"EXTRA".to_vec()));
        let mut garbage: &[u8] = b"\x16\x03\x01 binary junk\r\n\r\n";
        assert!(read_request(&mut garbage).await.is_err());
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(matches!(read_request(&mut big.as_bytes()).await, Err(HeadError::TooLarge)));
        let mut cut: &[u8] = b"GET / HTTP/1.1\r\n";
        assert!(matches!(read_request(&mut cut).await, Err(HeadError::Io(_))));
    }
}
