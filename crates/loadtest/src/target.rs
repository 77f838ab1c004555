//! Which servers the harness may send load to: loopback only, because a
//! rush is a flood of requests and nothing outside this machine is ours.

use anyhow::{bail, Context as _};
use reqwest::Url;

/// Parses `--target` and refuses any host that is not loopback
/// (127.0.0.0/8, ::1 or localhost).
pub fn loopback_target(text: &str) -> anyhow::Result<Url> {
    let url = Url::parse(text).with_context(|| format!("--target {text:?} is not a URL"))?;
    if url.scheme() != "http" {
        bail!("--target must be http://, not {}://", url.scheme());
    }
    if !is_loopback(&url) {
        bail!("--target {text:?} is not a loopback address: only 127.0.0.0/8, ::1 and localhost");
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_loopback() {
        for good in
            ["http://127.0.0.1:8080", "http://127.9.8.7", "http://[::1]:80", "http://LocalHost/"]
        {
            assert!(loopback_target(good).is_ok(), "{good}");
        }
        for bad in [
            "http://10.0.0.1",
            "http://192.168.1.2:8080",
            "http://example.org",
            "http://localhost.example.org",
            "https://127.0.0.1",
            "http://[::2]",
        ] {
            assert!(loopback_target(bad).is_err(), "{bad}");
        }
    }
}
