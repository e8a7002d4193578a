//! Runs one storage story against every database backend: SQLite always, PostgreSQL when a
//! server answers (always under CI=true). Each run gets its own database — a temporary file, or
//! a fresh PostgreSQL database dropped and checked gone afterwards.

use std::future::Future;

use crate::postgres::TestDatabase;

/// Runs `story` with the URL of a fresh database of each available backend.
pub async fn on_every_backend<F, Fut>(story: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite_url = format!("sqlite://{}", dir.path().join("story.db").display());
    story(sqlite_url).await;

    if let Some(admin) = crate::postgres_admin_url() {
        let database = TestDatabase::create(&admin).await;
        story(database.url().to_owned()).await;
        database.drop_database().await;
    }
}
