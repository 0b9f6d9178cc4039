//! API requests counted at a `kubectl proxy` in front of the API server.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A `kubectl proxy -v=7` in front of the API server: a client pointed at it through
/// [`CountingProxy::kubeconfig`] sends every request through it, and kubectl logs one
/// `"Request" verb=… url=…` line per request as it forwards it (before any answer, so a
/// watch that never got its headers counts too). That count is the client's own:
/// nothing else goes through.
pub struct CountingProxy {
    child: Child,
    log: PathBuf,
    kubeconfig: PathBuf,
}

/// API requests seen by a [`CountingProxy`].
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RequestCounts {
    pub total: usize,
    pub watches: usize,
    /// GET without watch: gets and lists.
    pub reads: usize,
    /// POST, PUT, PATCH, DELETE.
    pub writes: usize,
}

impl CountingProxy {
    pub async fn start(upstream_kubeconfig: &Path, dir: &Path, name: &str) -> anyhow::Result<Self> {
        let log = dir.join(format!("{name}-proxy.log"));
        let log_file = std::fs::File::create(&log)?;
        let mut child = Command::new("kubectl")
            .args(["proxy", "--port=0", "-v=7", "--kubeconfig"])
            .arg(upstream_kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .context("starting kubectl proxy (is the stack's kubectl on PATH?)")?;
        let out = child.stdout.take().context("kubectl proxy stdout")?;
        let mut lines = BufReader::new(out).lines();
        let first = tokio::time::timeout(Duration::from_secs(15), lines.next_line())
            .await
            .context("kubectl proxy did not start within 15 s")??
            .unwrap_or_default();
        // "Starting to serve on 127.0.0.1:PORT"
        let Some(addr) = first.rsplit(' ').next().filter(|a| a.contains(':')) else {
            bail!("unexpected first line from kubectl proxy: {first}");
        };
        let kubeconfig = dir.join(format!("{name}-proxy.kubeconfig"));
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: counted\n  cluster:\n    server: http://{addr}\n\
                 users:\n- name: counted\n  user: {{}}\ncontexts:\n- name: counted\n  context:\n    cluster: counted\n    user: counted\n    namespace: argo\n\
                 current-context: counted\n"
            ),
        )?;
        // Keep draining stdout so the proxy never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(CountingProxy {
            child,
            log,
            kubeconfig,
        })
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub async fn stop(mut self) -> RequestCounts {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        count_requests(&text)
    }
}

fn count_requests(log: &str) -> RequestCounts {
    let mut counts = RequestCounts::default();
    for line in log.lines().filter(|l| l.contains("\"Request\" verb=")) {
        counts.total += 1;
        let verb = line
            .split("verb=\"")
            .nth(1)
            .and_then(|v| v.split('"').next())
            .unwrap_or("");
        let url = line
            .split("url=\"")
            .nth(1)
            .and_then(|v| v.split('"').next())
            .unwrap_or("");
        if verb == "GET" && (url.contains("watch=true") || url.contains("watch=1")) {
            counts.watches += 1;
        } else if verb == "GET" {
            counts.reads += 1;
        } else {
            counts.writes += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_proxy_lines() {
        let log = r#"I1127 round_trippers.go:527] "Request" verb="GET" url="https://h/api/v1/namespaces/argo/pods?&watch=true&timeoutSeconds=290" headers=<
I1127 round_trippers.go:632] "Response" status="200 OK" milliseconds=3
I1127 round_trippers.go:527] "Request" verb="GET" url="https://h/api/v1/namespaces/argo/pods?limit=500" headers=<
I1127 round_trippers.go:527] "Request" verb="POST" url="https://h/apis/argoproj.io/v1alpha1/namespaces/argo/workflows?" headers=<
I1127 proxy_server.go:131] Filter accepting GET /api/v1/namespaces/argo/pods 127.0.0.1"#;
        let c = count_requests(log);
        assert_eq!((c.total, c.watches, c.reads, c.writes), (3, 1, 1, 1));
    }
}
