//! Checkpoints: the `snapshots` tree, and trimming the log behind them.
//!
//! Every object of a checkpoint (the catalogue, the users, each booking
//! snapshot, and the manifest naming every performance's current snapshot)
//! is written as chunks under a new *generation*. Nothing refers to the new
//! chunks until one small `root` value is replaced, so readers, and recovery
//! after a crash at any point, see either the whole old checkpoint or the
//! whole new one. Old chunks and the trimmed log go only after the new root
//! is durable.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use engine::booking::BookingSnapshot;
use engine::catalogue::Catalogue;
use engine::events::User;
use engine::ids::PerformanceId;
use engine::journal::{Checkpoint, JournalError, LogPosition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::{checked_value, decode_object, encode_in_chunks, ChunkError, Encoded};
use crate::journal::{log_key, Shared};
use crate::StoreError;

const ROOT_KEY: &[u8] = b"root";
const CHUNK_PREFIX: u8 = b'c';
const CHUNK_KEY_BYTES: usize = 1 + 8 + 1 + 4 + 4;

/// What a checkpoint stored, as recovery hands it back.
#[derive(Clone, Debug)]
pub struct RecoveredCheckpoint {
    /// The log position the checkpoint was taken at; the tail starts here.
    pub position: LogPosition,
    pub catalogue: Catalogue,
    pub users: Vec<User>,
    /// The latest snapshot of every performance any checkpoint included.
    pub bookings: BTreeMap<PerformanceId, BookingSnapshot>,
}

/// Where one stored object's chunks are and how long it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ObjectRef {
    generation: u64,
    chunks: u32,
    len: u64,
}

/// The one value whose replacement publishes a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Root {
    generation: u64,
    position: u64,
    catalogue: ObjectRef,
    users: ObjectRef,
    manifest: ObjectRef,
}

/// Every performance's current snapshot.
type Manifest = BTreeMap<PerformanceId, ObjectRef>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Object {
    Catalogue,
    Users,
    Manifest,
    Booking(PerformanceId),
}

impl Object {
    fn tag_and_id(self) -> (u8, u32) {
        match self {
            Object::Catalogue => (1, 0),
            Object::Users => (2, 0),
            Object::Manifest => (3, 0),
            Object::Booking(performance) => (4, performance.0),
        }
    }
}

/// `c`, generation, object tag, object id, chunk index: all big-endian, so
/// one object's chunks are adjacent and generations sort in order.
fn chunk_key(generation: u64, object: Object, index: u32) -> [u8; CHUNK_KEY_BYTES] {
    let (tag, id) = object.tag_and_id();
    let mut key = [0; CHUNK_KEY_BYTES];
    key[0] = CHUNK_PREFIX;
    key[1..9].copy_from_slice(&generation.to_be_bytes());
    key[9] = tag;
    key[10..14].copy_from_slice(&id.to_be_bytes());
    key[14..18].copy_from_slice(&index.to_be_bytes());
    key
}

/// The generation and (tag, id) of a chunk key.
fn parse_chunk_key(key: &[u8]) -> Result<(u64, (u8, u32)), StoreError> {
    if key.len() != CHUNK_KEY_BYTES || key[0] != CHUNK_PREFIX {
        return Err(StoreError::corrupt("snapshot key", format!("{key:?}")));
    }
    let generation = u64::from_be_bytes(key[1..9].try_into().expect("8 bytes"));
    let id = u32::from_be_bytes(key[10..14].try_into().expect("4 bytes"));
    Ok((generation, (key[9], id)))
}

fn first_chunk_key_of(generation: u64) -> [u8; CHUNK_KEY_BYTES] {
    let mut key = [0; CHUNK_KEY_BYTES];
    key[0] = CHUNK_PREFIX;
    key[1..9].copy_from_slice(&generation.to_be_bytes());
    key
}

/// The published checkpoint, kept in memory for the next one to build on.
#[derive(Debug, Default)]
pub(crate) struct SnapshotState {
    root: Option<Root>,
    manifest: Manifest,
}

impl SnapshotState {
    /// Reads the root and manifest that the last durable checkpoint left.
    pub(crate) fn load(tree: &sled::Tree) -> Result<SnapshotState, StoreError> {
        let Some(root) = read_root(tree)? else { return Ok(SnapshotState::default()) };
        let manifest = read_object(tree, Object::Manifest, root.manifest)?;
        Ok(SnapshotState { root: Some(root), manifest })
    }

    /// Where the log tail of the published checkpoint starts.
    pub(crate) fn position(&self) -> LogPosition {
        LogPosition(self.root.map_or(0, |root| root.position))
    }

