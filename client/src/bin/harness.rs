//! `harness`: run headless Strangers clients with synthetic camera and microphone through real
//! calls, verify that media flowed, and report timings (a table, then one `JSON {...}` line).

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use strangers_client::harness::client::ClientOptions;
use strangers_client::harness::scenarios::{self, Options};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scenario {
    /// Pairs call each other for the duration.
    Basic,
    /// Partners rotate with Next presses.
    Skip,
    /// Text chat with typing indicators.
    Chat,
    /// Clients join, call and vanish.
    Churn,
    /// A mesh room of 3–4.
    Room,
}

/// Headless Strangers clients for tests and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "harness", version, about)]
struct Args {
    /// Which scenario to run.
    #[arg(long, value_enum, default_value = "basic")]
    scenario: Scenario,
    /// Signal server URL; without it a server is started in-process on 127.0.0.1 (a free port).
    #[arg(long)]
    server: Option<String>,
    /// Number of clients (basic: pairs, or 1 with --server to call a client in another process;
    /// room: 3–4).
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// How long calls run, in seconds (basic).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Test-card width.
    #[arg(long, default_value_t = 640)]
    width: usize,
    /// Test-card height.
    #[arg(long, default_value_t = 480)]
    height: usize,
    /// Frames per second.
    #[arg(long, default_value_t = 30.0)]
    fps: f64,
    /// A fixed H.264 bitrate, bits per second. Without it the sender adapts to the link
    /// (congestion control and the bitrate ladder), as the app does.
    #[arg(long)]
    bitrate: Option<u32>,
    /// Grain on the test card (± luma levels, 0 = clean): like a camera's noise, it makes the
    /// encoder spend its bitrate instead of a tenth of it.
    #[arg(long, default_value_t = 12)]
    grain: u8,
    /// Local UDP address for WebRTC (every interface by default, like the app).
    #[arg(long, default_value = "0.0.0.0:0")]
    udp_bind: String,
    /// Send all media through the TURN relay the server offers; reveal no address to partners.
    #[arg(long)]
    relay_only: bool,
    /// This process's first tone, in Hz (the others' are 110 Hz apart).
    #[arg(long)]
    tone: Option<f64>,
    /// The partner's tone, in Hz, when the partner is another process (`--clients 1`).
    #[arg(long)]
    partner_tone: Option<f64>,
    /// The media path will be cut during the call (by a test): wait for the engine to restart
    /// ICE and keep the same partner, then measure.
    #[arg(long)]
    expect_outage: bool,
    /// Next presses (skip), visitors (churn) or lines (chat).
    #[arg(long, default_value_t = 3)]
    count: usize,
    /// `basic`: write a JSON line per client every 500 ms of the call to this file (received
    /// fps, freezes, glass-to-glass, audio, the estimate and the ladder step); bench/link.sh
    /// reads it.
    #[arg(long)]
    timeline: Option<std::path::PathBuf>,
    /// Put each client in an echoing room: what it plays comes back into its microphone this
    /// many milliseconds later at -6 dB, as from laptop speakers. The report's "echo below"
    /// says how far under the partner's voice each client heard its own tone come back.
    #[arg(long)]
    echo_path: Option<u64>,
    /// Say in `hello` that the user accepted this version of the terms (for a server started
    /// with `--require-terms`).
    #[arg(long)]
    terms: Option<String>,
    /// Send the microphone as captured, without echo cancellation (the app's headphones
    /// setting), e.g. to measure the echo the canceller removes.
    #[arg(long)]
    no_echo_cancellation: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("harness: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("harness: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let mut server = None;
    let url = match &args.server {
        Some(url) => url.clone(),
        None => {
            let mut cfg = signal_server::Config::local(([127, 0, 0, 1], 0).into());
            // The harness's own clients are the only load; do not let its bursts trip the limits.
            cfg.rate_burst = 1000;
            let handle = signal_server::start(cfg).await?;
            let url = handle.url();
            server = Some(handle);
            url
        }
    };
    let opts = Options {
        server_url: url,
        clients: args.clients,
        duration: Duration::from_secs_f64(args.duration.clamp(0.5, 3600.0)),
        width: args.width,
        height: args.height,
        fps: args.fps,
        bitrate_bps: args.bitrate,
        grain: args.grain,
        net: ClientOptions {
            udp_bind: args.udp_bind.clone(),
            relay_only: args.relay_only,
            echo_cancellation: !args.no_echo_cancellation,
            echo_path: args.echo_path.map(Duration::from_millis),
            terms: args.terms.clone(),
        },
        tone_hz: args.tone,
        partner_tone_hz: args.partner_tone,
        expect_outage: args.expect_outage,
        timeline: args.timeline.clone(),
    };
    if args.clients == 1 && args.server.is_none() {
        anyhow::bail!("--clients 1 calls a client in another process: give the shared --server URL");
    }
    let report = match args.scenario {
        Scenario::Basic => scenarios::basic(&opts).await?,
        Scenario::Skip => scenarios::skip(&opts, args.count).await?,
        Scenario::Chat => scenarios::chat(&opts, args.count.max(1)).await?,
        Scenario::Churn => scenarios::churn(&opts, args.count.max(1)).await?,
        Scenario::Room => scenarios::room(&opts).await?,
    };
    print!("{}", report.table());
    println!("JSON {}", report.to_json());
    if let Some(s) = server {
        let _ = s.shutdown().await;
    }
    Ok(report.passed())
}
