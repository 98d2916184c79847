//! The private cluster: created, started, stopped and restarted with its data intact.

use coinpulse::store::Store;
use coinpulse::store::cluster::Cluster;

#[tokio::test]
async fn private_cluster_survives_stop_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    // The cluster may run as the `postgres` user (when tests run as root): let it traverse.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data_dir = dir.path().join("pg");
    let config = coinpulse::config::DatabaseConfig {
        url: None,
        data_dir: data_dir.clone(),
        max_connections: 2,
        ..Default::default()
    };
    let cluster = Cluster::new(&data_dir).unwrap();
    assert!(!cluster.is_initialized());

    let store = Store::connect(&config).await.unwrap();
    assert!(cluster.is_running());
    let cursor = serde_json::json!({"since_id": "42"});
    store
        .write_batch(&[], "m1", Some(("twitter", &cursor)))
        .await
        .unwrap();
    store.pool().close().await;

    cluster.stop().unwrap();
    assert!(!cluster.is_running());
    assert!(cluster.is_initialized());

    // Connecting starts it again; the data written before the stop is there.
    let store = Store::connect(&config).await.unwrap();
    assert!(cluster.is_running());
    assert_eq!(store.cursor("twitter").await.unwrap(), Some(cursor));
    store.pool().close().await;
    cluster.stop().unwrap();
    assert!(!cluster.is_running());
}

/// Removes a path (directory, or the link itself) when dropped.
struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The uid of `user`, or of this process for `None`.
fn uid_of(user: Option<&str>) -> u32 {
    let out = std::process::Command::new("id")
        .arg("-u")
        .args(user)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// With a data directory too long for a socket path, the socket goes to `/tmp/coinpulse-<hash>`, a
/// name anyone can guess. A directory planted there by another user, one others can write to, or a
/// symbolic link is refused (and a link's target is not handed to the server user); without one, the
/// directory is made fresh with mode 0700 for the server user. The cluster's own config says it
/// listens on no TCP address.
#[tokio::test]
async fn a_planted_tmp_socket_directory_is_refused() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = |m| std::fs::Permissions::from_mode(m);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), mode(0o755)).unwrap();
    let data_dir = dir.path().join("d".repeat(90)).join("pg");
    std::fs::create_dir_all(data_dir.parent().unwrap()).unwrap();
    std::fs::set_permissions(data_dir.parent().unwrap(), mode(0o755)).unwrap();
    let cluster = Cluster::new(&data_dir).unwrap();
    let socket = cluster.socket_dir();
    assert!(socket.starts_with("/tmp"), "{}", socket.display());
    let _cleanup = Cleanup(socket.clone());
    // As root, the server runs as `postgres` (see `Cluster`).
    let root = uid_of(None) == 0;
    let server_uid = uid_of(root.then_some("postgres"));

    // Another user's directory, open to everyone.
    std::fs::create_dir(&socket).unwrap();
    std::fs::set_permissions(&socket, mode(0o777)).unwrap();
    if root {
        std::os::unix::fs::chown(&socket, Some(65534), Some(65534)).unwrap();
    }
    let err = cluster.start().await.unwrap_err().to_string();
    assert!(
        err.contains("refusing to use the socket directory"),
        "{err}"
    );
    assert!(
        err.contains(if root {
            "belongs to uid 65534"
        } else {
            "mode 0777"
        }),
        "{err}"
    );
    assert!(!cluster.is_running());

    // A symbolic link to a directory: refused, its target left as it was.
    std::fs::remove_dir(&socket).unwrap();
    let target = tempfile::tempdir().unwrap();
    let before = std::fs::metadata(target.path()).unwrap();
    std::os::unix::fs::symlink(target.path(), &socket).unwrap();
    let err = cluster.start().await.unwrap_err().to_string();
    assert!(err.contains("is a symbolic link"), "{err}");
    let after = std::fs::metadata(target.path()).unwrap();
    assert_eq!((after.uid(), after.mode()), (before.uid(), before.mode()));
    assert!(!cluster.is_running());

    // The server user's own directory, but writable by others.
    std::fs::remove_file(&socket).unwrap();
    std::fs::create_dir(&socket).unwrap();
    std::fs::set_permissions(&socket, mode(0o777)).unwrap();
    std::os::unix::fs::chown(&socket, Some(server_uid), None).unwrap();
    let err = cluster.start().await.unwrap_err().to_string();
    assert!(err.contains("has mode 0777"), "{err}");

    // Nothing there: made fresh, private to the server user, and used.
    std::fs::remove_dir(&socket).unwrap();
    cluster.start().await.unwrap();
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert!(meta.is_dir());
    assert_eq!((meta.uid(), meta.mode() & 0o777), (server_uid, 0o700));
    let conf = std::fs::read_to_string(cluster.data_dir().join("postgresql.conf")).unwrap();
    let listen = conf
        .lines()
        .rfind(|l| l.trim_start().starts_with("listen_addresses"));
    assert_eq!(listen, Some("listen_addresses = ''"));
    cluster.stop().unwrap();
}
