//! The database readiness probe behind `/health/ready`: `SELECT 1` through the pool,
//! answered within about a second even when the server hangs.

use crate::PgStore;
use async_trait::async_trait;
use diesel_async::RunQueryDsl;
use std::time::Duration;
use storefront_app::ports::ReadinessProbe;

/// `/health/ready` must answer within ~1 s whatever the database does.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

#[async_trait]
impl ReadinessProbe for PgStore {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), String> {
        let probe = async {
            let mut conn = self.pool.get().await.map_err(|e| {
                tracing::warn!(error = %e, "readiness: no database connection");
                "unreachable"
            })?;
            diesel::sql_query("SELECT 1").execute(&mut conn).await.map_err(|e| {
                tracing::warn!(error = %e, "readiness: query failed");
                "query failed"
            })
        };
        // The reasons are public (the endpoint needs no auth): short, with no internals.
        let outcome = tokio::time::timeout(PROBE_TIMEOUT, probe).await;
        self.publish_pool_metrics();
        match outcome {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(why)) => Err(why.to_owned()),
            Err(_) => {
                tracing::warn!("readiness: database did not answer within 1 s");
                Err("timeout".to_owned())
            }
        }
    }
}
