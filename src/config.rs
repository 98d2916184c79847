//! Typed configuration, loaded once at start-up.
//!
//! Sources, in increasing priority: built-in defaults, the TOML file (`--config PATH`, default
//! `config.toml`), then environment variables `COINPULSE_<SECTION>__<KEY>` (double underscore between
//! levels, e.g. `COINPULSE_DATABASE__URL`, `COINPULSE_SOURCES__TWITTER__ENABLED=false`). `DATABASE_URL`
//! is honoured as an alias of `COINPULSE_DATABASE__URL` because every PostgreSQL tool knows it.
//!
//! Every struct denies unknown fields: a typo is an error at start, naming the key and the file, rather
//! than a setting silently ignored. Secrets are never stored here: the config names the *environment
//! variable* that holds a token, and [`secret_from_env`] reads it into a [`SecretString`] whose `Debug`
//! prints `[REDACTED]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::collect::SourcesConfig;

/// Prefix of environment variables that override config keys.
pub const ENV_PREFIX: &str = "COINPULSE_";

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub sources: SourcesConfig,
    pub tagger: TaggerConfig,
    pub sentiment: SentimentConfig,
    pub classify: crate::classify::ClassifyConfig,
    pub pipeline: PipelineConfig,
    pub charts: ChartsConfig,
    pub http: HttpConfig,
    pub alerts: AlertsConfig,
    pub spikes: crate::report::significance::SpikesConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// A PostgreSQL URL. When empty, coinpulse manages a private cluster in `data_dir`.
    pub url: Option<String>,
    /// Where the private cluster lives (created on first use).
    pub data_dir: PathBuf,
    /// Connections in the pool.
    pub max_connections: u32,
    /// Keep posts (and their mentions) this long after they were written, e.g. `"90d"`; rollups are
    /// kept forever. Unset: keep everything. See [`crate::store::retention`].
    #[serde(with = "crate::time::serde_duration::option")]
    pub retention: Option<Duration>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            data_dir: PathBuf::from(".coinpulse/pg"),
            max_connections: 8,
            retention: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TaggerConfig {
    /// A CSV or JSON asset list extending the built-in registry (see README, "Tagging coin mentions").
    pub assets_file: Option<PathBuf>,
    /// Use `assets_file` alone instead of extending the built-in registry with it.
    pub assets_replace: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SentimentConfig {
    /// A model file written by `coinpulse train`, replacing the built-in model.
    pub model_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// The batch writer commits when this many posts are waiting ...
    pub batch_size: usize,
    /// ... or when the oldest waiting post has waited this long.
    #[serde(with = "crate::time::serde_duration")]
    pub flush_interval: Duration,
    /// Capacity of each channel between stages; full channels make collectors wait.
    pub channel_capacity: usize,
    /// On SIGTERM/SIGINT, how long to drain and flush before exiting anyway.
    #[serde(with = "crate::time::serde_duration")]
    pub shutdown_grace: Duration,
    /// How long a process holds a source lease without renewing it before another may take over.
    #[serde(with = "crate::time::serde_duration")]
    pub lease_ttl: Duration,
    /// How often the daemon logs one summary line per source (fetched, stored, duplicates, filtered,
    /// lag).
    #[serde(with = "crate::time::serde_duration")]
    pub summary_interval: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            batch_size: 1000,
            flush_interval: Duration::from_millis(500),
            channel_capacity: 4096,
            shutdown_grace: Duration::from_secs(10),
            lease_ttl: Duration::from_secs(30),
            summary_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChartsConfig {
    /// Directory the daemon (and the demo) redraws its charts in, and the dashboard serves them
    /// from: a runtime folder of its own, so it never overwrites what `coinpulse chart` (default
    /// `charts/`) drew.
    pub out_dir: PathBuf,
    /// Assets (symbols or CoinGecko ids) the daemon draws charts for.
    pub assets: Vec<String>,
    /// How far back the daemon's charts reach.
    #[serde(with = "crate::time::serde_duration")]
    pub range: Duration,
    /// How often the daemon redraws them.
    #[serde(with = "crate::time::serde_duration")]
    pub interval: Duration,
}

impl Default for ChartsConfig {
    fn default() -> Self {
        ChartsConfig {
            out_dir: PathBuf::from(".coinpulse/charts"),
            assets: vec!["BTC".into(), "ETH".into()],
            range: Duration::from_secs(30 * 86_400),
            interval: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of the health, metrics and dashboard server. Empty disables it.
    pub listen: Option<SocketAddr>,
    /// Environment variable holding the bearer token; required when `listen` is not loopback.
    pub token_env: String,
    /// Dashboard and API requests served at once; more are answered 503 at once.
    pub max_in_flight: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9187))),
            token_env: "COINPULSE_HTTP_TOKEN".into(),
            max_in_flight: 32,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Shorthand for one generic webhook channel: alerts POSTed as JSON. Alerts always go to the
    /// log as well.
    pub webhook_url: Option<String>,
    /// Discord, Slack, Telegram and webhook channels; see [`crate::report::alerts::channels`].
    pub channels: Vec<crate::report::alerts::channels::ChannelConfig>,
    /// The dashboard's public URL, linked from every message.
    pub dashboard_url: Option<String>,
    /// The daily digest; off unless set.
    pub digest: Option<crate::report::alerts::digest::DigestConfig>,
    /// Rules evaluated on every bucket close.
    pub rules: Vec<AlertRule>,
    /// No repeat of the same alert (rule + asset) within this time.
    #[serde(with = "crate::time::serde_duration")]
    pub cooldown: Duration,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhook_url: None,
            channels: Vec::new(),
            dashboard_url: None,
            digest: None,
            rules: Vec::new(),
            cooldown: Duration::from_secs(6 * 3_600),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum AlertRule {
    /// Hourly mention volume z-score (against the trailing window) above `threshold`.
    VolumeSpike {
        threshold: f64,
        #[serde(default)]
        assets: Vec<String>,
    },
    /// The sign of the sentiment balance (positive − negative) flips between two closed buckets,
    /// with at least `min_mentions` mentions in each.
    SentimentFlip {
        #[serde(default = "default_min_mentions")]
        min_mentions: i64,
        #[serde(default)]
        assets: Vec<String>,
    },
    /// An asset enters the top `n` by mention volume.
    NewInTop { n: usize },
}

fn default_min_mentions() -> i64 {
    20
}

/// A configuration problem, phrased for the person who has to fix the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: invalid value for key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{path}: {message}")]
    Check { path: PathBuf, message: String },
}

impl Config {
    /// Loads `path` (which may be absent when `required` is false), then applies environment
    /// overrides from `env`.
    pub fn load_from(
        path: &Path,
        required: bool,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        // DATABASE_URL first, so that the more specific COINPULSE_DATABASE__URL wins over it.
        let mut env: Vec<(String, String)> = env.into_iter().collect();
        env.sort_by_key(|(var, _)| var != "DATABASE_URL");
        // Which variable set which key, so a bad value is blamed on the variable, not the file.
        let mut overrides: Vec<(String, String)> = Vec::new();
        for (var, value) in env {
            if let Some(key) = apply_env_override(&mut table, &var, &value)? {
                overrides.retain(|(k, _)| *k != key);
                overrides.push((key, var));
            }
        }
        let blame = |key: &str, message: &str| {
            overrides.iter().find_map(|(k, var)| {
                let field = k.rsplit('.').next().unwrap_or(k);
                let hit = k == key
                    || key.starts_with(&format!("{k}."))
                    || (k.starts_with(&format!("{key}."))
                        && message.contains(&format!("`{field}`")));
                hit.then(|| var.clone())
            })
        };
        let deserializer = toml::Value::Table(table);
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let message = e.into_inner().to_string();
            match blame(&key, &message) {
                Some(var) => ConfigError::Env {
                    var,
                    message: format!("invalid value for key `{key}`: {message}"),
                },
                None => ConfigError::Invalid {
                    path: path.to_owned(),
                    key,
                    message,
                },
            }
        })?;
        config.check().map_err(|message| {
            // Checks name their key in backticks: `pipeline.batch_size`.
            let key = message.split('`').nth(1).unwrap_or_default();
            match blame(key, &message) {
                Some(var) => ConfigError::Env { var, message },
                None => ConfigError::Check {
                    path: path.to_owned(),
                    message,
                },
            }
        })?;
        Ok(config)
    }

    /// Loads the config the way the binary does: `path`, then the process environment.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        Config::load_from(path, required, std::env::vars())
    }

    /// Cross-field checks that serde cannot express.
    fn check(&self) -> Result<(), String> {
        if self.pipeline.batch_size == 0 {
            return Err("invalid value for key `pipeline.batch_size`: must be at least 1".into());
        }
        if self.pipeline.channel_capacity == 0 {
            return Err(
                "invalid value for key `pipeline.channel_capacity`: must be at least 1".into(),
            );
        }
        if self.database.max_connections == 0 {
            return Err(
                "invalid value for key `database.max_connections`: must be at least 1".into(),
            );
        }
        at_least(
            "pipeline.lease_ttl",
            self.pipeline.lease_ttl,
            Duration::from_secs(1),
        )?;
        at_least(
            "charts.interval",
            self.charts.interval,
            Duration::from_secs(1),
        )?;
        if let Some(retention) = self.database.retention {
            at_least("database.retention", retention, Duration::from_secs(3600))?;
        }
        self.alerts.check()?;
        self.sources.check()
    }
}

