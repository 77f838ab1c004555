//! Rebuilding the state from what the journal kept: the last checkpoint and
//! the log after it.
//!
//! Replay applies facts and checks no rules, so it is exact whenever it
//! runs. The tail may repeat what the checkpoint already holds (the
//! checkpoint's state was read after its log position): booking events are
//! skipped by their per-performance `seq`, catalogue and user events by id.

use std::collections::HashMap;
use std::sync::Arc;

use crate::booking::{Booking, BookingSnapshot, SnapshotMismatch};
use crate::catalogue::{Catalogue, PerformanceInfo, SeatPlan};
use crate::events::{BookingEvent, Event, User};
use crate::ids::{PerformanceId, UserId, VenueId};
use crate::journal::Checkpoint;

/// What the journal still holds at start-up.
#[derive(Clone, Debug, Default)]
pub struct Recovered {
    pub checkpoint: Option<Checkpoint>,
    /// Every event from the checkpoint's position on, in log order. Some may
    /// already be in the checkpoint; replay skips those.
    pub tail: Vec<Event>,
}

/// Why the state could not be rebuilt from the journal.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("performance {performance}: event {seq} follows event {after}, a gap in the log")]
    Gap { performance: PerformanceId, seq: u64, after: u64 },
    #[error("the log names performance {performance}, which the catalogue does not have")]
    UnknownPerformance { performance: PerformanceId },
    #[error("the log names venue {venue}, which the catalogue does not have")]
    UnknownVenue { venue: VenueId },
    #[error(transparent)]
    Snapshot(#[from] SnapshotMismatch),
}

/// The state rebuilt from a checkpoint and the log after it.
pub(crate) struct Replayed {
    pub catalogue: Catalogue,
    pub plans: HashMap<VenueId, Arc<SeatPlan>>,
    pub users: Vec<User>,
    pub bookings: HashMap<PerformanceId, Booking>,
    /// Per performance, the `seq` its durable snapshot covers.
    pub snapshot_seqs: HashMap<PerformanceId, u64>,
}

pub(crate) fn replay(recovered: Recovered) -> Result<Replayed, RecoveryError> {
    let checkpoint = recovered.checkpoint.unwrap_or_default();
    let mut catalogue = checkpoint.catalogue;
    let mut users: HashMap<UserId, User> =
        checkpoint.users.into_iter().map(|user| (user.id, Arc::unwrap_or_clone(user))).collect();
    let booking_events = fold_tail(recovered.tail, &mut catalogue, &mut users);
    if let Some(&performance) =
        booking_events.keys().find(|id| !catalogue.performances.contains_key(id))
    {
        return Err(RecoveryError::UnknownPerformance { performance });
    }

    let plans: HashMap<VenueId, Arc<SeatPlan>> = catalogue
        .venues
        .values()
        .map(|venue| (venue.id, Arc::new(SeatPlan::new(venue.layout.clone()))))
        .collect();
    let snapshots: HashMap<PerformanceId, BookingSnapshot> =
        checkpoint.bookings.into_iter().map(|s| (s.performance, s)).collect();
    let snapshot_seqs = snapshots.iter().map(|(&id, s)| (id, s.seq)).collect();
    let bookings = rebuild_bookings(&catalogue, &plans, snapshots, booking_events)?;

    let mut users: Vec<User> = users.into_values().collect();
    users.sort_unstable_by_key(|user| user.id);
    Ok(Replayed { catalogue, plans, users, bookings, snapshot_seqs })
}

/// Applies the tail's catalogue and user events, and sorts its booking
/// events by performance, in log order.
fn fold_tail(
    tail: Vec<Event>,
    catalogue: &mut Catalogue,
    users: &mut HashMap<UserId, User>,
) -> HashMap<PerformanceId, Vec<BookingEvent>> {
    let mut booking_events: HashMap<PerformanceId, Vec<BookingEvent>> = HashMap::new();
    for event in tail {
        match event {
            Event::CityCreated(city) => {
                catalogue.cities.entry(city.id).or_insert(city);
            }
            Event::VenueCreated(venue) => {
                catalogue.venues.entry(venue.id).or_insert(venue);
            }
            Event::PerformanceCreated(info) => {
                catalogue.performances.entry(info.id).or_insert(info);
            }
            Event::UserRegistered(user) => {
                users.entry(user.id).or_insert(user);
            }
            Event::Booking(event) => {
                booking_events.entry(event.performance).or_default().push(event)
            }
            // The journal keeps these in the outbox; they hold no state.
            Event::Outbox(_) => {}
        }
    }
    booking_events
}

fn rebuild_bookings(
    catalogue: &Catalogue,
    plans: &HashMap<VenueId, Arc<SeatPlan>>,
    mut snapshots: HashMap<PerformanceId, BookingSnapshot>,
    mut booking_events: HashMap<PerformanceId, Vec<BookingEvent>>,
) -> Result<HashMap<PerformanceId, Booking>, RecoveryError> {
    let mut bookings = HashMap::with_capacity(catalogue.performances.len());
    for info in catalogue.performances.values() {
        let plan =
            plans.get(&info.venue).ok_or(RecoveryError::UnknownVenue { venue: info.venue })?;
        let snapshot = snapshots.remove(&info.id);
        let events = booking_events.remove(&info.id).unwrap_or_default();
        let booking = rebuild_booking(info, plan.clone(), snapshot, events)?;
        bookings.insert(info.id, booking);
    }
    Ok(bookings)
}

/// One performance: its snapshot, or an empty seat map, plus the events
/// after it.
fn rebuild_booking(
    info: &PerformanceInfo,
    plan: Arc<SeatPlan>,
    snapshot: Option<BookingSnapshot>,
    events: Vec<BookingEvent>,
) -> Result<Booking, RecoveryError> {
    let mut booking = match snapshot {
        Some(snapshot) => Booking::restore(info.clone(), plan, snapshot)?,
        None => Booking::new(info.clone(), plan),
    };

    let covered = booking.seq();
    for event in events.iter().filter(|event| event.seq > covered) {
        if event.seq != booking.seq() + 1 {
            let (seq, after) = (event.seq, booking.seq());
            return Err(RecoveryError::Gap { performance: info.id, seq, after });
        }
        booking.apply(event);
    }
    Ok(booking)
}
