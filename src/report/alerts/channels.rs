//! Where alerts go: Discord, Slack and Telegram in their own formats (see [`super::message`]), and
//! a generic JSON webhook.
//!
//! Credentials never sit in the config file: Discord and Slack webhook URLs (whose path is the
//! secret) and the Telegram bot token are read from environment variables the config names, are
//! registered with [`crate::collect::redact`] so no log line or error can carry them, and are only
//! sent over https (plain http to this machine only, for a local relay or a test receiver). Errors
//! never print a URL.
//!
//! Delivery retries a 5xx, a 429, a timeout or a refused connection with backoff, waiting what the
//! service asked for when it says (`Retry-After`, Discord's `retry_after`, Telegram's
//! `parameters.retry_after`). Any other 4xx cannot pass by retrying: it is returned at once with
//! what to fix, and the caller logs it once. A channel that fails never stops the others.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::message::{self, Message};
use crate::collect::{Secrets, redact};

/// One entry of `alerts.channels`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum ChannelConfig {
    /// A Discord channel webhook (Server settings → Integrations → Webhooks).
    Discord {
        /// Environment variable holding the webhook URL.
        url_env: String,
        /// Sends to this scheme, host and port instead of the URL's own (a relay, a test server).
        #[serde(default)]
        base_url: Option<String>,
    },
    /// A Slack incoming webhook (an app with Incoming Webhooks enabled).
    Slack {
        url_env: String,
        #[serde(default)]
        base_url: Option<String>,
    },
    /// A Telegram bot posting to one chat.
    Telegram {
        /// Environment variable holding the token @BotFather gave.
        bot_token_env: String,
        /// The chat, group or channel id (`"-1001234567890"`) or `"@channelname"`.
        chat_id: String,
        #[serde(default = "telegram_api")]
        base_url: String,
    },
    /// Any URL that takes the alert as JSON.
    Webhook { url: String },
}

fn telegram_api() -> String {
    "https://api.telegram.org".into()
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The channel cannot be set up: a missing variable, a URL that is not one, a credential that
    /// would travel without TLS.
    #[error("invalid value for key `alerts.channels[{index}]` ({kind}): {message}")]
    Config {
        index: usize,
        kind: &'static str,
        message: String,
    },
    /// A 4xx other than 429: retrying cannot help.
    #[error("{channel} answered {status}: {fix}")]
    Refused {
        channel: String,
        status: u16,
        fix: String,
    },
    #[error("{channel} asked to wait {seconds} s before the next message; the message was dropped")]
    WaitTooLong { channel: String, seconds: u64 },
    #[error("{channel} failed {attempts} times, last: {last}")]
    GaveUp {
        channel: String,
        attempts: u32,
        last: String,
    },
}

/// Retries after the first attempt.
const RETRIES: u32 = 3;
/// Waits between attempts when the service does not say: 1–2 s, then 2–4 s, then 4–8 s (see
/// [`crate::backoff`]).
const BACKOFF: crate::backoff::Backoff =
    crate::backoff::Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
/// The longest wait a service may ask for before a retry; longer, the message is dropped.
const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Discord,
    Slack,
    Telegram,
    Webhook,
}

/// One delivery target, ready to send.
struct Channel {
    kind: Kind,
    /// How logs and errors name it: `discord (DISCORD_WEBHOOK_URL)`, never the URL.
    label: String,
    /// Where credentials come from, for the advice on a 4xx.
    env: String,
    chat_id: String,
    url: SecretString,
}

/// The configured channels and the HTTP client they share.
pub struct Channels {
    client: reqwest::Client,
    list: Vec<Channel>,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<&str> = self.list.iter().map(|c| c.label.as_str()).collect();
        f.debug_struct("Channels").field("list", &labels).finish()
    }
}

impl Channels {
    /// Builds `configs` (and the `webhook_url` shorthand, a last generic webhook), reading
    /// credentials through `secrets`.
    pub fn new(
        configs: &[ChannelConfig],
        webhook_url: Option<&str>,
        secrets: &Secrets,
    ) -> Result<Channels, ChannelError> {
        let shorthand = webhook_url.map(|url| ChannelConfig::Webhook { url: url.into() });
        let list = configs
            .iter()
            .chain(shorthand.as_ref())
            .enumerate()
            .map(|(index, config)| Channel::new(index, config, secrets))
            .collect::<Result<Vec<_>, _>>()?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(crate::collect::http::user_agent())
            // A redirect could carry the message (and a webhook's secret path) to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with timeouts builds");
        Ok(Channels { client, list })
    }

