//! `node_id` and the `[cluster]` table: how a node on a PostgreSQL database shares
//! the endpoints with the other nodes there (cluster.md), checked at load so that a
//! bad value names its key.

use herald_storage_postgres::{ClusterOptions, MAX_PARTITIONS};
use serde::Deserialize;

use crate::config::{duration, ConfigError};

/// `[cluster]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawCluster {
    partitions: i64,
    lease_ttl: String,
    lease_renew: String,
}

impl Default for RawCluster {
    fn default() -> Self {
        let defaults = ClusterOptions::new("");
        Self {
            partitions: i64::from(defaults.partitions),
            lease_ttl: format!("{}s", defaults.lease_ttl.as_secs()),
            lease_renew: format!("{}s", defaults.lease_renew.as_secs()),
        }
    }
}

impl RawCluster {
    /// The options of node `node_id` (empty: this host's name and the process id).
    pub(crate) fn validate(self, node_id: &str) -> Result<ClusterOptions, ConfigError> {
        let node_id = match node_id.trim() {
            "" => default_node_id(),
            given => given.to_owned(),
        };
        let partitions = u32::try_from(self.partitions)
            .ok()
            .filter(|p| (1..=MAX_PARTITIONS).contains(p))
            .ok_or_else(|| {
                ConfigError::new(
                    "cluster.partitions",
                    format!("must be from 1 to {MAX_PARTITIONS}"),
                )
            })?;
        let lease_ttl = duration("cluster.lease_ttl", &self.lease_ttl)?;
        let lease_renew = duration("cluster.lease_renew", &self.lease_renew)?;
        let options = ClusterOptions {
            node_id,
            partitions,
            lease_ttl,
            lease_renew,
        };
        options
            .check()
            .map_err(|invalid| ConfigError::new(invalid.key, invalid.message))?;
        Ok(options)
    }
}

/// This host's name (letters, digits, `.` and `-` kept) and the process id: unique
/// among the nodes of a database as long as host names are.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        .take(48)
        .collect();
    let host = if host.is_empty() { "node".into() } else { host };
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_node_id_is_the_host_and_pid() {
        let options = RawCluster::default().validate("").unwrap();
        assert!(
            options
                .node_id
                .ends_with(&format!("-{}", std::process::id())),
            "{}",
            options.node_id
        );
        assert_eq!(options.check(), Ok(()));
    }
}
