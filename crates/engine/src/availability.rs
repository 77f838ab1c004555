//! Each performance's tickets left, published by its actor for readers on
//! other threads.
//!
//! A performance's page is the request an on-sale sees most: every buyer
//! looks before reserving. Asking the actor for its counts costs a thread
//! wake-up each time, so the actor instead publishes them after every change,
//! and the page reads them without a message.
//!
//! The published counts are as current as the actor's own, with one gap: a
//! hold that has lapsed is still counted until the actor's timer frees it.
//! So the earliest live hold's expiry is published too, and past it a reader
//! gets nothing and must ask the actor, which frees what is due first.

use std::sync::atomic::{fence, AtomicI64, AtomicU32, AtomicU64, Ordering};

use crate::booking::Booking;
use crate::time::Timestamp;

/// How often a read retries while the actor is publishing, before it gives
/// up and lets the caller ask the actor.
const READ_ATTEMPTS: usize = 4;

/// A seqlock over atomics: readers see the counts of one moment, never half
/// of one change and half of the next, and never block the actor.
#[derive(Debug)]
pub struct PublishedAvailability {
    /// Odd while the actor is writing; bumped twice per publication.
    version: AtomicU64,
    by_section: Box<[AtomicU32]>,
    /// Unix milliseconds of the earliest live hold's expiry; `i64::MAX`
    /// while no hold is live.
    next_expiry: AtomicI64,
}

impl PublishedAvailability {
    /// Nothing published yet: every read asks the actor until it publishes.
    pub fn new(sections: usize) -> PublishedAvailability {
        PublishedAvailability {
            version: AtomicU64::new(0),
            by_section: (0..sections).map(|_| AtomicU32::new(0)).collect(),
            next_expiry: AtomicI64::new(i64::MIN),
        }
    }

    /// Called by the actor, the only writer, after every change.
    pub(crate) fn publish(&self, booking: &Booking) {
        let version = self.version.load(Ordering::Relaxed);
        self.version.store(version + 1, Ordering::Relaxed);
        fence(Ordering::Release);

        for (section, count) in self.by_section.iter().enumerate() {
            count.store(booking.available_in_section(section), Ordering::Relaxed);
        }
        let next_expiry = booking.next_expiry().map_or(i64::MAX, |until| until.0);
        self.next_expiry.store(next_expiry, Ordering::Relaxed);

        self.version.store(version + 2, Ordering::Release);
    }

    /// Tickets left per section, in layout order, if the published counts
    /// are sure to be current at `now`: no hold has lapsed since, and the
    /// actor was not writing throughout.
    pub fn read(&self, now: Timestamp) -> Option<Vec<u32>> {
        (0..READ_ATTEMPTS).find_map(|_| self.try_read(now)).flatten()
    }

    /// `None` when the actor was writing; `Some(None)` when the counts may
    /// include a lapsed hold.
    fn try_read(&self, now: Timestamp) -> Option<Option<Vec<u32>>> {
        let before = self.version.load(Ordering::Acquire);
        if before % 2 == 1 {
            return None;
        }

        let counts: Vec<u32> =
            self.by_section.iter().map(|count| count.load(Ordering::Relaxed)).collect();
        let next_expiry = self.next_expiry.load(Ordering::Relaxed);

        fence(Ordering::Acquire);
        if self.version.load(Ordering::Relaxed) != before {
            return None;
        }
        Some((now.0 < next_expiry).then_some(counts))
    }
}