    /// No channel: alerts go to the log only.
    pub fn none() -> Channels {
        Channels::new(&[], None, &Secrets::default()).expect("no channel to check")
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Sends `message` to every channel; a failure is logged once, with what to fix, and does not
    /// keep the others from being tried. Returns how many channels took it.
    pub async fn send(&self, message: &Message) -> usize {
        let mut delivered = 0;
        for (label, outcome) in self.send_each(message).await {
            match outcome {
                Ok(()) => {
                    tracing::debug!(channel = %label, title = %message.title, "Alert delivered.");
                    delivered += 1;
                }
                Err(e) => {
                    tracing::error!(channel = %label, title = %message.title, "Alert not delivered: {e}")
                }
            }
        }
        delivered
    }

    /// Sends `message` to every channel in turn, retrying as [`Channels::send`] does, and says how
    /// each went: its label (`discord (ALERTS_DISCORD_URL)`) and the outcome.
    pub async fn send_each(&self, message: &Message) -> Vec<(String, Result<(), ChannelError>)> {
        let mut outcomes = Vec::with_capacity(self.list.len());
        for channel in &self.list {
            let outcome = channel.send(&self.client, message).await;
            outcomes.push((channel.label.clone(), outcome));
        }
        outcomes
    }
}

impl Channel {
    fn new(
        index: usize,
        config: &ChannelConfig,
        secrets: &Secrets,
    ) -> Result<Channel, ChannelError> {
        let kind_name = match config {
            ChannelConfig::Discord { .. } => "discord",
            ChannelConfig::Slack { .. } => "slack",
            ChannelConfig::Telegram { .. } => "telegram",
            ChannelConfig::Webhook { .. } => "webhook",
        };
        let fail = |message: String| ChannelError::Config {
            index,
            kind: kind_name,
            message,
        };
        // One slot per credential variable: every channel reading it sends the same secret.
        let slot = |var: &str| format!("alerts.{var}");
        let read = |var: &str, key: &str| {
            secrets.get(var).ok_or_else(|| {
                fail(format!(
                    "environment variable {var} (named by `{key}`) is not set or empty"
                ))
            })
        };
        let channel = match config {
            ChannelConfig::Discord { url_env, base_url }
            | ChannelConfig::Slack { url_env, base_url } => {
                let secret = read(url_env, "url_env")?;
                let mut url = reqwest::Url::parse(secret.expose_secret())
                    .map_err(|_| fail(format!("the value of {url_env} is not a URL")))?;
                // The path (and any query) is the credential.
                let path = match url.query() {
                    Some(q) => format!("{}?{q}", url.path()),
                    None => url.path().to_owned(),
                };
                let token = url
                    .path_segments()
                    .and_then(|mut s| s.next_back())
                    .unwrap_or("")
                    .to_owned();
                redact::register(
                    &slot(url_env),
                    [secret.expose_secret().to_owned(), path, token],
                );
                if let Some(base) = base_url {
                    let base = reqwest::Url::parse(base)
                        .map_err(|_| fail(format!("base_url `{base}` is not a URL")))?;
                    url.set_scheme(base.scheme())
                        .and_then(|_| url.set_host(base.host_str()).map_err(|_| ()))
                        .and_then(|_| url.set_port(base.port()))
                        .map_err(|_| {
                            fail(format!(
                                "base_url `{base}` cannot replace the webhook's host"
                            ))
                        })?;
                }
                if !secure(&url) {
                    return Err(fail(format!(
                        "the webhook URL in {url_env} would be sent without TLS; use https:// (plain http:// is accepted for localhost only)"
                    )));
                }
                let kind = if matches!(config, ChannelConfig::Discord { .. }) {
                    Kind::Discord
                } else {
                    Kind::Slack
                };
                Channel {
                    kind,
                    label: format!("{kind_name} ({url_env})"),
                    env: url_env.clone(),
                    chat_id: String::new(),
                    url: SecretString::from(url.to_string()),
                }
            }
            ChannelConfig::Telegram {
                bot_token_env,
                chat_id,
                base_url,
            } => {
                let token = read(bot_token_env, "bot_token_env")?;
                redact::register_secret(&slot(bot_token_env), &token);
                let base = reqwest::Url::parse(base_url)
                    .map_err(|_| fail(format!("base_url `{base_url}` is not a URL")))?;
                if !secure(&base) {
                    return Err(fail(format!(
                        "base_url `{base_url}` would send the bot token without TLS; use https:// (plain http:// is accepted for localhost only)"
                    )));
                }
                if chat_id.trim().is_empty() {
                    return Err(fail("chat_id is empty".into()));
                }
                let url = format!(
                    "{}/bot{}/sendMessage",
                    base_url.trim_end_matches('/'),
                    token.expose_secret()
                );
                Channel {
                    kind: Kind::Telegram,
                    label: format!("telegram (chat {chat_id})"),
                    env: bot_token_env.clone(),
                    chat_id: chat_id.clone(),
                    url: SecretString::from(url),
                }
            }
            ChannelConfig::Webhook { url } => {
                let parsed = reqwest::Url::parse(url)
                    .map_err(|_| fail(format!("url `{url}` is not a URL")))?;
                Channel {
                    kind: Kind::Webhook,
                    label: format!("webhook ({})", parsed.host_str().unwrap_or("?")),
                    env: String::new(),
                    chat_id: String::new(),
                    url: SecretString::from(url.clone()),
                }
            }
        };
        Ok(channel)
    }

