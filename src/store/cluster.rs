//! The private PostgreSQL cluster coinpulse runs when no database URL is configured.
//!
//! A user who only wants to try coinpulse should not have to create roles, databases or passwords. So,
//! without `database.url`/`DATABASE_URL`, coinpulse keeps a cluster of its own in `database.data_dir`
//! (default `./.coinpulse/pg`): `initdb` on first use, `pg_ctl start` listening only on a unix socket
//! inside that directory (no TCP port to clash with another server), trust authentication for the
//! socket (only the directory's owner can reach it), and a database named `coinpulse`.
//!
//! The binaries come from `PATH` or the newest `/usr/lib/postgresql/*/bin`. `initdb` and `postgres`
//! refuse to run as root, so when coinpulse itself runs as root it runs them as the `postgres` system
//! user with `runuser`, and gives that user the data directory. If that user cannot reach the
//! configured directory (a checkout under `/root`, say), the cluster lives under
//! `/var/lib/coinpulse/` instead, keyed by the configured path, and the log says so.
//!
//! The socket directory is `<data_dir>/sock`, or `/tmp/coinpulse-<hash>` when that path would be too
//! long for a unix socket. Whoever owns that directory can put a socket of their own there and
//! receive coinpulse's connection, so it is created exclusively (mode 0700, never through a symbolic
//! link), and one that exists already is used only when it is a real directory, owned by the user the
//! server runs as, that nobody else can write to; anything else stops the start with the reason. The
//! cluster's own `postgresql.conf` says `listen_addresses = ''` as well as the command line, so a
//! `pg_ctl start` by hand does not open a TCP port either.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::postgres::PgConnectOptions;

