//! How events become sled values no larger than [`MAX_VALUE_BYTES`], and
//! snapshots an encoding written a chunk at a time; and back.
//!
//! Log values: one flag byte, then a fragment of a *record*. A record is
//! postcard-encoded events laid end to end (postcard is self-delimiting, so
//! no lengths are needed). Events are packed into one record until the next
//! would overflow a value; an event too big for one value gets a record of
//! its own that spans several values. `FIRST` marks a record's first value
//! and `LAST` its last, so a record torn by a crash is recognised and
//! dropped (it was never acknowledged) instead of being glued to the next.
//!
//! Snapshot objects are one postcard encoding, handed on in value-sized
//! chunks as it fills, to be written to a pack (`snapshots::packs`); earlier
//! versions stored the chunks in sled under consecutive keys.
//!
//! Outbox entries are one record each, in values laid out like the log's
//! (a flag byte, then a fragment), under consecutive keys: a usual entry
//! takes one value, and an entry missing a fragment is detected.

use engine::events::Event;
use engine::outbox::OutboxEntry;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::StoreError;

/// The largest value this crate ever gives sled.
///
/// sled writes any page bigger than a quarter of a segment (128 KiB with the
/// default 512 KiB segments) to a file under `blobs/` that it never syncs.
/// Bounding single values is not enough, because sled also rewrites a whole
/// leaf node (up to about 17 entries, more right after a merge) as one page
/// when it consolidates the node. At 4 KiB a value, a full leaf stays far
/// below 128 KiB, so nothing this crate writes ever becomes a blob.
pub const MAX_VALUE_BYTES: usize = 4 * 1024;

/// The hard limit the brief for this crate sets; kept as a compile-time
/// check so that nobody raises [`MAX_VALUE_BYTES`] past it by accident.
pub const VALUE_LIMIT_CEILING: usize = 64 * 1024;

const _: () = assert!(MAX_VALUE_BYTES <= VALUE_LIMIT_CEILING);

const FIRST: u8 = 0b01;
const LAST: u8 = 0b10;
const FLAG_BYTES: usize = 1;
const LOG_FRAGMENT_BYTES: usize = MAX_VALUE_BYTES - FLAG_BYTES;

/// Checks the invariant every encoder here keeps, right before a value is
/// handed to sled.
pub(crate) fn checked_value(value: Vec<u8>) -> Vec<u8> {
    assert!(
        value.len() <= MAX_VALUE_BYTES,
        "a {} byte value would exceed the {MAX_VALUE_BYTES} byte limit and could become an \
         unsynced sled blob",
        value.len()
    );
    value
}

/// The log values for `events`, in order.
pub(crate) fn encode_log_values<'a>(
    events: impl IntoIterator<Item = &'a Event>,
) -> Result<Vec<Vec<u8>>, postcard::Error> {
    let mut values = Vec::new();
    let mut record = Vec::with_capacity(LOG_FRAGMENT_BYTES);

    for event in events {
        let packed_before = record.len();
        record = postcard::to_extend(event, record)?;
        if packed_before > 0 && record.len() > LOG_FRAGMENT_BYTES {
            // This event does not fit: close the record without it.
            let event_bytes = record.split_off(packed_before);
            push_record(&mut values, &record);
            record = event_bytes;
        }
    }

    if !record.is_empty() {
        push_record(&mut values, &record);
    }
    Ok(values)
}

fn push_record(values: &mut Vec<Vec<u8>>, record: &[u8]) {
    let fragments = record.len().div_ceil(LOG_FRAGMENT_BYTES);
    for (index, fragment) in record.chunks(LOG_FRAGMENT_BYTES).enumerate() {
        let mut flags = 0;
        if index == 0 {
            flags |= FIRST;
        }
        if index + 1 == fragments {
            flags |= LAST;
        }

        let mut value = Vec::with_capacity(FLAG_BYTES + fragment.len());
        value.push(flags);
        value.extend_from_slice(fragment);
        values.push(checked_value(value));
    }
}

