//! The server's resident memory during the rush, sampled from
//! `/proc/<pid>/status` (Linux), to show it stays bounded under overload.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

/// How often the server's memory is read: often enough to catch a peak of
/// a few seconds, rare enough to cost nothing.
const EVERY: Duration = Duration::from_millis(200);

/// The highest and the last reading, in MiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Rss {
    pub peak_mib: f64,
    /// `None` when the server was gone by the end (it died in the rush):
    /// its last reading while alive is not its memory at the end.
    pub end_mib: Option<f64>,
}

/// Samples a process's memory until dropped or [`Sampler::stop`]ped.
pub struct Sampler {
    readings: Arc<Mutex<Option<Rss>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let readings = Arc::new(Mutex::new(None));
        let task = tokio::spawn(sample(pid, readings.clone()));
        Sampler { readings, task }
    }

    /// Takes one last reading and stops; `None` where `/proc` has none.
    pub async fn stop(mut self, pid: u32) -> Option<Rss> {
        self.task.abort();
        let _ = (&mut self.task).await;
        let mut readings = *self.readings.lock();
        match rss_mib(pid) {
            Some(mib) => note(&mut readings, mib),
            None => {
                if let Some(rss) = &mut readings {
                    rss.end_mib = None;
                }
            }
        }
        readings
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        // A rush that failed half-way leaves no sampler running.
        self.task.abort();
    }
}

async fn sample(pid: u32, readings: Arc<Mutex<Option<Rss>>>) {
    let mut ticks = tokio::time::interval(EVERY);
    loop {
        ticks.tick().await;
        if let Some(mib) = rss_mib(pid) {
            note(&mut readings.lock(), mib);
        }
    }
}

fn note(readings: &mut Option<Rss>, mib: f64) {
    let peak = readings.map_or(mib, |seen| seen.peak_mib.max(mib));
    *readings = Some(Rss { peak_mib: peak, end_mib: Some(mib) });
}

/// `VmRSS` of `pid`, in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<f64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_mib() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(2.0));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert!(rss_mib(std::process::id()).is_some_and(|mib| mib > 0.0));
    }

    #[tokio::test]
    async fn a_process_gone_by_the_end_has_a_peak_but_no_end() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let sampler = Sampler::start(child.id());
        tokio::time::sleep(EVERY * 2).await;
        child.kill().unwrap();
        child.wait().unwrap();

        let rss = sampler.stop(child.id()).await.unwrap();
        assert!(rss.peak_mib > 0.0, "{rss:?}");
        assert_eq!(rss.end_mib, None);
    }
}
