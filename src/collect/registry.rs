//! How a source is registered: its config implements [`SourceConfig`], and one line in the
//! `sources!` list of `collect/mod.rs` names its module and config type.
//!
//! That list is the only place a source is enumerated. From it the macro writes the `[sources]`
//! table's fields and defaults, [`SOURCE_NAMES`](super::SOURCE_NAMES), the config check, the
//! enabled lookup and the builder, so a source cannot be half-registered: forgetting it in one of
//! them is impossible, and a name that exists nowhere is a compile error rather than a silent
//! string match that never fires.
//!
//! Building takes a [`BuildContext`]: the shared HTTP settings, the tracked assets, an optional
//! base-URL override (every host of the source goes to it: `poll --base-url`, tests, the demo
//! sandbox) and a [`Secrets`] resolver. Credentials come from the resolver, which reads the process
//! environment unless a value was given to it directly — how the demo hands its dummy token to the
//! collectors without changing the environment of a running process.

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::SecretString;

use super::{CollectError, Collector, HttpSettings};
use crate::model::Asset;

/// A source's `[sources.<name>]` table, and how to build the source from it.
pub trait SourceConfig {
    /// The source name: the config key under `[sources]`, and the key of its cursor and lease.
    const NAME: &'static str;

    /// Whether `enabled = true`.
    fn enabled(&self) -> bool;

    /// Checks what serde cannot (ranges, URLs, named credentials), with messages that name the key
    /// (`sources.twitter.bearer_token_env`). Runs at start for every source, enabled or not.
    fn check(&self) -> Result<(), String>;

    /// The collector. Missing credentials are a [`CollectError::Fatal`] naming the variable and key.
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Collector>, CollectError>;
}

/// What building a collector needs besides its own config.
pub struct BuildContext<'a> {
    pub http: HttpSettings,
    /// The asset registry; sources that ask about assets pick theirs with `track`.
    pub tracked: &'a [Asset],
    /// Replaces every host the source talks to.
    pub base_url: Option<&'a str>,
    pub secrets: &'a Secrets,
    /// Whether a post's text mentions a tracked asset (the tagger). Stream sources use it to drop the
    /// rest of the firehose before anything is queued; polled sources ask the API for their assets.
    pub filter: Option<PostFilter>,
}

/// See [`BuildContext::filter`].
pub type PostFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

impl BuildContext<'_> {
    /// `configured`, or the base-URL override when there is one.
    pub fn url(&self, configured: &str) -> String {
        self.base_url.unwrap_or(configured).to_owned()
    }
}

/// Resolves the credential a config names by its environment variable.
///
/// Values given with [`Secrets::with`] win over the process environment; nothing is ever written
/// to the environment.
#[derive(Clone, Default)]
pub struct Secrets {
    given: HashMap<String, SecretString>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("given", &self.given.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Secrets {
    /// Reads the process environment only.
    pub fn from_env() -> Secrets {
        Secrets::default()
    }

    /// `var` resolves to `value` whatever the environment says.
    pub fn with(mut self, var: &str, value: SecretString) -> Secrets {
        self.given.insert(var.to_owned(), value);
        self
    }

    /// The value of `var`, if set and not blank.
    pub fn get(&self, var: &str) -> Option<SecretString> {
        match self.given.get(var) {
            Some(value) => Some(value.clone()),
            None => crate::config::secret_from_env(var),
        }
    }

    /// The credential in `var` (named by config key `key`), or a fatal error saying what to set.
    pub fn require(
        &self,
        source: &str,
        key: &str,
        var: &str,
    ) -> Result<SecretString, CollectError> {
        self.get(var).ok_or_else(|| {
            CollectError::fatal(
                source,
                format!("environment variable {var} (named by `{key}`) is not set or empty; set it or disable the source"),
            )
        })
    }
}

/// Writes the `[sources]` table and everything that enumerates sources from one list of
/// `module::ConfigType` lines. The field of each source is its module name, which must equal its
/// [`SourceConfig::NAME`] (a unit test checks it).
macro_rules! sources {
    ($($module:ident :: $config:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// Every source name, in the order `build_collectors` reports them.
        pub const SOURCE_NAMES: &[&str] = &[$(<$module::$config as SourceConfig>::NAME),+];

        /// `[sources]` in config.toml: HTTP settings shared by all sources, then one table per source.
        #[derive(Debug, Clone, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct SourcesConfig {
            /// Whole-request timeout (connect, send, read the body).
            #[serde(with = "humantime_serde")]
            pub timeout: Duration,
            #[serde(with = "humantime_serde")]
            pub connect_timeout: Duration,
            /// Retries after a 5xx, a timeout or a connection error, within one request.
            pub max_retries: u32,
            /// First retry waits about this long; each further retry doubles it (with jitter).
            #[serde(with = "humantime_serde")]
            pub retry_base_delay: Duration,
            #[serde(with = "humantime_serde")]
            pub retry_max_delay: Duration,
            $(pub $module: $module::$config,)+
        }

        impl Default for SourcesConfig {
            fn default() -> Self {
                SourcesConfig {
                    timeout: Duration::from_secs(30),
                    connect_timeout: Duration::from_secs(10),
                    max_retries: 3,
                    retry_base_delay: Duration::from_millis(500),
                    retry_max_delay: Duration::from_secs(30),
                    $($module: Default::default(),)+
                }
            }
        }

        impl SourcesConfig {
            /// Every source's own check (see [`SourceConfig::check`]).
            fn check_sources(&self) -> Result<(), String> {
                $(SourceConfig::check(&self.$module)?;)+
                Ok(())
            }

            /// Whether the named source is enabled (`None` for an unknown name).
            pub fn enabled(&self, name: &str) -> Option<bool> {
                $(if name == <$module::$config as SourceConfig>::NAME {
                    return Some(SourceConfig::enabled(&self.$module));
                })+
                None
            }

            /// Builds the named source (`None` for an unknown name), enabled or not.
            fn build_named(
                &self,
                name: &str,
                ctx: &BuildContext<'_>,
            ) -> Option<Result<Box<dyn Collector>, CollectError>> {
                $(if name == <$module::$config as SourceConfig>::NAME {
                    return Some(SourceConfig::build(&self.$module, ctx));
                })+
                None
            }
        }

        #[cfg(test)]
        #[test]
        fn each_source_field_is_named_like_its_source() {
            $(assert_eq!(stringify!($module), <$module::$config as SourceConfig>::NAME);)+
        }
    };
}

pub(crate) use sources;
