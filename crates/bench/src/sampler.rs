//! Peak memory and CPU time of a running process, read from /proc.

use std::time::Duration;

use tokio::task::JoinHandle;

/// Samples a process while it runs: its peak resident memory (VmHWM, which the kernel
/// keeps as a high-water mark) and its CPU time (user + system), until the process is
/// gone or the sampler is stopped.
pub struct ProcSampler {
    handle: JoinHandle<ProcStats>,
    stop: tokio::sync::watch::Sender<bool>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ProcStats {
    pub peak_mib: f64,
    pub cpu_seconds: f64,
}

/// Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux x86 and arm).
const USER_HZ: f64 = 100.0;

impl ProcSampler {
    pub fn start(pid: u32) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let handle = tokio::spawn(async move {
            let mut stats = ProcStats::default();
            loop {
                // A zombie (exited, not reaped yet) has no VmHWM line, but keeps its times.
                if let Some(kib) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|t| vm_hwm_kib(&t))
                {
                    stats.peak_mib = stats.peak_mib.max(kib as f64 / 1024.0);
                }
                match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                    Ok(text) => {
                        if let Some(ticks) = cpu_ticks(&text) {
                            stats.cpu_seconds = ticks as f64 / USER_HZ;
                        }
                    }
                    Err(_) => break,
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = stopped.changed() => break,
                }
            }
            stats
        });
        ProcSampler { handle, stop }
    }

    pub async fn finish(self) -> ProcStats {
        let _ = self.stop.send(true);
        self.handle.await.unwrap_or_default()
    }
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// utime + stime of /proc/PID/stat (fields 14 and 15; the command name before them is
/// in parentheses and may hold spaces).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks() {
        let stat = "4242 (x task) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 30 0 0 20 0 4 0 1 2 3";
        assert_eq!(cpu_ticks(stat), Some(280));
    }

    #[test]
    fn reads_vm_hwm() {
        let status = "Name:\txtask\nVmPeak:\t  100 kB\nVmHWM:\t   20480 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(20480));
    }
}
