//! What every send leaves behind: a counter by channel, transport and
//! outcome, and a debug event. Failures are the caller's to log, since only
//! the caller knows whether it will retry or park.

use crate::error::SendError;

/// Counts and traces the outcome of one send.
pub(crate) fn record_send(
    channel: &'static str,
    transport: &'static str,
    message_id: &str,
    outcome: &Result<(), SendError>,
) {
    let outcome_name = match outcome {
        Ok(()) => "sent",
        Err(SendError::Transient(_)) => "transient",
        Err(SendError::Permanent(_)) => "permanent",
    };
    metrics::counter!(
        "receipts_sends_total",
        "channel" => channel,
        "transport" => transport,
        "outcome" => outcome_name
    )
    .increment(1);

    match outcome {
        Ok(()) => tracing::debug!(channel, transport, message_id, "receipt sent"),
        Err(error) => tracing::debug!(channel, transport, message_id, %error, "receipt not sent"),
    }
}
