//! A slow link on loopback: a TCP proxy of the benchmark's own that forwards each
//! direction at a fixed rate and after a fixed delay (half the round trip each way), in
//! front of the API server. Nothing of the machine's network changes.
//!
//! The proxy ends TCP on both sides, so the endpoints' congestion control sees
//! loopback; what the link shapes is what an application feels: bytes per second, and
//! a round trip for every exchange (TLS handshake, request, WebSocket upgrade).

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Rate and round trip, written `50mbit:20ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkShape {
    pub bits_per_sec: u64,
    pub rtt: Duration,
}

impl LinkShape {
    pub fn bytes_per_sec(&self) -> f64 {
        self.bits_per_sec as f64 / 8.0
    }
}

impl std::fmt::Display for LinkShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} Mbit/s, {} ms RTT",
            self.bits_per_sec / 1_000_000,
            self.rtt.as_millis()
        )
    }
}

impl FromStr for LinkShape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("link {s:?}: write RATE:RTT, e.g. 50mbit:20ms or 10mbit:50ms");
        let (rate, rtt) = s.split_once(':').ok_or_else(bad)?;
        let mbit: u64 = rate
            .trim()
            .to_ascii_lowercase()
            .strip_suffix("mbit")
            .and_then(|n| n.parse().ok())
            .filter(|&n| n > 0)
            .ok_or_else(bad)?;
        let ms: u64 = rtt
            .trim()
            .strip_suffix("ms")
            .and_then(|n| n.parse().ok())
            .ok_or_else(bad)?;
        Ok(LinkShape {
            bits_per_sec: mbit * 1_000_000,
            rtt: Duration::from_millis(ms),
        })
    }
}

/// The proxy; stops when dropped.
pub struct ShapedLink {
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

/// Bytes read and forwarded at a time: small enough that pacing stays smooth.
const CHUNK: usize = 16 * 1024;

impl ShapedLink {
    pub async fn start(upstream: SocketAddr, shape: LinkShape) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the shaped link's port on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        forward(client_read, server_write, shape),
                        forward(server_read, client_write, shape),
                    );
                });
            }
        });
        Ok(ShapedLink { addr, accept })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ShapedLink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One direction: chunks are stamped as they arrive, then each leaves half a round
/// trip later and no sooner than the rate allows after the previous one. The queue
/// holds about two bandwidth-delay products, as a router's buffer would; when it is
/// full, reading stops and TCP pushes back on the sender.
async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, shape: LinkShape) {
    let one_way = shape.rtt / 2;
    let bdp = (shape.bytes_per_sec() * shape.rtt.as_secs_f64()) as usize;
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>((2 * bdp / CHUNK).max(8));
    let reader = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send((Instant::now(), buf[..n].to_vec())).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let writer = async move {
        let mut free_at = Instant::now();
        while let Some((arrived, chunk)) = rx.recv().await {
            let leave = (arrived + one_way).max(free_at);
            tokio::time::sleep_until(leave).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
            free_at = leave + Duration::from_secs_f64(chunk.len() as f64 / shape.bytes_per_sec());
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

/// A copy of `kubeconfig` whose clusters point at `via` instead of `upstream`: the API
/// server's certificate names 127.0.0.1, whatever the port.
pub fn rewrite_kubeconfig(text: &str, upstream: SocketAddr, via: SocketAddr) -> String {
    text.replace(&format!("https://{upstream}"), &format!("https://{via}"))
}

/// The API server's address in a kubeconfig (its first `server: https://…`).
pub fn api_server(kubeconfig: &str) -> anyhow::Result<SocketAddr> {
    let server = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .map(str::trim)
        .context("no `server:` in the kubeconfig")?;
    let hostport = server
        .strip_prefix("https://")
        .unwrap_or(server)
        .trim_end_matches('/');
    hostport
        .parse()
        .with_context(|| format!("the API server {server} is not IP:PORT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_and_bad_ones_say_how_to_write_them() {
        let s: LinkShape = "50mbit:20ms".parse().unwrap();
        assert_eq!(s.bits_per_sec, 50_000_000);
        assert_eq!(s.rtt, Duration::from_millis(20));
        assert_eq!(s.to_string(), "50 Mbit/s, 20 ms RTT");
        let err = "fast".parse::<LinkShape>().unwrap_err();
        assert!(err.contains("50mbit:20ms"), "{err}");
        assert!("0mbit:5ms".parse::<LinkShape>().is_err());
    }

    #[test]
    fn kubeconfigs_are_pointed_at_the_link() {
        let text = "clusters:\n- cluster:\n    server: https://127.0.0.1:6443\n";
        let up = api_server(text).unwrap();
        assert_eq!(up, "127.0.0.1:6443".parse().unwrap());
        let via = "127.0.0.1:40000".parse().unwrap();
        assert!(rewrite_kubeconfig(text, up, via).contains("server: https://127.0.0.1:40000"));
    }

    /// The proxy holds both the rate and the delay, in both directions.
    #[tokio::test]
    async fn the_link_is_as_slow_as_its_shape() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let mut byte = [0u8; 1];
            s.read_exact(&mut byte).await.unwrap();
            // 1 MB back.
            s.write_all(&vec![7u8; 1_000_000]).await.unwrap();
        });
        let shape: LinkShape = "40mbit:100ms".parse().unwrap();
        let link = ShapedLink::start(upstream, shape).await.unwrap();
        let started = Instant::now();
        let mut conn = TcpStream::connect(link.addr()).await.unwrap();
        conn.write_all(b"?").await.unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await.unwrap();
        let took = started.elapsed().as_secs_f64();
        assert_eq!(got.len(), 1_000_000);
        // 1 MB at 5 MB/s is 0.2 s, plus one round trip of 0.1 s.
        assert!((0.28..0.6).contains(&took), "took {took:.3} s");
    }
}
