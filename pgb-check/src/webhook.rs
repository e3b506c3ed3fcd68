//! Posting a not-OK result to a chat or alerting webhook. The body has a
//! Slack-compatible `text` field (the nagios line) plus the full check
//! records, so it is readable in a chat and parseable by a receiver.

use std::time::Duration;

use crate::checks::Report;
use crate::output::nagios_line;

/// POSTs the report; errors are returned for the caller to print, never to
/// change the monitoring status.
pub fn post(url: &str, report: &Report) -> Result<(), String> {
    let body = serde_json::json!({
        "text": nagios_line(report).trim_end(),
        "status": report.status().as_str(),
        "checks": report.checks,
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .map(|_| ())
        .map_err(|e| format!("webhook {}: {e}", origin(url)))
}

/// `https://hooks.example.com/services/SECRET` → `https://hooks.example.com`:
/// webhook paths are credentials and never printed.
fn origin(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].find('/') {
        Some(i) => &url[..start + i],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_origin_of_a_webhook_is_printed() {
        assert_eq!(
            super::origin("https://hooks.slack.com/services/T/B/X"),
            "https://hooks.slack.com"
        );
        assert_eq!(super::origin("http://127.0.0.1:9/x"), "http://127.0.0.1:9");
    }
}
