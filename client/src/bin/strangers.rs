//! `strangers`: the desktop app. Without `--server` it uses (or starts) a local signal server,
//! so two windows on one machine find each other; `--demo` adds a built-in stranger.

use clap::Parser;
use eframe::egui;
use strangers_client::app::{Launch, StrangersApp};

/// Video and text chat with random strangers.
#[derive(Parser, Debug)]
#[command(name = "strangers", version, about)]
struct Args {
    /// Signal server URL, e.g. wss://chat.example.org/. Default: a local server on
    /// 127.0.0.1:8080, started inside the app if none is running.
    #[arg(long, env = "STRANGERS_SERVER")]
    server: Option<String>,
    /// Also start a demo stranger (test card, tone, chat echo) and look for a partner at once.
    #[arg(long)]
    demo: bool,
    /// Look for a stranger as soon as the window opens.
    #[arg(long)]
    start: bool,
    /// No window: run only the demo stranger against --server (or the local default) until
    /// interrupted. Gives a friend, a benchmark or a test something to call.
    #[arg(long)]
    bot: bool,
    /// Use the synthetic test card and no audio devices, whatever is plugged in.
    #[arg(long)]
    synthetic: bool,
    /// Relay all media through the server's TURN relay for this run, so that no stranger learns
    /// your IP address (also a setting in Devices).
    #[arg(long)]
    relay_only: bool,
    /// Start with default settings instead of the saved ones (and do not save).
    #[arg(long)]
    fresh: bool,
    /// Window size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1180x720", value_parser = parse_size)]
    size: (f32, f32),
}

fn parse_size(s: &str) -> Result<(f32, f32), String> {
    let (w, h) = s.split_once('x').ok_or("expected WIDTHxHEIGHT")?;
    let (w, h): (f32, f32) = (w.parse().map_err(|_| "bad width")?, h.parse().map_err(|_| "bad height")?);
    if (320.0..=8192.0).contains(&w) && (240.0..=8192.0).contains(&h) {
        Ok((w, h))
    } else {
        Err("size out of range".into())
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,webrtc=warn,rtc=warn,wgpu=warn,egui_glow=warn")
        }))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    if args.bot {
        return run_bot(args.server.as_deref());
    }
    let launch = Launch {
        server: args.server,
        demo: args.demo,
        start: args.start,
        fresh: args.fresh,
        synthetic: args.synthetic,
        relay_only: args.relay_only,
    };
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("Strangers")
        .with_app_id("strangers")
        .with_inner_size([args.size.0, args.size.1])
        .with_min_inner_size([720.0, 480.0]);
    match eframe::icon_data::from_png_bytes(include_bytes!("../../../assets/icons/strangers.png")) {
        Ok(icon) => viewport = viewport.with_icon(icon),
        Err(e) => tracing::warn!(error = %e, "window icon"),
    }
    let options = eframe::NativeOptions {
        viewport,
        renderer: eframe::Renderer::Glow,
        // Dithering is a per-pixel shader cost; on software rendering (Mesa's llvmpipe) it is a
        // large share of each frame, and video does not band visibly without it.
        dithering: false,
        persist_window: !launch.fresh,
        ..Default::default()
    };
    let result = eframe::run_native(
        "strangers",
        options,
        Box::new(move |cc| {
            let storage = if launch.fresh { None } else { cc.storage };
            let app = StrangersApp::new(&cc.egui_ctx, storage, &launch)?;
            Ok(Box::new(app))
        }),
    );
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strangers: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_bot(server: Option<&str>) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strangers: cannot start a runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let (url, _server) = strangers_client::app::embedded::resolve_server(server).await;
        let mode = strangers_shared::Mode::Video;
        let _bot = match strangers_client::app::embedded::start_demo(url.clone(), mode, Vec::new()) {
            Ok(bot) => bot,
            Err(e) => {
                eprintln!("strangers: cannot start the demo stranger: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        tracing::info!(%url, "demo stranger running; Ctrl+C stops it");
        let _ = tokio::signal::ctrl_c().await;
        std::process::ExitCode::SUCCESS
    })
}