/// A duration key's floor: a zero lease never saves a cursor, a zero chart interval is a busy loop
/// and a zero retention deletes every post.
fn at_least(key: &str, value: Duration, min: Duration) -> Result<(), String> {
    if value < min {
        return Err(format!(
            "invalid value for key `{key}`: {} is below the minimum of {}",
            humantime_serde::re::humantime::format_duration(value),
            humantime_serde::re::humantime::format_duration(min)
        ));
    }
    Ok(())
}

/// Sets `table[a][b]...` from `COINPULSE_A__B...=value` and returns the dotted key it set. The value
/// is parsed as a TOML value when it is one (`true`, `5`, `["a", "b"]`), else taken as a string, so
/// `COINPULSE_DATABASE__URL=postgres://..` needs no quoting. Every key has a section, so a variable
/// without `__` is not an override: `COINPULSE_CONFIG` (the config file), `COINPULSE_SHARED_DIR`.
fn apply_env_override(
    table: &mut toml::Table,
    var: &str,
    value: &str,
) -> Result<Option<String>, ConfigError> {
    let path: Vec<String> = if var == "DATABASE_URL" {
        vec!["database".into(), "url".into()]
    } else if let Some(rest) = var.strip_prefix(ENV_PREFIX)
        && rest.contains("__")
    {
        rest.split("__").map(|s| s.to_ascii_lowercase()).collect()
    } else {
        return Ok(None);
    };
    if path.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::Env {
            var: var.into(),
            message: "empty key segment (use one `__` between levels)".into(),
        });
    }
    let parsed = parse_env_value(value);
    let (last, parents) = path.split_last().expect("non-empty");
    let mut cursor = table;
    for key in parents {
        let entry = cursor
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cursor = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(ConfigError::Env {
                    var: var.into(),
                    message: format!("`{key}` is not a section"),
                });
            }
        };
    }
    cursor.insert(last.clone(), parsed);
    Ok(Some(path.join(".")))
}