/// Whether a log value is the first of its record, so that the log may be
/// cut just before it.
pub(crate) fn starts_record(value: &[u8]) -> bool {
    value.first().is_some_and(|&flags| flags & FIRST != 0)
}

/// Reassembles records from log values read in key order.
#[derive(Debug, Default)]
pub(crate) struct LogDecoder {
    record: Vec<u8>,
    /// Whether `record` holds the start of a record still waiting for its
    /// `LAST` fragment.
    open: bool,
    torn_records: u64,
}

impl LogDecoder {
    /// Takes the value stored under log key `seq`, appending to `events`
    /// every event it completes.
    pub(crate) fn push(
        &mut self,
        seq: u64,
        value: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<(), StoreError> {
        let corrupt = |detail: &str| StoreError::corrupt(format!("log entry {seq}"), detail);
        let (&flags, fragment) = value.split_first().ok_or_else(|| corrupt("empty value"))?;
        if flags & !(FIRST | LAST) != 0 {
            return Err(corrupt("unknown flags"));
        }

        if flags & FIRST != 0 {
            self.drop_torn_record();
            self.open = true;
        } else if !self.open {
            return Err(corrupt("a continuation without the start of its record"));
        }
        self.record.extend_from_slice(fragment);

        if flags & LAST != 0 {
            decode_events(&self.record, events).map_err(|error| corrupt(&error.to_string()))?;
            self.record.clear();
            self.open = false;
        }
        Ok(())
    }

    /// Ends the scan; a record still open was torn by a crash.
    pub(crate) fn finish(mut self) -> u64 {
        self.drop_torn_record();
        self.torn_records
    }

    /// A record cut short by a crash was never acknowledged, since its batch
    /// was not synced, so it is dropped rather than decoded.
    fn drop_torn_record(&mut self) {
        if self.open {
            self.torn_records += 1;
        }
        self.record.clear();
        self.open = false;
    }
}

/// The values of one outbox entry, in key order.
pub(crate) fn encode_entry_values(entry: &OutboxEntry) -> Result<Vec<Vec<u8>>, postcard::Error> {
    let record = postcard::to_stdvec(entry)?;
    let mut values = Vec::new();
    push_record(&mut values, &record);
    Ok(values)
}

/// The outbox entry whose values, in key order, `values` yields.
pub(crate) fn decode_entry_values<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<OutboxEntry, String> {
    let mut record = Vec::new();
    let mut complete = false;

    for (index, value) in values.into_iter().enumerate() {
        let (&flags, fragment) = value.split_first().ok_or("an empty value")?;
        if complete || flags & !(FIRST | LAST) != 0 || (flags & FIRST != 0) != (index == 0) {
            return Err(format!("fragment {index} has flags {flags:#04b} out of place"));
        }
        record.extend_from_slice(fragment);
        complete = flags & LAST != 0;
    }

    if !complete {
        return Err("its last fragment is missing".into());
    }
    postcard::from_bytes(&record).map_err(|error| error.to_string())
}

fn decode_events(mut bytes: &[u8], events: &mut Vec<Event>) -> Result<(), postcard::Error> {
    while !bytes.is_empty() {
        let (event, rest) = postcard::take_from_bytes(bytes)?;
        events.push(event);
        bytes = rest;
    }
    Ok(())
}

/// How much of an object's encoding [`encode_in_chunks`] handed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Encoded {
    pub(crate) len: u64,
    pub(crate) chunks: u32,
}

/// Why [`encode_in_chunks`] stopped.
#[derive(Debug)]
pub(crate) enum ChunkError<E> {
    Encode(postcard::Error),
    /// The sink refused a chunk.
    Sink(E),
}

