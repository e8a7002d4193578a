//! `recon audit verify`: reads the audit trail in sequence order from the database the
//! settings name and checks its hash chain (`recon_domain::audit`).
//!
//! Exit 0 with the number of entries and the head hash on stdout (record the head elsewhere to
//! detect entries cut off the end later); 65 naming the first broken entry and why; 69 when the
//! database does not answer; 78 when DATABASE_URL is not a database URL.

use std::process::ExitCode;

use recon_domain::audit::{ChainBreak, ChainVerifier};
use recon_storage::StoreSettings;

use crate::cli::Settings;
use crate::config::{database_url, redact_url};

/// Entries read per query.
const PAGE: i64 = 1000;

/// Runs the check.
pub fn verify(settings: &Settings) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("recon audit verify: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(settings))
}

async fn run(settings: &Settings) -> ExitCode {
    let url = database_url(settings);
    let store = match recon_storage::open(&url, &StoreSettings::default()).await {
        Ok(store) => store,
        Err(recon_storage::StoreError::InvalidUrl(why)) => {
            eprintln!("recon audit verify: DATABASE_URL: {why}");
            return ExitCode::from(78);
        }
        Err(error) => {
            eprintln!(
                "recon audit verify: cannot open the database at DATABASE_URL={}: {error}; check that it runs and DATABASE_URL is right",
                redact_url(&url)
            );
            return ExitCode::from(69);
        }
    };
    if let Err(error) = store.verify_schema().await {
        eprintln!(
            "recon audit verify: the database at {} has no audit trail this binary knows ({error}); start recon serve once to migrate it",
            redact_url(&url)
        );
        return ExitCode::from(65);
    }
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = match store.audit_chain_page(after, PAGE).await {
            Ok(page) => page,
            Err(error) => {
                eprintln!("recon audit verify: reading the audit trail failed: {error}");
                return ExitCode::from(69);
            }
        };
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in &page {
            if let Err(broken) = verifier.check(&entry.fields(), &entry.prev_hash, &entry.hash) {
                let at = match broken {
                    ChainBreak::Gap { expected, .. } => expected,
                    ChainBreak::BrokenLink { .. } | ChainBreak::Tampered => entry.seq,
                };
                eprintln!(
                    "recon audit verify: the audit chain is broken at entry {at}: {broken}. Entries before it verify ({} of them); restore the audit_log table from a backup to investigate",
                    verifier.verified()
                );
                store.close().await;
                return ExitCode::from(65);
            }
        }
    }
    store.close().await;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "audit chain verified: {} entries; head hash {}",
            verifier.verified(),
            verifier.head()
        );
    }
    ExitCode::SUCCESS
}
