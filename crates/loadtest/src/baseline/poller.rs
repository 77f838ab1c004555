//! The baseline's expiry poller: every tick, free the holds whose instant
//! has passed, in batches, as the original design sketched. Until it runs
//! an expired hold still blocks its seats (though no longer its buyer: the
//! purchase guard checks the instant itself).
//!
//! This is the baseline (the design Boxoffice replaces), not the product.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Pool;

use super::db::is_retryable;

/// Rows freed per statement: each batch is its own short transaction, so
/// the poller never holds many row locks against the rush.
const BATCH: u64 = 1000;

/// Frees expired holds every `every`, forever.
pub async fn run(pool: Pool, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match free_expired(&pool).await {
            Ok(0) => {}
            Ok(freed) => tracing::debug!(freed, "expired holds freed"),
            Err(error) if is_retryable(&error) => tracing::debug!(%error, "poller: next tick"),
            Err(error) => tracing::warn!(%error, "the expiry poller failed; trying next tick"),
        }
    }
}

/// Frees every hold due now, a batch at a time; answers how many.
/// `lapsed_holder` keeps whose hold it was, so their late purchase is told
/// 410 `hold-expired` as Boxoffice tells it.
pub async fn free_expired(pool: &Pool) -> Result<u64, mysql_async::Error> {
    let mut conn = pool.get_conn().await?;
    let mut freed = 0;
    loop {
        conn.exec_drop(
            "UPDATE tickets SET state = 'available', lapsed_holder = holder, holder = NULL, \
             reserved_until = NULL WHERE state = 'reserved' AND reserved_until <= NOW(6) LIMIT ?",
            (BATCH,),
        )
        .await?;
        let batch = conn.affected_rows();
        freed += batch;
        if batch < BATCH {
            return Ok(freed);
        }
    }
}