    /// Publishes `checkpoint` and trims the log before `position`, failing
    /// the store if any step does not reach the disk.
    pub(crate) fn write(
        &mut self,
        shared: &Shared,
        position: LogPosition,
        checkpoint: &Checkpoint,
    ) -> Result<(), JournalError> {
        let generation = self.root.map_or(1, |root| root.generation + 1);
        let tree = &shared.snapshots;
        let io = |what: &str, error: WriteError| match error {
            WriteError::Durable(failed) => failed,
            other => shared.fail(format!("checkpoint: {what}: {other}")),
        };
        let mut pace = Pace::new(shared);

        // 1. Leftovers of a checkpoint interrupted before its root was published.
        remove_generations_from(tree, generation, &mut pace)
            .map_err(|e| io("removing leftovers", e))?;

        // 2. The new objects, under the new generation, referenced by nothing yet.
        let (root, manifest) = self
            .write_objects(tree, generation, position, checkpoint, &mut pace)
            .map_err(|e| io("writing snapshots", e))?;
        shared.durability.make_durable()?;

        // 3. The atomic switch: one small value.
        let root_value =
            postcard::to_stdvec(&root).map_err(|e| io("encoding the root", e.into()))?;
        tree.insert(ROOT_KEY, checked_value(root_value)).map_err(|e| io("publishing", e.into()))?;
        shared.durability.make_durable()?;
        self.root = Some(root);
        self.manifest = manifest;

        // 4. Only now may what the new checkpoint replaces go.
        remove_unreferenced(tree, generation, &self.manifest, &mut pace)
            .map_err(|e| io("removing replaced snapshots", e))?;
        trim_log(&shared.log, position, &mut pace).map_err(|e| io("trimming the log", e))?;
        shared.durability.make_durable()
    }

