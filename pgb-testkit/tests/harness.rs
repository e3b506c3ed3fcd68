//! The harness itself: a private cluster starts, answers queries and stops.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pgb_testkit::Cluster;

#[test]
fn a_private_cluster_starts_answers_and_stops() {
    let cluster = Cluster::start();
    assert_eq!(cluster.psql("postgres", "SELECT 40 + 2"), "42");
    let root = cluster.host().to_path_buf();
    assert!(root.join(".s.PGSQL.5432").exists());
    drop(cluster);
    assert!(
        !root.exists(),
        "the folder is removed when the cluster is dropped"
    );
}
