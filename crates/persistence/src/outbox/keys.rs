//! The keys of the `outbox` tree, all big-endian so that they sort by
//! sequence number.
//!
//! - `e` ‖ seq (u64) ‖ fragment (u16): one value of an entry.
//! - `q` ‖ consumer (u8) ‖ seq (u64): the entry is pending for the consumer.
//! - `p` ‖ consumer (u8) ‖ seq (u64): the consumer parked the entry; the
//!   value is a [`ParkedMark`].
//! - `next`: the commit mark, the sequence number the next entry gets (so
//!   that numbers are never reused once the entries holding them are gone)
//!   and the next log sequence number; see `write::CommitMark`.

use std::ops::Range;

use engine::outbox::{Consumer, OutboxSeq};
use engine::time::Timestamp;
use serde::{Deserialize, Serialize};

use crate::StoreError;

const ENTRY: u8 = b'e';
const PENDING: u8 = b'q';
const PARKED: u8 = b'p';

pub(crate) const NEXT_SEQ_KEY: &[u8] = b"next";

const ENTRY_KEY_BYTES: usize = 1 + 8 + 2;
const MARK_KEY_BYTES: usize = 1 + 1 + 8;

/// The most bytes of a parking reason kept, so that a mark always fits one
/// value however long the outside world's error message was.
const REASON_MAX_BYTES: usize = 1024;

/// What a consumer's mark on an entry says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mark {
    /// Not finished yet: [`engine::outbox::Outbox::pending`] returns it.
    Pending,
    /// Given up on for now.
    Parked,
}

/// The value of a `p` key: how a consumer parked an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ParkedMark {
    pub(crate) attempts: u32,
    pub(crate) reason: String,
    pub(crate) at: Timestamp,
    pub(crate) retry_requested: bool,
}

impl ParkedMark {
    pub(crate) fn new(attempts: u32, reason: &str, at: Timestamp) -> ParkedMark {
        let reason = truncated(reason, REASON_MAX_BYTES).to_owned();
        ParkedMark { attempts, reason, at, retry_requested: false }
    }
}

/// The longest prefix of `text` of at most `max_bytes` that ends on a
/// character boundary.
fn truncated(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A stable byte for each consumer: the on-disk name, not the enum's order.
fn consumer_tag(consumer: Consumer) -> u8 {
    match consumer {
        Consumer::Email => 1,
        Consumer::Sms => 2,
        Consumer::Provider => 3,
    }
}

pub(crate) fn entry_key(seq: OutboxSeq, fragment: u16) -> [u8; ENTRY_KEY_BYTES] {
    let mut key = [0; ENTRY_KEY_BYTES];
    key[0] = ENTRY;
    key[1..9].copy_from_slice(&seq.0.to_be_bytes());
    key[9..11].copy_from_slice(&fragment.to_be_bytes());
    key
}

/// The keys of every value of entry `seq`.
pub(crate) fn entry_values(seq: OutboxSeq) -> Range<[u8; ENTRY_KEY_BYTES]> {
    entry_key(seq, 0)..entry_key(OutboxSeq(seq.0 + 1), 0)
}

/// The keys of every value of every entry.
pub(crate) fn all_entry_values() -> Range<[u8; 1]> {
    [ENTRY]..[ENTRY + 1]
}

/// The sequence number of an entry key.
pub(crate) fn entry_seq(key: &[u8]) -> Result<OutboxSeq, StoreError> {
    if key.len() != ENTRY_KEY_BYTES || key[0] != ENTRY {
        return Err(StoreError::corrupt("outbox entry key", format!("{key:?}")));
    }
    Ok(OutboxSeq(u64::from_be_bytes(key[1..9].try_into().expect("8 bytes"))))
}

pub(crate) fn mark_key(mark: Mark, consumer: Consumer, seq: OutboxSeq) -> [u8; MARK_KEY_BYTES] {
    let mut key = [0; MARK_KEY_BYTES];
    key[0] = match mark {
        Mark::Pending => PENDING,
        Mark::Parked => PARKED,
    };
    key[1] = consumer_tag(consumer);
    key[2..10].copy_from_slice(&seq.0.to_be_bytes());
    key
}

/// The keys of `consumer`'s marks of kind `mark` on entries `seqs`.
pub(crate) fn marks(
    mark: Mark,
    consumer: Consumer,
    seqs: Range<u64>,
) -> Range<[u8; MARK_KEY_BYTES]> {
    mark_key(mark, consumer, OutboxSeq(seqs.start))..mark_key(mark, consumer, OutboxSeq(seqs.end))
}

/// The sequence number a mark key is about.
pub(crate) fn mark_seq(key: &[u8]) -> Result<OutboxSeq, StoreError> {
    if key.len() != MARK_KEY_BYTES || ![PENDING, PARKED].contains(&key[0]) {
        return Err(StoreError::corrupt("outbox mark key", format!("{key:?}")));
    }
    Ok(OutboxSeq(u64::from_be_bytes(key[2..10].try_into().expect("8 bytes"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_sequence_number_and_parse_back() {
        let (low, high) = (OutboxSeq(255), OutboxSeq(256));
        assert!(entry_key(low, 9) < entry_key(high, 0));
        assert!(
            mark_key(Mark::Pending, Consumer::Sms, low)
                < mark_key(Mark::Pending, Consumer::Sms, high)
        );
        assert_eq!(entry_seq(&entry_key(high, 3)).expect("an entry key"), high);
        assert_eq!(mark_seq(&mark_key(Mark::Parked, Consumer::Email, high)).expect("a mark"), high);
        assert!(entry_seq(b"next").is_err() && mark_seq(&entry_key(low, 0)).is_err());
    }

    #[test]
    fn each_consumer_and_mark_has_its_own_range() {
        let seq = OutboxSeq(5);
        let range = marks(Mark::Pending, Consumer::Email, 0..u64::MAX);
        assert!(range.contains(&mark_key(Mark::Pending, Consumer::Email, seq)));
        assert!(!range.contains(&mark_key(Mark::Pending, Consumer::Sms, seq)));
        assert!(!range.contains(&mark_key(Mark::Parked, Consumer::Email, seq)));
        assert!(entry_values(seq).contains(&entry_key(seq, u16::MAX)));
        assert!(!entry_values(seq).contains(&entry_key(OutboxSeq(6), 0)));
    }

    #[test]
    fn a_long_reason_is_cut_on_a_character_boundary() {
        let reason = "é".repeat(REASON_MAX_BYTES);
        let mark = ParkedMark::new(3, &reason, Timestamp(0));
        assert!(mark.reason.len() <= REASON_MAX_BYTES && reason.starts_with(&mark.reason));
        assert_eq!(ParkedMark::new(1, "timeout", Timestamp(0)).reason, "timeout");
    }
}