    fn write_objects(
        &self,
        tree: &sled::Tree,
        generation: u64,
        position: LogPosition,
        checkpoint: &Checkpoint,
        pace: &mut Pace<'_>,
    ) -> Result<(Root, Manifest), WriteError> {
        let catalogue = &checkpoint.catalogue;
        let catalogue = write_object(tree, generation, Object::Catalogue, catalogue, pace)?;
        let users = write_object(tree, generation, Object::Users, &checkpoint.users, pace)?;

        // Performances left out keep the snapshot the manifest names already.
        let mut manifest = self.manifest.clone();
        for booking in &checkpoint.bookings {
            let object = Object::Booking(booking.performance);
            let written = write_object(tree, generation, object, booking, pace)?;
            manifest.insert(booking.performance, written);
        }
        let manifest_ref = write_object(tree, generation, Object::Manifest, &manifest, pace)?;

        let root =
            Root { generation, position: position.0, catalogue, users, manifest: manifest_ref };
        Ok((root, manifest))
    }
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error(transparent)]
    Sled(#[from] sled::Error),
    #[error("encoding: {0}")]
    Encode(#[from] postcard::Error),
    #[error(transparent)]
    Unreadable(#[from] StoreError),
    /// A slice did not reach the disk; the store has failed already.
    #[error(transparent)]
    Durable(JournalError),
}

// TODO: snapshots go into sled, which rewrites whole pages, so a sold-out
// stadium's tens of MB are written several times over at every checkpoint.
// Files of their own (synced, named by the root) or incremental snapshots
// would write a fraction of that; pacing only spreads the cost.

/// How much a checkpoint writes to sled between two flushes of its own.
///
/// The committer's flush at each group commit writes everything in sled's
/// buffers, and waits for a flush already under way. Made durable in one
/// flush, the checkpoint of a sold-out stadium (tens of MB) held the
/// commits for half a second, and the on-sale with them. In slices, a
/// commit waits for one slice at most.
const SLICE_BYTES: usize = 1 << 20;

/// What one removed key counts for in a slice: its tombstone and its share
/// of the pages sled rewrites for it.
const REMOVAL_BYTES: usize = 256;

/// While group commits go on, a checkpoint pauses after each slice for this
/// many times as long as the slice took. sled rewrites whole pages, so a
/// checkpoint of tens of MB has sled's I/O threads write many times that,
/// and at full speed they took half of a one-core server for a second,
/// during which its on-sale sold a tenth of its rate. Paced, a checkpoint
/// takes at most a quarter of the machine while there is an on-sale, and
/// runs at full speed when there is none (at shutdown, say).
const PAUSE_PER_WORK: u32 = 3;

/// The longest pause after one slice, should a slice take long (a slow
/// sync): the checkpoint must still finish.
const LONGEST_PAUSE: Duration = Duration::from_millis(250);

/// Flushes a checkpoint's writes a slice at a time, and yields to group
/// commits between slices. Chunks made durable early are harmless: nothing
/// names them until the root does.
struct Pace<'a> {
    shared: &'a Shared,
    unflushed: usize,
    slice_started: Instant,
    commits_at_start: u64,
}

impl<'a> Pace<'a> {
    fn new(shared: &'a Shared) -> Pace<'a> {
        let commits_at_start = shared.commits();
        Pace { shared, unflushed: 0, slice_started: Instant::now(), commits_at_start }
    }

    fn wrote(&mut self, bytes: usize) -> Result<(), WriteError> {
        self.unflushed += bytes;
        if self.unflushed < SLICE_BYTES {
            return Ok(());
        }
        self.unflushed = 0;
        self.shared.durability.make_durable().map_err(WriteError::Durable)?;

        // Commits during the pause count for the next slice.
        let commits = self.shared.commits();
        let committing = commits != self.commits_at_start;
        self.commits_at_start = commits;
        std::thread::sleep(pause_after(self.slice_started.elapsed(), committing));
        self.slice_started = Instant::now();
        Ok(())
    }

    fn removed(&mut self, tree: &sled::Tree, key: sled::IVec) -> Result<(), WriteError> {
        tree.remove(key)?;
        self.wrote(REMOVAL_BYTES)
    }
}

/// How long a checkpoint pauses after a slice that took `worked`, with or
/// without group commits going on meanwhile.
fn pause_after(worked: Duration, committing: bool) -> Duration {
    match committing {
        true => (worked * PAUSE_PER_WORK).min(LONGEST_PAUSE),
        false => Duration::ZERO,
    }
}

fn write_object<T: Serialize>(
    tree: &sled::Tree,
    generation: u64,
    object: Object,
    value: &T,
    pace: &mut Pace<'_>,
) -> Result<ObjectRef, WriteError> {
    let mut index = 0;
    let encoded = encode_in_chunks(value, |chunk| {
        let key = chunk_key(generation, object, index);
        index += 1;
        let bytes = key.len() + chunk.len();
        tree.insert(key, chunk)?;
        pace.wrote(bytes)
    });
    let Encoded { len, chunks } = encoded.map_err(|error| match error {
        ChunkError::Encode(error) => WriteError::Encode(error),
        ChunkError::Sink(refused) => refused,
    })?;
    Ok(ObjectRef { generation, chunks, len })
}

fn remove_generations_from(
    tree: &sled::Tree,
    generation: u64,
    pace: &mut Pace<'_>,
) -> Result<(), WriteError> {
    let start = first_chunk_key_of(generation);
    let end = [CHUNK_PREFIX + 1];
    for key in tree.range(start.as_slice()..end.as_slice()).keys() {
        pace.removed(tree, key?)?;
    }
    Ok(())
}

/// Removes every chunk of an older generation that `manifest` no longer
/// names. A full scan, so it also collects what a crash left behind.
fn remove_unreferenced(
    tree: &sled::Tree,
    generation: u64,
    manifest: &Manifest,
    pace: &mut Pace<'_>,
) -> Result<(), WriteError> {
    let still_named = |chunk_generation: u64, (tag, id): (u8, u32)| {
        let (booking_tag, _) = Object::Booking(PerformanceId(id)).tag_and_id();
        tag == booking_tag
            && manifest.get(&PerformanceId(id)).is_some_and(|r| r.generation == chunk_generation)
    };

    for key in tree.range(first_chunk_key_of(0)..first_chunk_key_of(generation)).keys() {
        let key = key?;
        let (chunk_generation, object) = parse_chunk_key(&key)?;
        if !still_named(chunk_generation, object) {
            pace.removed(tree, key)?;
        }
    }
    Ok(())
}

fn trim_log(
    log: &sled::Tree,
    position: LogPosition,
    pace: &mut Pace<'_>,
) -> Result<(), WriteError> {
    for key in log.range(..log_key(position.0)).keys() {
        pace.removed(log, key?)?;
    }
    Ok(())
}

fn read_root(tree: &sled::Tree) -> Result<Option<Root>, StoreError> {
    let Some(value) = tree.get(ROOT_KEY)? else { return Ok(None) };
    let root = decode_object(&value).map_err(|e| StoreError::corrupt("checkpoint root", e))?;
    Ok(Some(root))
}

fn read_object<T: DeserializeOwned>(
    tree: &sled::Tree,
    object: Object,
    reference: ObjectRef,
) -> Result<T, StoreError> {
    let what = format!("{object:?} of checkpoint generation {}", reference.generation);
    let mut bytes = Vec::with_capacity(usize::try_from(reference.len).unwrap_or(0));

    for index in 0..reference.chunks {
        let key = chunk_key(reference.generation, object, index);
        let chunk =
            tree.get(key)?.ok_or_else(|| StoreError::corrupt(&what, "a chunk is missing"))?;
        bytes.extend_from_slice(&chunk);
    }

    if bytes.len() as u64 != reference.len {
        let detail = format!("{} bytes, expected {}", bytes.len(), reference.len);
        return Err(StoreError::corrupt(what, detail));
    }
    decode_object(&bytes).map_err(|error| StoreError::corrupt(what, error))
}

/// The last durable checkpoint in `tree`, if there is one.
pub(crate) fn read_checkpoint(
    tree: &sled::Tree,
) -> Result<Option<RecoveredCheckpoint>, StoreError> {
    let Some(root) = read_root(tree)? else { return Ok(None) };
    let manifest: Manifest = read_object(tree, Object::Manifest, root.manifest)?;

    let mut bookings = BTreeMap::new();
    for (&performance, &reference) in &manifest {
        let snapshot: BookingSnapshot = read_object(tree, Object::Booking(performance), reference)?;
        if snapshot.performance != performance {
            let detail = format!("holds performance {}", snapshot.performance);
            return Err(StoreError::corrupt(
                format!("snapshot of performance {performance}"),
                detail,
            ));
        }
        bookings.insert(performance, snapshot);
    }

    Ok(Some(RecoveredCheckpoint {
        position: LogPosition(root.position),
        catalogue: read_object(tree, Object::Catalogue, root.catalogue)?,
        users: read_object(tree, Object::Users, root.users)?,
        bookings,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use engine::events::Event;
    use engine::journal::Journal;

    use super::*;
    use crate::codec::encode_log_values;
    use crate::{Store, StoreOptions};

    fn registration(id: u32) -> Event {
        Event::UserRegistered(User {
            id: engine::ids::UserId(id),
            name: format!("user {id}"),
            email: String::new(),
            phone: String::new(),
            token_sha256: [0; 32],
        })
    }

    fn append_and_wait(store: &Store, events: Vec<Event>) {
        let (sender, receiver) = mpsc::channel();
        store.journal().append(events, Box::new(move |result| drop(sender.send(result))));
        receiver.recv().expect("an ack").expect("durable");
    }

    /// sled's background threads release a closed database a moment late.
    fn when_unlocked<T, E: std::fmt::Display>(
        mut attempt: impl FnMut() -> Result<T, E>,
    ) -> Result<T, E> {
        for _ in 0..400 {
            match attempt() {
                Err(error) if error.to_string().contains("could not acquire lock") => {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                outcome => return outcome,
            }
        }
        attempt()
    }

    fn raw_trees(dir: &std::path::Path) -> (sled::Db, sled::Tree, sled::Tree) {
        let db = when_unlocked(|| sled::Config::new().path(dir).open()).expect("sled opens");
        let log = db.open_tree("log").expect("the log");
        let snapshots = db.open_tree("snapshots").expect("the snapshots");
        (db, log, snapshots)
    }

    /// Leaves what a crash in the middle of a second checkpoint could: an
    /// unpublished chunk of the next generation, and (as if the first
    /// checkpoint's trim never ran) a log entry before its position.
    fn simulate_crashes(dir: &std::path::Path, position: LogPosition) {
        let (db, log, snapshots) = raw_trees(dir);
        let orphan = chunk_key(2, Object::Booking(PerformanceId(5)), 0);
        snapshots.insert(orphan, vec![1, 2, 3]).expect("an insert");
        let stale = encode_log_values(&[registration(666)]).expect("encodes");
        log.insert(log_key(position.0 - 1), stale[0].clone()).expect("an insert");
        db.flush().expect("sled flushes");
    }

    #[test]
    fn a_slice_is_followed_by_a_bounded_pause_only_while_commits_go_on() {
        let slice = Duration::from_millis(4);
        assert_eq!(pause_after(slice, true), slice * PAUSE_PER_WORK);
        assert_eq!(pause_after(slice, false), Duration::ZERO);
        assert_eq!(pause_after(Duration::from_secs(2), true), LONGEST_PAUSE);
    }

    #[test]
    fn what_an_interrupted_checkpoint_left_is_ignored_then_removed() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store =
            when_unlocked(|| Store::open(dir.path(), StoreOptions::default())).expect("opens");
        append_and_wait(&store, vec![registration(1), registration(2)]);
        let position = store.journal().durable_position();
        store.journal().checkpoint(position, Checkpoint::default()).expect("durable");
        append_and_wait(&store, vec![registration(3)]);
        drop(store);
        simulate_crashes(dir.path(), position);

        let store =
            when_unlocked(|| Store::open(dir.path(), StoreOptions::default())).expect("opens");
        let recovery = store.recover().expect("recovers");
        assert_eq!(recovery.checkpoint.expect("a checkpoint").position, position);
        assert_eq!(recovery.tail, vec![registration(3)]);

        let later = store.journal().durable_position();
        store.journal().checkpoint(later, Checkpoint::default()).expect("durable");
        drop(store);
        let (_db, log, snapshots) = raw_trees(dir.path());
        let orphan = chunk_key(2, Object::Booking(PerformanceId(5)), 0);
        assert_eq!(snapshots.get(orphan).expect("a read"), None);
        assert_eq!(log.first().expect("a read"), None);
    }
}