fn parse_env_value(value: &str) -> toml::Value {
    // A TOML document `v = <value>` tells whether the text is a TOML literal.
    let doc = format!("v = {value}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(value.into())),
        Err(_) => toml::Value::String(value.into()),
    }
}

/// Reads a secret from the environment variable named in the config. The value never passes through
/// `Debug` or `Display` unredacted.
pub fn secret_from_env(var: &str) -> Option<SecretString> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(SecretString::from)
}

#[cfg(test)]
mod shipped;

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        Config::load_from(
            &path,
            true,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn shipped_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        Config::load_from(&path, true, std::iter::empty()).expect("config.toml must parse");
    }

    #[test]
    fn unknown_key_is_named_with_the_file() {
        let err = load("[pipeline]\nbatch_sise = 10\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.toml"), "{err}");
        assert!(err.contains("batch_sise"), "{err}");
    }

    #[test]
    fn invalid_value_names_the_key_path() {
        let err = load("[pipeline]\nflush_interval = \"soon\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("pipeline.flush_interval"), "{err}");
    }

    #[test]
    fn retention_is_optional_and_takes_human_durations() {
        assert_eq!(load("", &[]).unwrap().database.retention, None);
        let config = load("[database]\nretention = \"90d\"\n", &[]).unwrap();
        assert_eq!(
            config.database.retention,
            Some(Duration::from_secs(90 * 86_400))
        );
        let config = load("", &[("COINPULSE_DATABASE__RETENTION", "2weeks")]).unwrap();
        assert_eq!(
            config.database.retention,
            Some(Duration::from_secs(14 * 86_400))
        );
        let err = load("[database]\nretention = \"forever\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("database.retention"), "{err}");
    }

    #[test]
    fn zero_batch_size_is_rejected() {
        let err = load("[pipeline]\nbatch_size = 0\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("pipeline.batch_size"), "{err}");
    }

    #[test]
    fn durations_below_their_minimum_are_rejected_naming_the_key() {
        for (text, key) in [
            ("[pipeline]\nlease_ttl = \"500ms\"\n", "pipeline.lease_ttl"),
            ("[charts]\ninterval = \"500ms\"\n", "charts.interval"),
            ("[database]\nretention = \"59m\"\n", "database.retention"),
        ] {
            let err = load(text, &[]).unwrap_err().to_string();
            assert!(
                err.contains(key) && err.contains("minimum"),
                "{text}: {err}"
            );
        }
        // A zero duration is refused by the time grammar itself, still naming the key.
        for (text, key) in [
            ("[pipeline]\nlease_ttl = \"0s\"\n", "pipeline.lease_ttl"),
            ("[charts]\ninterval = \"0s\"\n", "charts.interval"),
            ("[database]\nretention = \"0s\"\n", "database.retention"),
        ] {
            let err = load(text, &[]).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        load(
            "[pipeline]\nlease_ttl = \"1s\"\n[database]\nretention = \"1h\"\n",
            &[],
        )
        .unwrap();
    }

    #[test]
    fn env_overrides_file() {
        let config = load(
            "[pipeline]\nbatch_size = 10\n",
            &[
                ("COINPULSE_PIPELINE__BATCH_SIZE", "77"),
                ("DATABASE_URL", "postgres://u@localhost/db"),
                ("UNRELATED", "x"),
            ],
        )
        .unwrap();
        assert_eq!(config.pipeline.batch_size, 77);
        assert_eq!(
            config.database.url.as_deref(),
            Some("postgres://u@localhost/db")
        );
    }

    #[test]
    fn coinpulse_database_url_wins_over_database_url() {
        for order in [
            [
                ("COINPULSE_DATABASE__URL", "postgres://a/x"),
                ("DATABASE_URL", "postgres://b/y"),
            ],
            [
                ("DATABASE_URL", "postgres://b/y"),
                ("COINPULSE_DATABASE__URL", "postgres://a/x"),
            ],
        ] {
            let config = load("", &order).unwrap();
            assert_eq!(config.database.url.as_deref(), Some("postgres://a/x"));
        }
    }

    #[test]
    fn env_override_with_bad_value_names_the_key() {
        let err = load("", &[("COINPULSE_PIPELINE__BATCH_SIZE", "many")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("pipeline.batch_size"), "{err}");
    }

    #[test]
    fn a_bad_env_override_is_blamed_on_the_variable_not_the_file() {
        for (var, value, key) in [
            (
                "COINPULSE_PIPELINE__BATCH_SIZE",
                "many",
                "pipeline.batch_size",
            ),
            ("COINPULSE_PIPELINE__BATCH_SIZE", "0", "pipeline.batch_size"),
            (
                "COINPULSE_PIPELINE__FLUSH_INTERVAL",
                "soon",
                "pipeline.flush_interval",
            ),
            ("COINPULSE_PIPELINE__NOPE", "1", "nope"),
        ] {
            let err = load("[pipeline]\nbatch_size = 10\n", &[(var, value)]).unwrap_err();
            assert!(matches!(err, ConfigError::Env { .. }), "{var}: {err:?}");
            let err = err.to_string();
            assert!(
                err.starts_with(&format!("environment variable {var}")),
                "{err}"
            );
            assert!(err.contains(key), "{err}");
            assert!(!err.contains("config.toml"), "{err}");
        }
        // A bad value in the file is still the file's.
        let err = load(
            "[pipeline]\nbatch_size = 0\n",
            &[("COINPULSE_PIPELINE__FLUSH_INTERVAL", "2s")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("config.toml"), "{err}");
    }

    #[test]
    fn variables_without_a_section_are_not_key_overrides() {
        let config = load(
            "",
            &[
                ("COINPULSE_CONFIG", "/etc/coinpulse/config.toml"),
                ("COINPULSE_SHARED_DIR", "/srv/shared"),
            ],
        )
        .unwrap();
        assert_eq!(config.pipeline.batch_size, 1000);
    }

    #[test]
    fn unknown_env_key_is_rejected() {
        let err = load("", &[("COINPULSE_PIPELINE__NOPE", "1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
    }
}