/// Encodes `object` and hands the encoding to `sink` in values of at most
/// [`MAX_VALUE_BYTES`] as they fill: the values joined are the object's
/// postcard encoding. A checkpoint of a sold-out stadium is tens of MB, so
/// it is never whole in memory, and the sink's pacing paces the encoding.
pub(crate) fn encode_in_chunks<T: Serialize, E>(
    object: &T,
    sink: impl FnMut(Vec<u8>) -> Result<(), E>,
) -> Result<Encoded, ChunkError<E>> {
    let mut refused = None;
    let flavor = ChunkFlavor {
        chunk: Vec::with_capacity(MAX_VALUE_BYTES),
        encoded: Encoded { len: 0, chunks: 0 },
        sink,
        refused: &mut refused,
    };
    let encoded = postcard::serialize_with_flavor(object, flavor);
    match (encoded, refused) {
        (_, Some(error)) => Err(ChunkError::Sink(error)),
        (Ok(encoded), None) => Ok(encoded),
        (Err(error), None) => Err(ChunkError::Encode(error)),
    }
}

/// postcard's output cut into chunks. A chunk the sink refuses stops the
/// encoding with a postcard error, and the sink's own goes to `refused`.
struct ChunkFlavor<'a, F, E> {
    chunk: Vec<u8>,
    encoded: Encoded,
    sink: F,
    refused: &'a mut Option<E>,
}

impl<F: FnMut(Vec<u8>) -> Result<(), E>, E> ChunkFlavor<'_, F, E> {
    fn hand_on(&mut self) -> postcard::Result<()> {
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(MAX_VALUE_BYTES));
        self.encoded.len += chunk.len() as u64;
        self.encoded.chunks += 1;
        (self.sink)(checked_value(chunk)).map_err(|error| {
            *self.refused = Some(error);
            postcard::Error::SerializeBufferFull
        })
    }
}

impl<F: FnMut(Vec<u8>) -> Result<(), E>, E> postcard::ser_flavors::Flavor
    for ChunkFlavor<'_, F, E>
{
    type Output = Encoded;

    fn try_extend(&mut self, mut data: &[u8]) -> postcard::Result<()> {
        while !data.is_empty() {
            let room = MAX_VALUE_BYTES - self.chunk.len();
            let (now, later) = data.split_at(room.min(data.len()));
            self.chunk.extend_from_slice(now);
            data = later;
            if self.chunk.len() == MAX_VALUE_BYTES {
                self.hand_on()?;
            }
        }
        Ok(())
    }

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.try_extend(&[byte])
    }

    fn finalize(mut self) -> postcard::Result<Encoded> {
        if !self.chunk.is_empty() {
            self.hand_on()?;
        }
        Ok(self.encoded)
    }
}