    fn body(&self, m: &Message) -> serde_json::Value {
        match self.kind {
            Kind::Discord => message::discord(m),
            Kind::Slack => message::slack(m),
            Kind::Telegram => message::telegram(m, &self.chat_id),
            Kind::Webhook => m.payload.clone(),
        }
    }

    async fn send(&self, client: &reqwest::Client, m: &Message) -> Result<(), ChannelError> {
        let body = self.body(m);
        let mut last = String::new();
        for attempt in 0..=RETRIES {
            let sent = client
                .post(self.url.expose_secret())
                .json(&body)
                .send()
                .await;
            let wait = match sent {
                Ok(reply) if reply.status().is_success() => return Ok(()),
                Ok(reply) => {
                    let status = reply.status();
                    let header = retry_after(reply.headers());
                    let text = reply.text().await.unwrap_or_default();
                    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                        return Err(ChannelError::Refused {
                            channel: self.label.clone(),
                            status: status.as_u16(),
                            fix: self.fix(status, &text),
                        });
                    }
                    last = format!("answered {status}");
                    match body_retry_after(&text).or(header) {
                        Some(asked) if asked > MAX_WAIT => {
                            return Err(ChannelError::WaitTooLong {
                                channel: self.label.clone(),
                                seconds: asked.as_secs(),
                            });
                        }
                        Some(asked) => asked,
                        None => BACKOFF.delay(attempt),
                    }
                }
                Err(e) => {
                    last = redact::scrub(&crate::collect::http::root_cause(&e.without_url()));
                    BACKOFF.delay(attempt)
                }
            };
            if attempt < RETRIES {
                tracing::warn!(channel = %self.label, attempt, wait_ms = wait.as_millis() as u64, "Alert channel failed ({last}); retrying.");
                tokio::time::sleep(wait).await;
            }
        }
        Err(ChannelError::GaveUp {
            channel: self.label.clone(),
            attempts: RETRIES + 1,
            last,
        })
    }

    /// What the person running coinpulse should do about a 4xx.
    fn fix(&self, status: StatusCode, body: &str) -> String {
        let said = service_said(body);
        let env = &self.env;
        match (self.kind, status.as_u16()) {
            (Kind::Discord, 401 | 403 | 404) => format!(
                "the webhook URL in {env} was deleted or mistyped ({said}); copy it again from the channel's Integrations settings"
            ),
            (Kind::Discord, _) => format!("Discord refused the message ({said})"),
            (Kind::Slack, 403 | 404 | 410) => format!(
                "the webhook URL in {env} was revoked, or its channel archived or deleted ({said}); create a new incoming webhook"
            ),
            (Kind::Slack, _) => format!("Slack refused the message ({said})"),
            (Kind::Telegram, 401 | 404) => format!(
                "the bot token in {env} is wrong or revoked ({said}); copy it again from @BotFather"
            ),
            (Kind::Telegram, 400 | 403) => format!(
                "Telegram refused the message ({said}); check chat_id = \"{}\": the bot must be a member of that chat, allowed to post, and not blocked",
                self.chat_id
            ),
            (Kind::Telegram, _) => format!("Telegram refused the message ({said})"),
            (Kind::Webhook, _) => {
                format!("the receiver refused the alert ({said}); check the webhook URL")
            }
        }
    }
}

/// Whether a URL may carry a credential: https, or http to this machine.
fn secure(url: &reqwest::Url) -> bool {
    let loopback = url.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

/// `Retry-After` in seconds (the HTTP-date form is not used by these services).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    seconds(value.parse().ok()?)
}

