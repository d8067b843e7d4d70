//! Command-line and environment configuration (clap, with `STRANGERS_*` fallbacks).

mod cluster;
mod safety;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use strangers_shared::IceServer;

use crate::core::resume::ResumeConfig;
use crate::core::safety::Keyer;
use crate::core::turn::TurnConfig;
use crate::core::{CoreConfig, RateLimit, SkipLimit};
pub use cluster::ClusterArgs;
pub use safety::SafetyArgs;

/// The Strangers signal server: random matchmaking, rooms and WebRTC signaling over WebSocket.
///
/// Every flag can also be set through the environment variable shown with it. Durations accept
/// `500ms`, `5s`, `2m`, `1h` or a plain number of seconds.
#[derive(Debug, Clone, Parser)]
#[command(name = "signal-server", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on for WebSocket (at `/`) and HTTP (`/healthz`, `/metrics`).
    #[arg(long, env = "STRANGERS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// STUN server URL announced to clients in `welcome` (repeat or comma-separate for several),
    /// e.g. `stun:stun.example.org:3478`. Without one, clients use host candidates only.
    #[arg(long = "stun", env = "STRANGERS_STUN", value_delimiter = ',')]
    pub stun: Vec<String>,

    /// TURN server URL announced to clients in `welcome` with credentials made for each
    /// connection from --turn-secret (repeat or comma-separate for several), e.g.
    /// `turn:turn.example.org:3478?transport=udp`. The TURN server must check them with the same
    /// secret (coturn: `use-auth-secret`, `static-auth-secret=…`).
    #[arg(long = "turn", env = "STRANGERS_TURN", value_delimiter = ',', requires = "turn_secret")]
    pub turn: Vec<String>,

    /// The secret shared with the TURN servers (never logged, never in /metrics).
    #[arg(long, env = "STRANGERS_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<Secret>,

    /// How long the TURN credentials in a `welcome` stay valid.
    #[arg(long, env = "STRANGERS_TURN_TTL", default_value = "1h", value_parser = parse_positive_duration)]
    pub turn_ttl: Duration,

    /// The secret resume tokens are signed with (never logged). Give every process of a
    /// deployment the same one, and a restart (a deploy) does not end the calls in progress:
    /// both partners reconnect, present their tokens and are paired again. Without it a random
    /// secret is made at start, and tokens work only until the process ends.
    #[arg(long, env = "STRANGERS_RESUME_SECRET", hide_env_values = true)]
    pub resume_secret: Option<Secret>,

    /// How long a client whose connection dropped mid-call keeps its call (its partner hears
    /// `partner_left` only after this); also how long a client resuming after a restart waits
    /// for its partner. 0 turns resumption off.
    #[arg(long, env = "STRANGERS_RESUME_WINDOW", default_value = "15s", value_parser = parse_duration)]
    pub resume_window: Duration,

    /// Most simultaneous WebSocket connections; more upgrades get HTTP 503. Up to 64 sockets more
    /// are kept for plain HTTP and handshakes in progress, so `/healthz` and `/metrics` answer
    /// even at the cap.
    #[arg(long, env = "STRANGERS_MAX_CONNECTIONS", default_value_t = 16_384, value_parser = at_least::<usize>(1))]
    pub max_connections: usize,

    /// Browser origins allowed to connect (comma-separated). Empty allows any; requests without
    /// an `Origin` header (native clients) are always allowed.
    #[arg(long, env = "STRANGERS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Largest WebSocket message accepted, in bytes; larger ones close the connection (1009).
    #[arg(long, env = "STRANGERS_MAX_MESSAGE_BYTES", default_value_t = strangers_shared::limits::MAX_FRAME_BYTES,
          value_parser = at_least::<usize>(1024))]
    pub max_message_bytes: usize,

    /// Per-connection read buffer, in bytes (at least 64). Small keeps idle connections cheap.
    #[arg(long, env = "STRANGERS_READ_BUFFER_BYTES", default_value_t = 256, value_parser = at_least::<usize>(64))]
    pub read_buffer_bytes: usize,

    /// Frames that may wait for one slow reader before it is disconnected (1008).
    #[arg(long, env = "STRANGERS_OUTBOUND_FRAMES", default_value_t = 256, value_parser = at_least::<usize>(1))]
    pub outbound_frames: usize,

    /// Bytes that may wait for one slow reader before it is disconnected (1008); at least 1024.
    #[arg(long, env = "STRANGERS_OUTBOUND_BYTES", default_value_t = 512 * 1024, value_parser = at_least::<usize>(1024))]
    pub outbound_bytes: usize,

    /// Messages a client may send in a burst.
    #[arg(long, env = "STRANGERS_RATE_BURST", default_value_t = 60, value_parser = at_least::<u32>(1))]
    pub rate_burst: u32,

    /// Sustained messages per second per client (relayed ICE candidates count).
    #[arg(long, env = "STRANGERS_RATE_PER_SEC", default_value_t = 30, value_parser = at_least::<u32>(1))]
    pub rate_per_sec: u32,

    /// Over-limit messages in a row that disconnect a client (1008): the first N-1 are dropped
    /// with `error rate_limited`, the Nth closes the connection. Any accepted message resets it.
    #[arg(long, env = "STRANGERS_RATE_MAX_STRIKES", default_value_t = 20, value_parser = at_least::<u32>(1))]
    pub rate_max_strikes: u32,

    /// Time allowed from TCP accept to a completed WebSocket (or TLS) handshake.
    #[arg(long, env = "STRANGERS_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub handshake_timeout: Duration,

    /// How often the server pings each client.
    #[arg(long, env = "STRANGERS_PING_INTERVAL", default_value = "20s", value_parser = parse_positive_duration)]
    pub ping_interval: Duration,

    /// A client silent this long (no frame, no pong) is considered dead and disconnected. Must be
    /// longer than --ping-interval, or healthy idle clients would be dropped before any ping.
    #[arg(long, env = "STRANGERS_IDLE_TIMEOUT", default_value = "45s", value_parser = parse_positive_duration)]
    pub idle_timeout: Duration,

    /// A searcher silent this long (its pings go unanswered: a frozen or suspended client) is
    /// disconnected, so it leaves the queue instead of being matched; searchers are pinged every
    /// third of it.
    #[arg(long, env = "STRANGERS_SEARCHER_TIMEOUT", default_value = "6s", value_parser = parse_positive_duration)]
    pub searcher_timeout: Duration,

    /// How long a searcher with interests waits for a common interest before anyone will do.
    #[arg(long, env = "STRANGERS_INTEREST_FALLBACK", default_value = "5s", value_parser = parse_duration)]
    pub interest_fallback: Duration,

    /// How long two strangers who parted with Next are kept apart even when nobody else is
    /// searching (while anyone else is, they are kept apart anyway).
    #[arg(long, env = "STRANGERS_REMATCH_COOLDOWN", default_value = "3s", value_parser = parse_duration)]
    pub rematch_cooldown: Duration,

    /// How long two strangers whose call could not be connected (a client's `next` with reason
    /// `failed`) are kept apart, even when nobody else is searching.
    #[arg(long, env = "STRANGERS_FAILED_COOLDOWN", default_value = "5m", value_parser = parse_duration)]
    pub failed_cooldown: Duration,

    /// Skips (Next in a call) a client may make within --skip-window before it is paused for
    /// --skip-cooldown (`error slow_down`); 0 turns the limit off.
    #[arg(long, env = "STRANGERS_SKIP_LIMIT", default_value_t = 20)]
    pub skip_limit: u32,

    /// The window --skip-limit counts skips over.
    #[arg(long, env = "STRANGERS_SKIP_WINDOW", default_value = "60s", value_parser = parse_positive_duration)]
    pub skip_window: Duration,

    /// How long a client that skips past --skip-limit is paused.
    #[arg(long, env = "STRANGERS_SKIP_COOLDOWN", default_value = "30s", value_parser = parse_duration)]
    pub skip_cooldown: Duration,

    /// How often a searcher gets a `waiting` update (online count, searchers in its mode).
    #[arg(long, env = "STRANGERS_WAITING_INTERVAL", default_value = "2s", value_parser = parse_positive_duration)]
    pub waiting_interval: Duration,

    /// Default capacity of a group (mesh) room.
    #[arg(long, env = "STRANGERS_ROOM_CAPACITY", default_value_t = 4,
          value_parser = clap::value_parser!(u8).range(2..=8))]
    pub room_capacity: u8,

    /// Time allowed on SIGTERM/SIGINT for clients to take their close (1001) before exit.
    #[arg(long, env = "STRANGERS_SHUTDOWN_GRACE", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Worker threads: 1 runs everything on one thread (the least CPU per session, because no
    /// wake-up crosses threads); 0 uses one per core.
    #[arg(long, env = "STRANGERS_THREADS", default_value_t = 1)]
    pub threads: usize,

    /// PEM certificate chain; with --tls-key the server speaks wss:// and https://.
    #[arg(long, env = "STRANGERS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "STRANGERS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Safety: terms, bans, the store, admin.
    #[command(flatten)]
    pub safety: SafetyArgs,

    /// Several nodes over Redis.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

