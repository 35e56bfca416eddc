//! Every name a deployment uses, derived from its prefix in one place, and the partition of
//! a project.

use idgraph::Project;

/// The names of one deployment's stream, buckets and subjects, all derived from a prefix
/// (`idg` gives the stream `idg-events`, subjects `idg.events.0`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// The names under `prefix`, which must be a valid NATS token and stream name
    /// (letters, digits, `_` and `-`).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] for an empty prefix or one with other characters.
    pub fn new(prefix: &str) -> Result<Names, crate::Error> {
        let valid = !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(crate::Error::Config(format!(
                "prefix {prefix:?}: use letters, digits, '_' and '-'"
            )));
        }
        Ok(Names {
            prefix: prefix.to_owned(),
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The stream of events, `<prefix>-events`.
    pub fn stream(&self) -> String {
        format!("{}-events", self.prefix)
    }

    /// The subjects the stream holds, `<prefix>.events.*`.
    pub fn stream_subjects(&self) -> String {
        format!("{}.events.*", self.prefix)
    }

    /// The subject of a partition's events.
    pub fn events(&self, partition: u32) -> String {
        format!("{}.events.{partition}", self.prefix)
    }

    /// The key-value bucket of leases and heartbeats, `<prefix>-leases`.
    pub fn leases(&self) -> String {
        format!("{}-leases", self.prefix)
    }

    /// The object store of snapshots, `<prefix>-snapshots`.
    pub fn snapshots(&self) -> String {
        format!("{}-snapshots", self.prefix)
    }

    /// The subject a partition's owner answers `resolve` requests on.
    pub fn resolve(&self, partition: u32) -> String {
        format!("{}.resolve.{partition}", self.prefix)
    }

    /// The subject a partition's owner answers `dump` requests on.
    pub fn dump(&self, partition: u32) -> String {
        format!("{}.dump.{partition}", self.prefix)
    }
}

/// The lease key of a partition in the leases bucket.
pub(crate) fn lease_key(partition: u32) -> String {
    format!("partition.{partition}")
}

/// The heartbeat key of a worker in the leases bucket.
pub(crate) fn heartbeat_key(worker: &str) -> String {
    format!("worker.{worker}")
}

/// The object that holds a partition's latest snapshot.
pub(crate) fn snapshot_object(partition: u32) -> String {
    format!("partition-{partition}")
}

/// The partition of a project's events: FNV-1a (64 bits) of the project's display form
/// (`default`, the team id in decimal, or the token), modulo `partitions`.
///
/// FNV-1a because it is a few lines that every language has, so that a publisher written
/// elsewhere can route the same way; it needs no key, as nobody gains from choosing a
/// project's partition. Projects never share a person, so any function of the project
/// keeps PostHog's semantics; it must only never change for a stream that exists.
///
/// ```
/// use idgraph::Project;
/// use idgraph_worker::partition_of;
/// assert_eq!(partition_of(&Project::Default, 1), 0);
/// assert_eq!(partition_of(&Project::Token("phc_a".into()), 8), partition_of(&Project::Token("phc_a".into()), 8));
/// ```
///
/// # Panics
///
/// When `partitions` is 0.
#[track_caller]
pub fn partition_of(project: &Project, partitions: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    assert!(partitions > 0, "a stream has at least one partition");
    let hash = project.to_string().bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    // The remainder is below `partitions`, a u32.
    u32::try_from(hash % u64::from(partitions)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a's published test vectors, so that the hash is the one the doc names.
    #[test]
    fn fnv1a_vectors() {
        let fnv = |text: &str| {
            text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        };
        assert_eq!(fnv(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv("foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(
            partition_of(&Project::Token("foobar".into()), 1000),
            (0x8594_4171_f739_67e8_u64 % 1000) as u32
        );
        assert_eq!(
            partition_of(&Project::Team(7), 16),
            partition_of(&Project::Token("7".into()), 16)
        );
    }

    #[test]
    fn prefixes() {
        assert!(Names::new("idg_1-a").is_ok());
        assert!(matches!(Names::new(""), Err(crate::Error::Config(_))));
        assert!(matches!(Names::new("a.b"), Err(crate::Error::Config(_))));
        assert!(matches!(Names::new("a*"), Err(crate::Error::Config(_))));
    }
}
