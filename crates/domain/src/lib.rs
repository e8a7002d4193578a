//! Recon's domain: the reconciliation engine and its business rules.
//!
//! This crate is pure. It does no I/O of its own — readers parse from any `std::io::Read` the
//! caller hands in, writers write to any `std::io::Write` — and depends on neither tokio, sqlx,
//! axum nor any other I/O crate; the invariant test in `tests/purity.rs` fails if that changes.
//!
//! The pieces, in the order a run uses them: [`mapping`] and [`reader`] turn sources into
//! [`record::Records`] (a side's records, kept by column); [`rules`] holds the rules file's
//! types and their validation; [`engine`] finds candidates, scores them with [`criteria`] and
//! assigns them with a strategy; [`outcome`] is what comes out, and [`export`] writes it.
//!
//! Beside the engine sit the rules of access: [`access`] (roles and what they allow),
//! [`credentials`] (what emails and passwords may be) and [`audit`] (the audit trail's hash
//! chain).

pub mod access;
pub mod audit;
pub mod candidates;
pub mod credentials;
pub mod criteria;
pub mod engine;
pub mod export;
mod grouping;
mod id_order;
pub mod mapping;
pub mod outcome;
pub mod parse;
pub mod reader;
pub mod record;
pub mod rules;