/// The wait a 429 body asks for: Discord's `retry_after`, Telegram's `parameters.retry_after`.
fn body_retry_after(body: &str) -> Option<Duration> {
    #[derive(Deserialize)]
    struct Parameters {
        retry_after: Option<f64>,
    }
    #[derive(Deserialize)]
    struct Reply {
        retry_after: Option<f64>,
        parameters: Option<Parameters>,
    }
    let reply: Reply = serde_json::from_str(body).ok()?;
    seconds(
        reply
            .retry_after
            .or(reply.parameters.and_then(|p| p.retry_after))?,
    )
}

fn seconds(s: f64) -> Option<Duration> {
    (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s.min(1e6)))
}

/// The service's own words: Telegram's `description`, Discord's `message`, else the body's start;
/// scrubbed of secrets and cut.
fn service_said(body: &str) -> String {
    #[derive(Deserialize)]
    struct Reply {
        description: Option<String>,
        message: Option<String>,
    }
    let text = serde_json::from_str::<Reply>(body)
        .ok()
        .and_then(|r| r.description.or(r.message))
        .unwrap_or_else(|| body.trim().to_owned());
    let text: String = text.chars().take(200).collect();
    if text.is_empty() {
        "no explanation given".into()
    } else {
        redact::scrub(&format!("\"{text}\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(var: &str, value: &str) -> Secrets {
        Secrets::default().with(var, SecretString::from(value.to_owned()))
    }

    #[test]
    fn a_credential_never_travels_without_tls() {
        let discord = ChannelConfig::Discord {
            url_env: "TEST_ALERTS_DISCORD_URL".into(),
            base_url: None,
        };
        let plain = secrets(
            "TEST_ALERTS_DISCORD_URL",
            "http://discord.example/api/webhooks/1/plain-token-0001",
        );
        let e = Channels::new(std::slice::from_ref(&discord), None, &plain).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("without TLS"), "{text}");
        assert!(!text.contains("plain-token-0001"), "{text}");
        // Loopback is fine, and so is https with a loopback base_url.
        let local = secrets(
            "TEST_ALERTS_DISCORD_URL",
            "http://127.0.0.1:9/api/webhooks/1/plain-token-0001",
        );
        assert!(Channels::new(std::slice::from_ref(&discord), None, &local).is_ok());
        let telegram = ChannelConfig::Telegram {
            bot_token_env: "TEST_ALERTS_TG".into(),
            chat_id: "42".into(),
            base_url: "http://api.telegram.example".into(),
        };
        let e = Channels::new(
            &[telegram],
            None,
            &secrets("TEST_ALERTS_TG", "1:tok-abcdefgh"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("without TLS"), "{e}");
    }

    #[test]
    fn channels_are_read_from_the_config() {
        let config: crate::config::AlertsConfig = toml::from_str(
            r#"
            [[channels]]
            kind = "discord"
            url_env = "DISCORD_WEBHOOK_URL"

            [[channels]]
            kind = "telegram"
            bot_token_env = "TELEGRAM_BOT_TOKEN"
            chat_id = "-100123"
            "#,
        )
        .unwrap();
        assert_eq!(
            config.channels,
            vec![
                ChannelConfig::Discord {
                    url_env: "DISCORD_WEBHOOK_URL".into(),
                    base_url: None
                },
                ChannelConfig::Telegram {
                    bot_token_env: "TELEGRAM_BOT_TOKEN".into(),
                    chat_id: "-100123".into(),
                    base_url: "https://api.telegram.org".into()
                },
            ]
        );
        let typo = toml::from_str::<crate::config::AlertsConfig>(
            "[[channels]]\nkind = \"slack\"\nurl = \"https://hooks.slack.com/x\"\n",
        )
        .unwrap_err();
        assert!(typo.to_string().contains("unknown field `url`"), "{typo}");
    }

    #[test]
    fn a_missing_variable_is_named() {
        let slack = ChannelConfig::Slack {
            url_env: "TEST_ALERTS_UNSET_SLACK_URL".into(),
            base_url: None,
        };
        let e = Channels::new(&[slack], None, &Secrets::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value for key `alerts.channels[0]` (slack): environment variable \
             TEST_ALERTS_UNSET_SLACK_URL (named by `url_env`) is not set or empty"
        );
    }

    #[test]
    fn waits_asked_by_the_services_are_read() {
        assert_eq!(
            body_retry_after(
                r#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#
            ),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            body_retry_after(
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#
            ),
            Some(Duration::from_secs(7))
        );
        assert_eq!(body_retry_after("ratelimited"), None);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
