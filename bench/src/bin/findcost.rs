//! `findcost`: what one `find` costs the matchmaking core as the queue grows. N searchers wait,
//! each with an interest nobody else has (so nobody matches and a scan would visit everyone),
//! half of them open to anyone after the fallback is far away; then searchers re-send `find`
//! (their place in the queue changes, as a client's does when it edits its interests) and a
//! newcomer with another lone interest arrives and leaves. Prints the median and p99 time per
//! `find` for each N, straight on the core (no sockets), in microseconds. Then the load the issue
//! describes: every searcher re-sends `find` once a second (spread evenly) for 5 simulated
//! seconds, with the core ticked whenever `poll_timeout` says; prints the core's time per
//! simulated second.
//!
//!   cargo run --release -p strangers-bench --bin findcost -- 1000 10000 100000

use std::time::{Duration, Instant};

use signal_server::core::{Core, CoreConfig, Input, Now, TextFrame};
use strangers_shared::{PeerId, decode_client};

fn find(core: &mut Core, now: Now, peer: u64, tag: &str) {
    let text = format!(r#"{{"type":"find","mode":"video","interests":["{tag}"]}}"#);
    let Ok(msg) = decode_client(&text) else { return };
    core.handle(now, Input::Message(PeerId(peer), msg, TextFrame::text(text)));
    while core.poll_output().is_some() {}
}

fn main() {
    let sizes: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![1_000, 10_000, 100_000] } else { sizes };
    println!("| searchers waiting | find p50 µs | find p99 µs | samples |");
    println!("|---:|---:|---:|---:|");
    for n in sizes {
        // A fallback beyond the run: nobody becomes open to anyone, as when everyone has tags.
        let cfg = CoreConfig { interest_fallback: Duration::from_secs(3600), ..CoreConfig::default() };
        let mut core = Core::new(cfg);
        let mut now = Now { mono: Duration::from_secs(1), unix_ms: 1_700_000_000_000 };
        for p in 1..=n {
            core.handle(now, Input::Connected(PeerId(p), None));
            find(&mut core, now, p, &format!("t{p}"));
        }
        let samples = 2_000usize;
        let mut times = Vec::with_capacity(samples);
        for i in 0..samples as u64 {
            now.mono += Duration::from_micros(100);
            // Someone in the middle of the queue re-sends find with a new lone interest.
            let who = 1 + (i * 7919) % n;
            let started = Instant::now();
            find(&mut core, now, who, &format!("r{i}"));
            times.push(started.elapsed());
        }
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
        println!("| {n} | {:.2} | {:.2} | {samples} |", at(0.5), at(0.99));
    }
    println!();
    println!("| searchers, each re-sending find once a second | core time per simulated second | ticks per second |");
    println!("|---:|---:|---:|");
    for n in churn_sizes() {
        let (per_sec, ticks) = churn(n, 5);
        println!("| {n} | {:.1} ms | {ticks:.0} |", per_sec.as_secs_f64() * 1e3);
    }
}

fn churn_sizes() -> Vec<u64> {
    std::env::var("CHURN").ok().map_or(vec![1_000, 10_000], |v| v.split(',').filter_map(|x| x.parse().ok()).collect())
}

/// `n` searchers re-sending `find` once a second each for `secs` simulated seconds: the core's
/// wall time per simulated second, and its ticks per simulated second.
fn churn(n: u64, secs: u64) -> (Duration, f64) {
    let mut core = Core::new(CoreConfig::default());
    let mut now = Now { mono: Duration::from_secs(1), unix_ms: 1_700_000_000_000 };
    for p in 1..=n {
        core.handle(now, Input::Connected(PeerId(p), None));
        find(&mut core, now, p, &format!("t{p}"));
    }
    let step = Duration::from_secs(1) / n as u32;
    let (mut spent, mut ticks) = (Duration::ZERO, 0u64);
    for i in 0..secs * n {
        now.mono += step;
        let started = Instant::now();
        while core.poll_timeout().is_some_and(|t| t <= now.mono) {
            core.handle(now, Input::Tick);
            while core.poll_output().is_some() {}
            ticks += 1;
        }
        find(&mut core, now, 1 + i % n, &format!("c{i}"));
        spent += started.elapsed();
    }
    (spent / secs as u32, ticks as f64 / secs as f64)
}
