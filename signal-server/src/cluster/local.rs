//! A `redis-server` of one's own, for tests and benchmarks: started on a free port of
//! 127.0.0.1 with nothing saved to disk, and stopped (and waited for) when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// A running `redis-server`; see the module docs.
#[derive(Debug)]
pub struct LocalRedis {
    child: Child,
    port: u16,
}

impl LocalRedis {
    /// Start one and wait until it takes connections.
    pub fn start() -> anyhow::Result<LocalRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        // Owned at once, so that it is stopped whatever happens next.
        let mut redis = LocalRedis { child: spawn(port)?, port };
        redis.wait_ready()?;
        Ok(redis)
    }

    /// Start it again on the same port after [`LocalRedis::kill`] (empty, as a restarted Redis
    /// without persistence is).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.child = spawn(self.port)?;
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        for _ in 0..250 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        anyhow::bail!("redis-server did not start on port {}", self.port)
    }

    /// Its URL, for `--redis`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stop it abruptly (as a crash would), for outage tests.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(port: u16) -> anyhow::Result<Child> {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .context("starting redis-server (scripts/setup.sh installs it)")
}
