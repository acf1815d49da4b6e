//! `storefront healthcheck`: the container image's HEALTHCHECK, since the runtime image
//! has no shell and no curl. GETs `/health` of the process on this host — the API's port,
//! or with `--worker` the worker's metrics port — and succeeds only on 200.

use std::time::Duration;

/// Docker's and Kubernetes' probes give a check a few seconds; answer well within them.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Where a process listening on `host` is reached from this host: a wildcard listen
/// address is reached on loopback.
fn local_address(host: &str, port: u16) -> String {
    match host.trim_matches(|c| c == '[' || c == ']') {
        "" | "0.0.0.0" => format!("127.0.0.1:{port}"),
        "::" => format!("[::1]:{port}"),
        ip6 if ip6.contains(':') => format!("[{ip6}]:{port}"),
        other => format!("{other}:{port}"),
    }
}

/// GETs `http://<host>:<port>/health`: `Ok` on 200, else what went wrong.
///
/// # Errors
/// A port of 0 (nothing to probe), no answer within `timeout`, or a status other than 200.
pub async fn probe(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    if port == 0 {
        return Err("healthcheck: the port is 0 (not served), nothing to probe".into());
    }
    let url = format!("http://{}/health", local_address(host, port));
    let client =
        reqwest::Client::builder().timeout(timeout).no_proxy().build().map_err(|e| format!("healthcheck: {e}"))?;
    match client.get(&url).send().await {
        Ok(response) if response.status() == reqwest::StatusCode::OK => Ok(()),
        Ok(response) => Err(format!("healthcheck: {url} answered {}", response.status())),
        Err(e) => Err(format!("healthcheck: {url}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::local_address;

    #[test]
    fn a_wildcard_listen_address_is_probed_on_loopback() {
        assert_eq!(local_address("0.0.0.0", 8080), "127.0.0.1:8080");
        assert_eq!(local_address("::", 8080), "[::1]:8080");
        assert_eq!(local_address("127.0.0.1", 9464), "127.0.0.1:9464");
        assert_eq!(local_address("::1", 1), "[::1]:1");
        assert_eq!(local_address("api.internal", 80), "api.internal:80");
    }
}