impl Config {
    /// The defaults, listening on `listen` (for tests and embedding).
    pub fn local(listen: SocketAddr) -> Self {
        let mut cfg = Self::parse_from(["signal-server"]);
        cfg.listen = listen;
        // Embedded servers and tests keep safety in memory unless asked otherwise.
        cfg.safety.in_memory = true;
        cfg
    }

    /// Checks that involve more than one flag (each flag's own range is checked while parsing).
    pub fn check(&self) -> Result<(), String> {
        if self.idle_timeout <= self.ping_interval {
            return Err(format!(
                "--idle-timeout ({:?}) must be longer than --ping-interval ({:?}), or idle clients are \
                 dropped before they are pinged",
                self.idle_timeout, self.ping_interval
            ));
        }
        Ok(())
    }

    /// The part of the configuration the sans-IO core needs.
    pub fn core(&self) -> CoreConfig {
        let ice_servers = if self.stun.is_empty() {
            Vec::new()
        } else {
            vec![IceServer { urls: self.stun.clone(), username: None, credential: None }]
        };
        CoreConfig {
            interest_fallback: self.interest_fallback,
            rematch_cooldown: self.rematch_cooldown,
            failed_cooldown: self.failed_cooldown,
            waiting_interval: self.waiting_interval,
            room_capacity: self.room_capacity,
            rate: RateLimit { burst: self.rate_burst, per_sec: self.rate_per_sec, max_strikes: self.rate_max_strikes },
            skip_limit: SkipLimit { max: self.skip_limit, window: self.skip_window, cooldown: self.skip_cooldown },
            ice_servers,
            turn: self
                .turn_secret
                .as_ref()
                .filter(|_| !self.turn.is_empty())
                .map(|secret| TurnConfig::new(self.turn.clone(), secret.0.as_bytes(), self.turn_ttl)),
            resume: (!self.resume_window.is_zero()).then(|| {
                let secret = match &self.resume_secret {
                    Some(s) => s.0.as_bytes().to_vec(),
                    None => rand::random::<[u8; 32]>().to_vec(),
                };
                ResumeConfig::new(&secret, self.resume_window, RESUME_TOKEN_TTL, rand::random())
            }),
            safety: self.safety.core(),
            keyer: Keyer::new(&match &self.safety.ban_secret {
                Some(s) => s.0.as_bytes().to_vec(),
                None => rand::random::<[u8; 32]>().to_vec(),
            }),
            ..CoreConfig::default()
        }
    }
}