pub(crate) fn decode_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use engine::events::User;
    use engine::ids::UserId;

    use super::*;

    fn user(id: u32, name_len: usize) -> Event {
        Event::UserRegistered(User {
            id: UserId(id),
            name: "n".repeat(name_len),
            email: format!("{id}@example.org"),
            phone: "+41 00 000 00 00".into(),
            token_sha256: [7; 32],
        })
    }

    #[test]
    fn an_object_is_handed_on_in_full_chunks_that_join_into_its_encoding() {
        let users: Vec<Event> = (0..500).map(|id| user(id, 40)).collect();
        let whole = postcard::to_stdvec(&users).expect("encodes");
        let mut chunks = Vec::new();

        let encoded = encode_in_chunks(&users, |chunk| {
            chunks.push(chunk);
            Ok::<(), ()>(())
        });

        let encoded = encoded.expect("every chunk taken");
        assert!(whole.len() > 3 * MAX_VALUE_BYTES, "several chunks: {}", whole.len());
        assert_eq!((encoded.len, encoded.chunks as usize), (whole.len() as u64, chunks.len()));
        assert!(chunks[..chunks.len() - 1].iter().all(|chunk| chunk.len() == MAX_VALUE_BYTES));
        assert_eq!(chunks.concat(), whole);
    }

    #[test]
    fn a_chunk_the_sink_refuses_stops_the_encoding_with_the_sinks_error() {
        let users: Vec<Event> = (0..500).map(|id| user(id, 40)).collect();
        let mut taken = 0;

        let encoded = encode_in_chunks(&users, |_| {
            taken += 1;
            if taken == 2 {
                return Err("disk full");
            }
            Ok(())
        });

        assert!(matches!(encoded, Err(ChunkError::Sink("disk full"))), "{encoded:?}");
        assert_eq!(taken, 2, "nothing is handed on after a refusal");
    }

    fn round_trip(events: &[Event]) -> (Vec<Vec<u8>>, Vec<Event>) {
        let values = encode_log_values(events).expect("events encode");
        let mut decoder = LogDecoder::default();
        let mut decoded = Vec::new();
        for (seq, value) in values.iter().enumerate() {
            decoder.push(seq as u64, value, &mut decoded).expect("values decode");
        }
        assert_eq!(decoder.finish(), 0);
        (values, decoded)
    }

    #[test]
    fn small_events_share_values() {
        let events: Vec<Event> = (0..1_000).map(|id| user(id, 10)).collect();
        let (values, decoded) = round_trip(&events);
        assert_eq!(decoded, events);
        assert!(values.len() > 1 && values.len() < 100, "{} values", values.len());
        assert!(values.iter().all(|value| value.len() <= MAX_VALUE_BYTES));
    }

    #[test]
    fn an_event_bigger_than_a_value_spans_several() {
        let events = vec![user(1, 10), user(2, 3 * MAX_VALUE_BYTES), user(3, 10)];
        let (values, decoded) = round_trip(&events);
        assert_eq!(decoded, events);
        assert!(values.len() >= 5, "{} values", values.len());
        assert!(values.iter().all(|value| value.len() <= MAX_VALUE_BYTES));
    }

    #[test]
    fn a_torn_record_is_dropped_and_the_next_one_kept() {
        let big = encode_log_values(&[user(1, 2 * MAX_VALUE_BYTES)]).expect("encodes");
        let next = encode_log_values(&[user(2, 10)]).expect("encodes");
        let mut decoder = LogDecoder::default();
        let mut decoded = Vec::new();
        decoder.push(0, &big[0], &mut decoded).expect("a first fragment");
        decoder.push(1, &next[0], &mut decoded).expect("a whole record");
        assert_eq!(decoded, vec![user(2, 10)]);
        assert_eq!(decoder.finish(), 1);
    }

    fn order(number: u32) -> engine::ids::OrderId {
        engine::ids::OrderId { performance: engine::ids::PerformanceId(1), number }
    }

    #[test]
    fn an_outbox_entry_round_trips_in_one_value_or_several() {
        let refund = |payment_bytes: usize| {
            OutboxEntry::Refund(engine::outbox::Refund {
                order: order(7),
                payment: "p".repeat(payment_bytes),
                amount_minor: Some(12_000),
                idempotency_key: "refund-7-1".into(),
            })
        };
        for (entry, values_expected) in [(refund(10), 1), (refund(3 * MAX_VALUE_BYTES), 4)] {
            let values = encode_entry_values(&entry).expect("encodes");
            assert_eq!(values.len(), values_expected);
            assert!(values.iter().all(|value| value.len() <= MAX_VALUE_BYTES));
            let decoded = decode_entry_values(values.iter().map(Vec::as_slice));
            assert_eq!(decoded, Ok(entry));
        }
    }

    #[test]
    fn an_outbox_entry_missing_a_fragment_is_an_error() {
        let entry = OutboxEntry::ExpireSession {
            order: order(1),
            session: Some("s".repeat(2 * MAX_VALUE_BYTES)),
        };
        let values = encode_entry_values(&entry).expect("encodes");
        for missing in 0..values.len() {
            let rest = values.iter().enumerate().filter(|&(index, _)| index != missing);
            let decoded = decode_entry_values(rest.map(|(_, value)| value.as_slice()));
            assert!(decoded.is_err(), "fragment {missing} missing: {decoded:?}");
        }
        assert!(decode_entry_values([]).is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        let mut decoded = Vec::new();
        for value in [&[][..], &[0xff, 1][..], &[LAST, 0xff, 0xff][..], &[FIRST | LAST, 200][..]] {
            let mut decoder = LogDecoder::default();
            assert!(decoder.push(9, value, &mut decoded).is_err(), "{value:?}");
        }
    }
}
