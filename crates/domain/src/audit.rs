//! The audit trail's hash chain: what each entry's hash covers, and how a chain is verified.
//!
//! Entry `n` stores `hash_n = SHA-256(canonical(entry_n) ‖ hash_{n-1})`, hex-encoded, with the
//! first entry chained to [`GENESIS_HASH`]. `canonical` is the JSON array of the entry's fields
//! in a fixed order, so no two different entries serialize alike. Editing any field of a stored
//! entry changes its hash; deleting an entry breaks the next one's link or leaves a gap in the
//! sequence numbers. Both are found by [`ChainVerifier`], which reads entries in sequence order.
//! Cutting entries off the end cannot be seen from the chain alone: operators record the head
//! that `recon audit verify` prints somewhere else if they need that.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields an entry's hash covers, in their canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditFields<'a> {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When, Unix epoch milliseconds.
    pub at_ms: i64,
    /// Who (an account id), when known.
    pub actor_id: Option<&'a str>,
    /// What, e.g. `project.created`.
    pub action: &'a str,
    /// The kind of object acted on, e.g. `project`.
    pub target_type: &'a str,
    /// Its id, when it has one.
    pub target_id: Option<&'a str>,
    /// The project it belongs to, for project owners' view of the trail.
    pub project_id: Option<&'a str>,
    /// The client's address as the service saw it.
    pub client_address: Option<&'a str>,
    /// The request id (also in the response header and the logs).
    pub request_id: Option<&'a str>,
    /// Action-specific details, a JSON object as text.
    pub details: &'a str,
}

/// The hash of `fields` chained to `prev_hash`.
pub fn entry_hash(fields: &AuditFields<'_>, prev_hash: &str) -> String {
    let canonical = serde_json::to_string(&(
        fields.seq,
        fields.at_ms,
        fields.actor_id,
        fields.action,
        fields.target_type,
        fields.target_id,
        fields.project_id,
        fields.client_address,
        fields.request_id,
        fields.details,
    ))
    .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(canonical.as_bytes());
    hasher.update(b"\n");
    hasher.update(prev_hash.as_bytes());
    hex::encode(hasher.finalize())
}

/// Why the chain does not verify at an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// A sequence number is missing (a deleted entry) or out of order.
    #[error("expected entry {expected} but found entry {found}: entries are missing")]
    Gap {
        /// The sequence number that should come next.
        expected: i64,
        /// The one found.
        found: i64,
    },
    /// The entry's `prev_hash` is not the previous entry's hash.
    #[error(
        "its prev_hash does not match the hash of entry {previous}: an entry before it was changed or removed"
    )]
    BrokenLink {
        /// The previous entry's sequence number.
        previous: i64,
    },
    /// The entry's stored hash is not the hash of its fields.
    #[error("its stored hash does not match its contents: the entry was edited")]
    Tampered,
}

/// Verifies entries fed in sequence order.
#[derive(Debug)]
pub struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl ChainVerifier {
    /// Checks the next entry: its place, its link and its own hash.
    pub fn check(
        &mut self,
        fields: &AuditFields<'_>,
        prev_hash: &str,
        hash: &str,
    ) -> Result<(), ChainBreak> {
        if fields.seq != self.next_seq {
            return Err(ChainBreak::Gap {
                expected: self.next_seq,
                found: fields.seq,
            });
        }
        if prev_hash != self.prev_hash {
            return Err(ChainBreak::BrokenLink {
                previous: fields.seq - 1,
            });
        }
        if entry_hash(fields, prev_hash) != hash {
            return Err(ChainBreak::Tampered);
        }
        self.next_seq += 1;
        hash.clone_into(&mut self.prev_hash);
        Ok(())
    }

    /// Entries verified so far.
    pub fn verified(&self) -> i64 {
        self.next_seq - 1
    }

    /// The hash of the last verified entry (the genesis hash before any).
    pub fn head(&self) -> &str {
        &self.prev_hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(seq: i64, action: &str) -> AuditFields<'_> {
        AuditFields {
            seq,
            at_ms: 1_700_000_000_000 + seq,
            actor_id: Some("u1"),
            action,
            target_type: "project",
            target_id: Some("p1"),
            project_id: Some("p1"),
            client_address: Some("127.0.0.1"),
            request_id: Some("r1"),
            details: "{}",
        }
    }

    fn chain(actions: &[&'static str]) -> Vec<(AuditFields<'static>, String, String)> {
        let mut prev = GENESIS_HASH.to_owned();
        let mut entries = Vec::new();
        for (index, action) in actions.iter().enumerate() {
            let entry = fields(index as i64 + 1, action);
            let hash = entry_hash(&entry, &prev);
            entries.push((entry, prev.clone(), hash.clone()));
            prev = hash;
        }
        entries
    }

    #[test]
    fn an_intact_chain_verifies() {
        let mut verifier = ChainVerifier::default();
        for (entry, prev, hash) in chain(&["a", "b", "c"]) {
            verifier.check(&entry, &prev, &hash).expect("intact");
        }
        assert_eq!(verifier.verified(), 3);
    }

    #[test]
    fn edits_deletions_and_relinks_are_found_at_their_entry() {
        let entries = chain(&["a", "b", "c"]);
        // Edited field, stored hash kept.
        let mut verifier = ChainVerifier::default();
        verifier
            .check(&entries[0].0, &entries[0].1, &entries[0].2)
            .expect("first");
        let edited = AuditFields {
            action: "z",
            ..entries[1].0.clone()
        };
        assert_eq!(
            verifier.check(&edited, &entries[1].1, &entries[1].2),
            Err(ChainBreak::Tampered)
        );
        // Deleted middle entry.
        let mut verifier = ChainVerifier::default();
        verifier
            .check(&entries[0].0, &entries[0].1, &entries[0].2)
            .expect("first");
        assert_eq!(
            verifier.check(&entries[2].0, &entries[2].1, &entries[2].2),
            Err(ChainBreak::Gap {
                expected: 2,
                found: 3
            })
        );
        // Edited entry whose hash was recomputed too: the next link breaks.
        let mut verifier = ChainVerifier::default();
        verifier
            .check(&entries[0].0, &entries[0].1, &entries[0].2)
            .expect("first");
        let forged_hash = entry_hash(&edited, &entries[1].1);
        verifier
            .check(&edited, &entries[1].1, &forged_hash)
            .expect("self-consistent forgery");
        assert_eq!(
            verifier.check(&entries[2].0, &entries[2].1, &entries[2].2),
            Err(ChainBreak::BrokenLink { previous: 2 })
        );
    }
}