/// How long a resume token is valid: a call can be resumed for this long after its token was
/// issued (at the match, or at the last resume).
pub const RESUME_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// A secret given on the command line or in the environment; its `Debug` output is redacted, so
/// printing the configuration never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl std::str::FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(Self(s.to_string()))
    }
}

impl Secret {
    /// The secret itself (to use it, never to print it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A value parser for integers of at least `min`, with a message that says so.
pub fn at_least<T>(min: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |s: &str| {
        let value: T = s.trim().parse().map_err(|_| format!("{s:?} is not a whole number"))?;
        if value < min {
            return Err(format!("must be at least {min}, not {value}"));
        }
        Ok(value)
    }
}

/// [`parse_duration`], refusing zero (for timeouts and intervals, where zero makes no sense).
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("must be longer than zero".to_string());
    }
    Ok(d)
}

/// Parse `250ms`, `5s`, `2m`, `1h` or a bare number of seconds (fractions allowed).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = num.trim().parse().map_err(|_| format!("{s:?} is not a duration like 500ms, 5s or 2m"))?;
    if !value.is_finite() || value < 0.0 || value * scale > 86_400.0 * 365.0 {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("NaN").is_err());
    }

    #[test]
    fn defaults_match_the_documentation() {
        let cfg = Config::local("127.0.0.1:0".parse().unwrap());
        assert_eq!(cfg.max_message_bytes, 64 * 1024);
        assert_eq!(cfg.handshake_timeout, Duration::from_secs(10));
        assert_eq!(cfg.ping_interval, Duration::from_secs(20));
        assert_eq!(cfg.idle_timeout, Duration::from_secs(45));
        assert_eq!(cfg.interest_fallback, Duration::from_secs(5));
        assert_eq!(cfg.room_capacity, 4);
        assert_eq!(cfg.waiting_interval, Duration::from_secs(2));
        assert_eq!(cfg.core().waiting_interval, Duration::from_secs(2));
        assert!(cfg.core().ice_servers.is_empty());
        assert_eq!(cfg.check(), Ok(()));
    }

    /// The error clap gives for `args`, or a note that they were accepted.
    fn refusal(args: &[&str]) -> String {
        let argv = std::iter::once("signal-server").chain(args.iter().copied());
        match Config::try_parse_from(argv) {
            Ok(_) => format!("{args:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn zero_and_nonsense_values_are_refused_with_a_reason() {
        for (flag, value, reason) in [
            ("--max-connections", "0", "must be at least 1, not 0"),
            ("--outbound-frames", "0", "must be at least 1, not 0"),
            ("--outbound-bytes", "10", "must be at least 1024, not 10"),
            ("--max-message-bytes", "0", "must be at least 1024, not 0"),
            ("--read-buffer-bytes", "8", "must be at least 64, not 8"),
            ("--rate-burst", "0", "must be at least 1, not 0"),
            ("--rate-per-sec", "0", "must be at least 1, not 0"),
            ("--rate-max-strikes", "0", "must be at least 1, not 0"),
            ("--rate-max-strikes", "2.5", "is not a whole number"),
            ("--idle-timeout", "0", "must be longer than zero"),
            ("--ping-interval", "0s", "must be longer than zero"),
            ("--handshake-timeout", "0ms", "must be longer than zero"),
            ("--waiting-interval", "0", "must be longer than zero"),
            ("--waiting-interval", "often", "is not a duration"),
        ] {
            let err = refusal(&[flag, value]);
            assert!(err.contains(flag) && err.contains(reason), "{flag} {value}: {err}");
        }
        // Zero is meaningful where it means "none": no cooldown, no grace, no interest wait.
        for flag in ["--rematch-cooldown", "--shutdown-grace", "--interest-fallback"] {
            assert!(Config::try_parse_from(["signal-server", flag, "0"]).is_ok(), "{flag} 0");
        }
    }

    #[test]
    fn an_idle_timeout_not_longer_than_the_ping_interval_is_refused() {
        let parse = |idle: &str| {
            Config::try_parse_from(["signal-server", "--ping-interval", "20s", "--idle-timeout", idle])
                .map_err(|e| e.to_string())
                .and_then(|c| c.check())
        };
        assert_eq!(parse("21s"), Ok(()));
        let err = parse("20s").expect_err("refused");
        assert!(err.contains("--idle-timeout") && err.contains("--ping-interval"), "{err}");
    }

    #[test]
    fn flags_and_stun_list_parse() {
        let cfg = Config::try_parse_from([
            "signal-server",
            "--listen",
            "0.0.0.0:9000",
            "--stun",
            "stun:a:3478,stun:b:3478",
            "--idle-timeout",
            "90s",
            "--waiting-interval",
            "300ms",
        ]);
        let cfg = cfg.map_err(|e| e.to_string());
        assert!(cfg.is_ok(), "{cfg:?}");
        if let Ok(cfg) = cfg {
            assert_eq!(cfg.core().ice_servers[0].urls, ["stun:a:3478", "stun:b:3478"]);
            assert_eq!(cfg.idle_timeout, Duration::from_secs(90));
            assert_eq!(cfg.core().waiting_interval, Duration::from_millis(300));
        }
        assert!(Config::try_parse_from(["signal-server", "--tls-cert", "c.pem"]).is_err(), "cert needs key");
        assert!(Config::try_parse_from(["signal-server", "--room-capacity", "9"]).is_err());
    }

    #[test]
    fn turn_flags_give_each_welcome_its_own_credentials_and_never_show_the_secret() {
        let cfg = Config::try_parse_from([
            "signal-server",
            "--turn",
            "turn:t.example:3478?transport=udp",
            "--turn-secret",
            "s3cr3t-value",
            "--turn-ttl",
            "10m",
        ]);
        let cfg = cfg.map_err(|e| e.to_string());
        assert!(cfg.is_ok(), "{cfg:?}");
        if let Ok(cfg) = cfg {
            assert_eq!(cfg.turn_ttl, Duration::from_secs(600));
            let core = cfg.core();
            let turn = core.turn.as_ref().map(|t| t.ice_server(strangers_shared::PeerId(7), 1000));
            assert_eq!(turn.and_then(|t| t.username), Some("1600:7".to_string()));
            for shown in [format!("{cfg:?}"), format!("{core:?}")] {
                assert!(!shown.contains("s3cr3t"), "the secret leaked into {shown}");
            }
        }
        let err =
            Config::try_parse_from(["signal-server", "--turn", "turn:t:3478"]).map(|_| ()).map_err(|e| e.to_string());
        assert!(err.as_ref().is_err_and(|e| e.contains("--turn-secret")), "--turn needs a secret: {err:?}");
    }
}
