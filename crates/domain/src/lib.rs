//! Recon's domain: the reconciliation engine and its business rules.
//!
//! This crate is pure. It does no I/O of its own — readers parse from any `std::io::Read` the
//! caller hands in — and depends on neither tokio, sqlx, axum nor any other I/O crate; the
//! invariant test in `tests/purity.rs` fails if that ever changes.
