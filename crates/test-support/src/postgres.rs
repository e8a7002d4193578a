//! A fresh PostgreSQL database per test, dropped afterwards.

use sqlx::{Connection, PgConnection};

/// A database created for one test. Call [`TestDatabase::drop_database`] at the end; if the test
/// panics first, `Drop` removes it on a helper thread.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates `recon_test_<random>` through `admin_url`.
    pub async fn create(admin_url: &str) -> Self {
        let name = format!("recon_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .expect("connect to PostgreSQL as admin");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        let url = format!("{base}/{name}");
        Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
            dropped: false,
        }
    }

    /// The URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database (forcing out leftover connections) and asserts it is gone.
    pub async fn drop_database(mut self) {
        drop_now(&self.admin_url, &self.name).await;
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .expect("reconnect as admin");
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
            .bind(&self.name)
            .fetch_one(&mut admin)
            .await
            .expect("query pg_database");
        assert_eq!(left, 0, "test database {} was left behind", self.name);
        self.dropped = true;
    }
}

async fn drop_now(admin_url: &str, name: &str) {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .expect("connect to PostgreSQL as admin");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
    let _ = admin.close().await;
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside a test's runtime, which cannot be blocked on; use a thread.
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(drop_now(&admin_url, &name));
            }
        })
        .join();
    }
}
