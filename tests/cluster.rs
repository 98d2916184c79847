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
