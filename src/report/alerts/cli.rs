//! `coinpulse alerts test`: one message to every configured channel, to see that alerts arrive
//! before the first real one is due, and what to fix when they do not.

use chrono::{DateTime, Utc};

use super::channels::Channels;
use super::message::{Field, Message};
use crate::collect::Secrets;
use crate::config::Config;

/// The test message: says what it is, when it was sent, and links to the dashboard when one is set.
pub fn test_message(dashboard_url: Option<&str>, now: DateTime<Utc>) -> Message {
    let sent = now.format("%Y-%m-%d %H:%M UTC").to_string();
    Message {
        title: "coinpulse test message".into(),
        text: "Alerts from coinpulse reach this channel: volume spikes, sentiment flips, new \
               entrants to the top 10 and the daily digest will arrive here."
            .into(),
        fields: vec![Field::new("Sent", sent.clone())],
        link: dashboard_url.map(|url| super::dashboard_link(url, None)),
        payload: serde_json::json!({ "kind": "test", "sent_at": now.to_rfc3339() }),
    }
}

/// Sends the test message to every channel of `config` and prints one line per channel. Fails when
/// no channel is configured or any channel did not take the message.
pub async fn test(config: &Config) -> anyhow::Result<()> {
    test_with(config, &Secrets::from_env()).await
}

/// [`test`] with the credentials from `secrets`.
pub async fn test_with(config: &Config, secrets: &Secrets) -> anyhow::Result<()> {
    let channels = Channels::new(
        &config.alerts.channels,
        config.alerts.webhook_url.as_deref(),
        secrets,
    )?;
    if channels.is_empty() {
        anyhow::bail!(
            "no alert channel is configured: add an [[alerts.channels]] entry (discord, slack, \
             telegram or webhook) to the configuration, or set alerts.webhook_url"
        );
    }
    let message = test_message(config.alerts.dashboard_url.as_deref(), Utc::now());
    let mut failed = 0;
    for (label, outcome) in channels.send_each(&message).await {
        match outcome {
            Ok(()) => println!("{label}: delivered"),
            Err(e) => {
                failed += 1;
                println!("{label}: not delivered: {e}");
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} alert channel(s) did not take the test message");
    }
    Ok(())
}
