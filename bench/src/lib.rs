//! Benchmark tools for Strangers, kept out of the product crates: `loadgen` drives a signal
//! server (ours, the Node baseline or `floor`) with real WebSocket sessions and measures it, and
//! `floor` is a bare tokio-tungstenite room relay that shows what the WebSocket stack costs on its
//! own. `bench/run.sh` builds and runs both.