/// The database the private cluster serves coinpulse from.
pub const DATABASE: &str = "coinpulse";
const SUPERUSER: &str = "postgres";
/// Unix socket paths are limited to about 107 bytes on Linux.
const MAX_SOCKET_PATH: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no PostgreSQL server binaries found on PATH or under /usr/lib/postgresql/*/bin; \
         install them with `apt-get install -y postgresql` (Debian/Ubuntu) or set database.url"
    )]
    BinariesMissing,
    #[error(
        "running as root needs the `postgres` system user and `runuser` to start PostgreSQL: {0}"
    )]
    NoServiceUser(String),
    #[error("`{command}` failed ({status}): {output}")]
    CommandFailed {
        command: String,
        status: String,
        output: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(
        "refusing to use the socket directory {dir}: it {reason}; remove it (or use a shorter \
         database.data_dir, so that the socket lives inside it) and start again"
    )]
    UnsafeSocketDir { dir: PathBuf, reason: String },
}

/// What coinpulse appends to the cluster's `postgresql.conf`.
const LOCAL_ONLY_CONF: &str = "\n# Written by coinpulse: the private cluster listens on its unix socket only.\n\
                               listen_addresses = ''\nunix_socket_permissions = 0700\n";
/// The line of [`LOCAL_ONLY_CONF`] that shows it is there.
const LOCAL_ONLY_MARKER: &str = "listen_addresses = ''";

/// A private cluster: where it lives and which binaries drive it.
#[derive(Debug, Clone)]
pub struct Cluster {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    /// `Some("postgres")` when we are root and must run the server as another user.
    run_as: Option<String>,
}

impl Cluster {
    /// Describes the cluster for `data_dir`, without touching it.
    pub fn new(data_dir: &Path) -> Result<Cluster, ClusterError> {
        let bin_dir = find_bin_dir().ok_or(ClusterError::BinariesMissing)?;
        let run_as = running_as_root().then(|| SUPERUSER.to_string());
        let absolute = absolute(data_dir)?;
        let data_dir = match &run_as {
            Some(user) if !user_can_reach(user, &absolute) => fallback_dir(&absolute),
            _ => absolute,
        };
        Ok(Cluster {
            data_dir,
            bin_dir,
            run_as,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory holding the server's unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        let dir = self.data_dir.join("sock");
        if dir.join(".s.PGSQL.5432").as_os_str().len() <= MAX_SOCKET_PATH {
            return dir;
        }
        // Too long for a unix socket: use a short directory keyed by the data directory.
        PathBuf::from(format!("/tmp/coinpulse-{:016x}", path_hash(&self.data_dir)))
    }

    /// Whether `initdb` has been run here.
    pub fn is_initialized(&self) -> bool {
        self.data_dir.join("PG_VERSION").exists()
    }

    /// Whether the server is running (per `pg_ctl status`).
    pub fn is_running(&self) -> bool {
        self.is_initialized() && self.pg_ctl(&["status"]).is_ok()
    }

    /// Creates the cluster if needed, starts it if stopped, and creates the `coinpulse` database.
    /// Idempotent: calling it on a running cluster only checks.
    pub async fn start(&self) -> Result<(), ClusterError> {
        if !self.is_initialized() {
            self.init()?;
        }
        if !self.is_running() {
            self.write_local_only_conf()?;
            let socket_dir = self.socket_dir();
            self.make_socket_dir(&socket_dir)?;
            let log = self.data_dir.join("server.log");
            let options = format!(
                "-c listen_addresses='' -k {} -c unix_socket_permissions=0700",
                socket_dir.display()
            );
            self.pg_ctl(&[
                "start",
                "-w",
                "-t",
                "60",
                "-l",
                &log.to_string_lossy(),
                "-o",
                &options,
            ])?;
            tracing::info!(data_dir = %self.data_dir.display(), "Started the private PostgreSQL cluster.");
        }
        self.create_database().await
    }

    /// Stops the server (fast shutdown: open transactions are rolled back, committed data is safe).
    pub fn stop(&self) -> Result<(), ClusterError> {
        if self.is_running() {
            self.pg_ctl(&["stop", "-w", "-m", "fast"])?;
            tracing::info!(data_dir = %self.data_dir.display(), "Stopped the private PostgreSQL cluster.");
        }
        Ok(())
    }

    /// Connection options for the `coinpulse` database on the unix socket.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.connect_options_for(DATABASE)
    }

    fn connect_options_for(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(self.socket_dir())
            .username(SUPERUSER)
            .database(database)
    }

    /// The URL form of [`Cluster::connect_options`], understood by psql and sqlx alike.
    pub fn url(&self) -> String {
        format!(
            "postgresql:///{DATABASE}?host={}&user={SUPERUSER}",
            self.socket_dir().display()
        )
    }

    fn init(&self) -> Result<(), ClusterError> {
        self.make_dir(&self.data_dir)?;
        let initdb = self.bin_dir.join("initdb");
        let data_dir = self.data_dir.to_string_lossy().into_owned();
        let args = [
            "-D",
            data_dir.as_str(),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ];
        self.run(&initdb, &args)?;
        tracing::info!(data_dir = %self.data_dir.display(), "Created the private PostgreSQL cluster.");
        Ok(())
    }

    async fn create_database(&self) -> Result<(), ClusterError> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect_with(&self.connect_options_for("postgres"))
            .await
            .map_err(|e| io_error("connecting to the private cluster", e))?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await
                .map_err(|e| io_error("checking for the coinpulse database", e))?;
        if !exists {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {DATABASE}")))
                .execute(&mut conn)
                .await
                .map_err(|e| io_error("creating the coinpulse database", e))?;
        }
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<String, ClusterError> {
        let data_dir = self.data_dir.to_string_lossy().into_owned();
        let mut all = vec!["-D", data_dir.as_str()];
        all.extend_from_slice(args);
        self.run(&self.bin_dir.join("pg_ctl"), &all)
    }

    /// Creates the socket directory exclusively, or checks the one that exists (see the module docs).
    fn make_socket_dir(&self, dir: &Path) -> Result<(), ClusterError> {
        let owner = uid_of(self.run_as.as_deref())?;
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            // Fresh and ours: nobody else can swap it before the hand-over (`/tmp` is sticky).
            Ok(()) if self.run_as.is_some() => std::os::unix::fs::lchown(dir, Some(owner), None)
                .map_err(|source| ClusterError::Io {
                    context: format!("handing {} to the server user", dir.display()),
                    source,
                })?,
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(ClusterError::Io {
                    context: format!("creating {}", dir.display()),
                    source,
                });
            }
        }
        check_private_dir(dir, owner)
    }

    /// Appends [`LOCAL_ONLY_CONF`] to the cluster's `postgresql.conf` unless it is there already.
    fn write_local_only_conf(&self) -> Result<(), ClusterError> {
        use std::io::Write;
        let path = self.data_dir.join("postgresql.conf");
        let io = |source| ClusterError::Io {
            context: format!("writing {}", path.display()),
            source,
        };
        let conf = std::fs::read_to_string(&path).map_err(io)?;
        if conf.lines().any(|l| l.trim() == LOCAL_ONLY_MARKER) {
            return Ok(());
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(LOCAL_ONLY_CONF.as_bytes()))
            .map_err(io)
    }

    /// Creates `dir` (and parents) and, when running as root, hands it to the service user.
    fn make_dir(&self, dir: &Path) -> Result<(), ClusterError> {
        std::fs::create_dir_all(dir).map_err(|source| ClusterError::Io {
            context: format!("creating {}", dir.display()),
            source,
        })?;
        if let Some(user) = &self.run_as {
            let status = Command::new("chown")
                .args([&format!("{user}:"), &dir.to_string_lossy().into_owned()])
                .status()
                .map_err(|source| ClusterError::Io {
                    context: "running chown".into(),
                    source,
                })?;
            if !status.success() {
                return Err(ClusterError::NoServiceUser(format!(
                    "chown {user} {} failed",
                    dir.display()
                )));
            }
        }
        Ok(())
    }

    fn run(&self, program: &Path, args: &[&str]) -> Result<String, ClusterError> {
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        command.args(args).current_dir("/");
        let output = command.output().map_err(|source| ClusterError::Io {
            context: format!("running {}", program.display()),
            source,
        })?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if output.status.success() {
            Ok(text)
        } else {
            Err(ClusterError::CommandFailed {
                command: format!("{} {}", program.display(), args.join(" ")),
                status: output.status.to_string(),
                output: text.trim().to_string(),
            })
        }
    }
}

fn io_error(context: &str, e: sqlx::Error) -> ClusterError {
    ClusterError::Io {
        context: context.into(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// The directory holding `initdb` and `pg_ctl`: PATH first, then the newest Debian-style install.
pub fn find_bin_dir() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Checks that `dir` is a directory (not a symbolic link to one) owned by `owner` that no one else
/// can write to. Read and search rights of others are taken away (earlier versions made the directory
/// with mode 0755); write rights of others mean someone else may have put something inside: refused.
pub fn check_private_dir(dir: &Path, owner: u32) -> Result<(), ClusterError> {
    let refuse = |reason: String| ClusterError::UnsafeSocketDir {
        dir: dir.to_path_buf(),
        reason,
    };
    let meta = std::fs::symlink_metadata(dir).map_err(|source| ClusterError::Io {
        context: format!("checking {}", dir.display()),
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(refuse("is a symbolic link".into()));
    }
    if !meta.is_dir() {
        return Err(refuse("is not a directory".into()));
    }
    if meta.uid() != owner {
        return Err(refuse(format!(
            "belongs to uid {} instead of uid {owner}, the user the server runs as",
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(refuse(format!(
            "has mode {mode:04o}: other users can write to it"
        )));
    }
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(
            |source| ClusterError::Io {
                context: format!("restricting {} to mode 0700", dir.display()),
                source,
            },
        )?;
    }
    Ok(())
}

/// The uid of `user`, or of this process for `None` (`id -u`).
fn uid_of(user: Option<&str>) -> Result<u32, ClusterError> {
    let output = Command::new("id")
        .arg("-u")
        .args(user)
        .output()
        .map_err(|source| ClusterError::Io {
            context: "running id -u".into(),
            source,
        })?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| {
            ClusterError::NoServiceUser(format!("`id -u {}` gave no uid", user.unwrap_or_default()))
        })
}

fn running_as_root() -> bool {
    // SAFETY-free check: `id -u` avoids a libc dependency for one call made once at start-up.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn user_can_reach(user: &str, dir: &Path) -> bool {
    // The nearest existing ancestor must be traversable (and writable, to create the rest) by `user`.
    let mut probe = dir.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            return false;
        }
    }
    if probe == dir {
        // The directory exists already: postgres needs only to traverse its parents.
        probe.pop();
    }
    Command::new("runuser")
        .args(["-u", user, "--", "test", "-x"])
        .arg(&probe)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn fallback_dir(configured: &Path) -> PathBuf {
    let dir = PathBuf::from(format!(
        "/var/lib/coinpulse/pg-{:016x}",
        path_hash(configured)
    ));
    tracing::warn!(
        configured = %configured.display(),
        actual = %dir.display(),
        "The postgres user cannot reach the configured data directory; keeping the cluster elsewhere."
    );
    dir
}

fn absolute(path: &Path) -> Result<PathBuf, ClusterError> {
    std::path::absolute(path).map_err(|source| ClusterError::Io {
        context: format!("resolving {}", path.display()),
        source,
    })
}

/// FNV-1a: a stable, dependency-free name for a path (not for security).
fn path_hash(path: &Path) -> u64 {
    path.to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}
