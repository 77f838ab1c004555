//! Checkpoints: snapshots in files of their own, published by one value
//! in the `snapshots` tree, and trimming the log behind them.
//!
//! Every object of a checkpoint (the catalogue, the users, each booking
//! snapshot that changed, and the manifest naming every performance's
//! current snapshot) is written to new files of its own generation
//! ([`packs`]). Nothing refers to them until one small root value in sled
//! is replaced, so readers, and recovery after a crash at any point, see
//! either the whole old checkpoint or the whole new one. Files nothing
//! names any more, and the trimmed log, go only after the new root is
//! durable.

mod legacy;
mod packs;

use std::collections::{btree_map, BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use engine::booking::BookingSnapshot;
use engine::catalogue::Catalogue;
use engine::events::User;
use engine::ids::PerformanceId;
use engine::journal::{Checkpoint, JournalError, LogPosition};
use serde::{Deserialize, Serialize};

use crate::codec::{checked_value, decode_object};
use crate::journal::{log_key, Shared};
use crate::StoreError;
use packs::{FileId, FileKind, FileWriter, NewPack, ObjectRef};

pub(crate) use packs::DIRECTORY;

/// The key of the root of a checkpoint in packs. (`root` is the key of a
/// checkpoint an earlier version kept in sled: see [`legacy`].)
const ROOT_KEY: &[u8] = b"pack-root";

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

/// The one value whose replacement publishes a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Root {
    generation: u64,
    position: u64,
    catalogue: ObjectRef,
    users: ObjectRef,
    manifest: ObjectRef,
}

/// What the published checkpoint names besides its own objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    /// Every performance's current snapshot.
    snapshots: BTreeMap<PerformanceId, ObjectRef>,
    /// The size of each pack still named, to tell how much of it is dead.
    pack_sizes: BTreeMap<u64, u64>,
}

/// The published checkpoint, kept in memory for the next one to build on.
#[derive(Debug)]
pub(crate) struct SnapshotState {
    /// Where the packs are.
    dir: PathBuf,
    root: Option<Root>,
    manifest: Manifest,
    /// A checkpoint an earlier version kept in sled, until the first
    /// checkpoint in packs replaces it.
    legacy: Option<legacy::Checkpoint>,
}

impl SnapshotState {
    /// Reads the root and manifest that the last durable checkpoint left in
    /// the store in `store_dir`.
    pub(crate) fn load(tree: &sled::Tree, store_dir: &Path) -> Result<SnapshotState, StoreError> {
        let dir = packs::create_directory(store_dir)?;
        let mut state =
            SnapshotState { dir, root: None, manifest: Manifest::default(), legacy: None };

        if let Some(root) = read_root(tree)? {
            state.manifest = read_root_object(&state.dir, "checkpoint manifest", root.manifest)?;
            state.root = Some(root);
        } else {
            state.legacy = legacy::load(tree)?;
        }
        Ok(state)
    }

    /// Where the log tail of the published checkpoint starts.
    pub(crate) fn position(&self) -> LogPosition {
        let legacy = self.legacy.as_ref().map(|legacy| legacy.root.position);
        LogPosition(self.root.map(|root| root.position).or(legacy).unwrap_or(0))
    }

    /// Publishes `checkpoint` and trims the log before `position`, failing
    /// the store if any step does not reach the disk.
    pub(crate) fn write(
        &mut self,
        shared: &Shared,
        position: LogPosition,
        checkpoint: &Checkpoint,
    ) -> Result<(), JournalError> {
        let tree = &shared.snapshots;
        let io = |what: &str, error: WriteError| match error {
            WriteError::Durable(failed) => failed,
            other => shared.fail(format!("checkpoint: {what}: {other}")),
        };
        let mut pace = Pace::new(shared);

        // 1. Leftovers of a checkpoint interrupted before its root was
        // published. The new generation is past any name still there.
        let highest_seen = packs::remove_unnamed(&self.dir, &self.named_files());
        let generation = self.last_generation().max(highest_seen) + 1;

        // 2. The new files, named by nothing yet. Failing here fails only
        // this checkpoint: the log and the published checkpoint are as they
        // were, and what was written is removed by the next one. (A failed
        // sync of these files cannot hide a failure of the log's, which is
        // reported on the log's own file.)
        let (root, manifest) =
            self.write_files(tree, generation, position, checkpoint, &mut pace).map_err(
                |error| JournalError::new(format!("checkpoint: writing snapshots: {error}")),
            )?;

        // 3. The atomic switch: one small value. With it, the fence that
        // keeps an earlier version, which knows only its own root, from
        // taking this store for one without a checkpoint (and replaying a
        // log whose start is about to go).
        let root_value =
            postcard::to_stdvec(&root).map_err(|e| io("encoding the root", e.into()))?;
        let mut publish = sled::Batch::default();
        publish.insert(ROOT_KEY, checked_value(root_value));
        publish.insert(legacy::ROOT_KEY, legacy::FENCE);
        tree.apply_batch(publish).map_err(|e| io("publishing", e.into()))?;
        shared.durability.make_durable()?;
        self.root = Some(root);
        self.manifest = manifest;
        self.legacy = None;

        // 4. Only now may what the new checkpoint replaces go.
        legacy::remove_chunks(tree, &mut pace).map_err(|e| io("removing sled snapshots", e))?;
        packs::remove_unnamed(&self.dir, &self.named_files());
        trim_log(&shared.log, position, &mut pace).map_err(|e| io("trimming the log", e))?;
        shared.durability.make_durable()
    }

    fn last_generation(&self) -> u64 {
        let legacy = self.legacy.as_ref().map_or(0, |legacy| legacy.root.generation);
        self.root.map_or(0, |root| root.generation).max(legacy)
    }

    /// Every file the published checkpoint names.
    fn named_files(&self) -> BTreeSet<FileId> {
        let root = self.root.map(|root| (root.generation, FileKind::Root));
        let packs =
            self.manifest.snapshots.values().map(|object| (object.generation, FileKind::Pack));
        root.into_iter().chain(packs).collect()
    }

    /// Writes the checkpoint's snapshots, with the live ones of packs not
    /// worth keeping, to the pack of `generation`, and the rest to its root
    /// file; syncs both and their directory.
    fn write_files(
        &self,
        tree: &sled::Tree,
        generation: u64,
        position: LogPosition,
        checkpoint: &Checkpoint,
        pace: &mut Pace<'_>,
    ) -> Result<(Root, Manifest), WriteError> {
        let mut pack = NewPack::new(&self.dir, generation);
        let mut snapshots = self.manifest.snapshots.clone();
        for booking in &checkpoint.bookings {
            snapshots.insert(booking.performance, pack.write(booking, pace)?);
        }

        // Snapshots left out stay: moved if their pack goes, or if an
        // earlier version kept them in sled. (Each is read whole, up to tens
        // of MB for a sold-out stadium, before it is written again.)
        let compacted = self.packs_to_compact(&snapshots, generation);
        for reference in snapshots.values_mut() {
            if compacted.contains(&reference.generation) {
                let what = format!("a snapshot in pack {}", reference.generation);
                let encoded = packs::read_encoded(&self.dir, FileKind::Pack, &what, *reference)?;
                *reference = pack.write_encoded(&encoded, pace)?;
            }
        }
        if let Some(legacy) = &self.legacy {
            for (&performance, &chunks) in &legacy.manifest {
                if let btree_map::Entry::Vacant(left_out) = snapshots.entry(performance) {
                    let encoded =
                        legacy::read_encoded(tree, legacy::Object::Booking(performance), chunks)?;
                    left_out.insert(pack.write_encoded(&encoded, pace)?);
                }
            }
        }

        let pack_sizes = self.pack_sizes_after(&snapshots, generation, pack.written());
        let manifest = Manifest { snapshots, pack_sizes };
        let mut root_file = FileWriter::create(&self.dir, (generation, FileKind::Root))?;
        let root = Root {
            generation,
            position: position.0,
            catalogue: root_file.write(&checkpoint.catalogue, pace)?,
            users: root_file.write(&checkpoint.users, pace)?,
            manifest: root_file.write(&manifest, pace)?,
        };

        pack.finish()?;
        root_file.finish()?;
        packs::sync_directory(&self.dir)?;
        Ok((root, manifest))
    }

    /// The packs older than `generation` whose snapshots are mostly dead
    /// once `snapshots` are the current ones, or few enough to copy for
    /// next to nothing.
    fn packs_to_compact(
        &self,
        snapshots: &BTreeMap<PerformanceId, ObjectRef>,
        generation: u64,
    ) -> BTreeSet<u64> {
        let mut live = BTreeMap::<u64, u64>::new();
        for object in snapshots.values().filter(|object| object.generation < generation) {
            *live.entry(object.generation).or_default() += object.len;
        }
        let written = |generation| self.manifest.pack_sizes.get(&generation).copied();
        live.into_iter()
            .filter(|&(generation, bytes)| packs::worth_compacting(bytes, written(generation)))
            .map(|(generation, _)| generation)
            .collect()
    }

    /// The size of every pack `snapshots` names, the new pack of
    /// `generation` (`new_pack` bytes) included.
    fn pack_sizes_after(
        &self,
        snapshots: &BTreeMap<PerformanceId, ObjectRef>,
        generation: u64,
        new_pack: u64,
    ) -> BTreeMap<u64, u64> {
        let mut sizes = BTreeMap::new();
        for object in snapshots.values() {
            let size = if object.generation == generation {
                Some(new_pack)
            } else {
                self.manifest.pack_sizes.get(&object.generation).copied()
            };
            if let Some(size) = size {
                sizes.insert(object.generation, size);
            }
        }
        sizes
    }
}

#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error(transparent)]
    Sled(#[from] sled::Error),
    #[error("encoding: {0}")]
    Encode(#[from] postcard::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Unreadable(#[from] StoreError),
    /// A slice did not reach the disk; the store has failed already.
    #[error(transparent)]
    Durable(JournalError),
}

/// How much a checkpoint writes between two syncs of its own.
///
/// The committer's `fdatasync` at each group commit shares the device with
/// the checkpoint's syncs. Made durable in one sync, the checkpoint of a
/// sold-out stadium (tens of MB) would hold the device, and the commits
/// with it, for as long as that takes; in slices, a commit waits for one
/// slice at most.
const SLICE_BYTES: usize = 1 << 20;

/// What one removed key counts for in a slice: its tombstone and its share
/// of the pages sled rewrites for it.
const REMOVAL_BYTES: usize = 256;

/// While group commits go on, a checkpoint pauses after each slice for this
/// many times as long as the slice took. Encoding and writing a checkpoint
/// of tens of MB at full speed took most of a one-core server for a second,
/// during which its on-sale sold a fraction of its rate. Paced, a
/// checkpoint takes at most a quarter of the machine while there is an
/// on-sale, and runs at full speed when there is none (at shutdown, say).
const PAUSE_PER_WORK: u32 = 3;

/// The longest pause after one slice, should a slice take long (a slow
/// sync): the checkpoint must still finish.
const LONGEST_PAUSE: Duration = Duration::from_millis(250);

/// Makes a checkpoint's writes durable a slice at a time, and yields to
/// group commits between slices. What is made durable early is harmless:
/// nothing names it until the root does.
struct Pace<'a> {
    shared: &'a Shared,
    unsynced: usize,
    slice_started: Instant,
    commits_at_start: u64,
}

impl<'a> Pace<'a> {
    fn new(shared: &'a Shared) -> Pace<'a> {
        let commits_at_start = shared.commits();
        Pace { shared, unsynced: 0, slice_started: Instant::now(), commits_at_start }
    }

    /// Counts `bytes` written; at the end of a slice, makes them durable
    /// with `sync` and pauses.
    fn wrote(
        &mut self,
        bytes: usize,
        sync: impl FnOnce() -> Result<(), WriteError>,
    ) -> Result<(), WriteError> {
        self.unsynced += bytes;
        if self.unsynced < SLICE_BYTES {
            return Ok(());
        }
        self.unsynced = 0;
        sync()?;

        // Commits during the pause count for the next slice.
        let commits = self.shared.commits();
        let committing = commits != self.commits_at_start;
        self.commits_at_start = commits;
        std::thread::sleep(pause_after(self.slice_started.elapsed(), committing));
        self.slice_started = Instant::now();
        Ok(())
    }

    /// Removes `key`, which sled's flush makes durable.
    fn removed(&mut self, tree: &sled::Tree, key: sled::IVec) -> Result<(), WriteError> {
        tree.remove(key)?;
        let durability = &self.shared.durability;
        self.wrote(REMOVAL_BYTES, || durability.make_durable().map_err(WriteError::Durable))
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

fn read_root_object<T: serde::de::DeserializeOwned>(
    dir: &Path,
    what: &str,
    reference: ObjectRef,
) -> Result<T, StoreError> {
    packs::read_object(dir, FileKind::Root, what, reference)
}

fn read_root(tree: &sled::Tree) -> Result<Option<Root>, StoreError> {
    let Some(value) = tree.get(ROOT_KEY)? else { return Ok(None) };
    let root = decode_object(&value).map_err(|e| StoreError::corrupt("checkpoint root", e))?;
    Ok(Some(root))
}

/// The last durable checkpoint of the store in `store_dir`, if it has one.
pub(crate) fn read_checkpoint(
    tree: &sled::Tree,
    store_dir: &Path,
) -> Result<Option<RecoveredCheckpoint>, StoreError> {
    let Some(root) = read_root(tree)? else { return legacy::read_checkpoint(tree) };
    let dir = store_dir.join(DIRECTORY);
    let manifest: Manifest = read_root_object(&dir, "checkpoint manifest", root.manifest)?;

    let mut bookings = BTreeMap::new();
    for (&performance, &reference) in &manifest.snapshots {
        let what = format!("snapshot of performance {performance}");
        let snapshot: BookingSnapshot = packs::read_object(&dir, FileKind::Pack, &what, reference)?;
        check_performance(&snapshot, performance)?;
        bookings.insert(performance, snapshot);
    }

    Ok(Some(RecoveredCheckpoint {
        position: LogPosition(root.position),
        catalogue: read_root_object(&dir, "checkpoint catalogue", root.catalogue)?,
        users: read_root_object(&dir, "checkpoint users", root.users)?,
        bookings,
    }))
}

/// A snapshot stored under the wrong performance is corrupt.
fn check_performance(
    snapshot: &BookingSnapshot,
    performance: PerformanceId,
) -> Result<(), StoreError> {
    if snapshot.performance == performance {
        return Ok(());
    }
    Err(StoreError::corrupt(
        format!("snapshot of performance {performance}"),
        format!("holds performance {}", snapshot.performance),
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::{mpsc, Arc};

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

    fn packs(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(DIRECTORY))
            .expect("the packs' directory")
            .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Leaves what a crash in the middle of a second checkpoint could: the
    /// next generation's files half written, a pack of a generation past
    /// it, and (as if the first checkpoint's trim never ran) a log entry
    /// before its position. And files that are not ours, one of them a
    /// directory named like a pack, which cannot be removed as one.
    fn simulate_crashes(dir: &std::path::Path, position: LogPosition) {
        let packs = dir.join(DIRECTORY);
        for (name, bytes) in [
            ("00000000000000000002.pack", [1, 2, 3]),
            ("00000000000000000002.root", [4, 5, 6]),
            ("00000000000000000009.pack", [7, 8, 9]),
            ("7.pack", [1, 1, 1]),
            ("notes.txt", [2, 2, 2]),
        ] {
            std::fs::write(packs.join(name), bytes).expect("a write");
        }
        std::fs::create_dir(packs.join("00000000000000000008.pack")).expect("a directory");
        let (db, log, _) = raw_trees(dir);
        let stale = encode_log_values(&[registration(666)]).expect("encodes");
        log.insert(log_key(position.0 - 1), stale[0].clone()).expect("an insert");
        db.flush().expect("sled flushes");
    }

    /// Stores a checkpoint in sled's `snapshots` tree as earlier versions
    /// did: every object as chunks under a `root`.
    fn write_legacy_checkpoint(dir: &std::path::Path, position: u64, bookings: &[BookingSnapshot]) {
        let (db, _, snapshots) = raw_trees(dir);
        let put = |object: legacy::Object, bytes: Vec<u8>| {
            let chunks: Vec<&[u8]> = bytes.chunks(crate::MAX_VALUE_BYTES).collect();
            for (index, chunk) in chunks.iter().enumerate() {
                let key = legacy::chunk_key(1, object, index as u32);
                snapshots.insert(key, *chunk).expect("an insert");
            }
            let chunks = chunks.len() as u32;
            legacy::ChunksRef { generation: 1, chunks, len: bytes.len() as u64 }
        };

        let mut manifest = BTreeMap::new();
        for booking in bookings {
            let reference = put(legacy::Object::Booking(booking.performance), encode(booking));
            manifest.insert(booking.performance, reference);
        }
        let root = legacy::Root {
            generation: 1,
            position,
            catalogue: put(legacy::Object::Catalogue, encode(&Catalogue::default())),
            users: put(legacy::Object::Users, encode(&Vec::<User>::new())),
            manifest: put(legacy::Object::Manifest, encode(&manifest)),
        };
        let root = postcard::to_stdvec(&root).expect("encodes");
        snapshots.insert(legacy::ROOT_KEY, root).expect("an insert");
        db.flush().expect("sled flushes");
    }

    fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        postcard::to_stdvec(value).expect("encodes")
    }

    /// A small snapshot, marked with `mark` so two snapshots of one
    /// performance can be told apart.
    fn booking(id: u32, mark: u64) -> BookingSnapshot {
        use engine::catalogue::{Layout, PerformanceInfo, SeatPlan, Section, SectionKind};
        use engine::ids::{CityId, VenueId};
        use engine::time::Timestamp;

        let section = Section {
            name: "Floor".into(),
            kind: SectionKind::Standing { capacity: 10 },
            price_minor: 1_000,
        };
        let plan = SeatPlan::new(Arc::new(Layout { sections: vec![section] }));
        let info = PerformanceInfo {
            id: PerformanceId(id),
            venue: VenueId(1),
            city: CityId(1),
            title: format!("Performance {id}"),
            start_local: "2030-10-27T20:00:00".into(),
            start: Timestamp(1_919_000_000_000),
            utc_offset_seconds: 3600,
            on_sale: Timestamp(1_900_000_000_000),
            order_max: 10,
            user_max: 20,
        };
        let mut snapshot = engine::booking::Booking::new(info, Arc::new(plan)).snapshot();
        snapshot.seq = mark;
        snapshot
    }

    /// Only the root and the fence are left in the `snapshots` tree, and
    /// the fence is what an earlier version cannot take for its root.
    fn assert_fenced_with_no_chunks(dir: &std::path::Path) {
        let (db, _, snapshots) = raw_trees(dir);
        let left: Vec<_> = snapshots.iter().keys().map(|key| key.expect("a key")).collect();
        let expected = [sled::IVec::from(ROOT_KEY), sled::IVec::from(legacy::ROOT_KEY)];
        assert_eq!(left, expected, "the chunks are gone");
        let fence = snapshots.get(legacy::ROOT_KEY).expect("a read").expect("the fence");
        assert!(decode_object::<legacy::Root>(&fence).is_err(), "an earlier version refuses it");
        drop((db, snapshots));
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
        // Generation 10: past the directory named like a pack of 8, which
        // could not be removed, and past what was removed.
        let left = packs(dir.path());
        let expected =
            ["00000000000000000008.pack", "00000000000000000010.root", "7.pack", "notes.txt"];
        assert_eq!(left, expected, "the checkpoint has no snapshots, so no pack");
        let (db, log, _) = raw_trees(dir.path());
        assert_eq!(log.first().expect("a read"), None);
        drop((db, log));

        let store =
            when_unlocked(|| Store::open(dir.path(), StoreOptions::default())).expect("opens");
        let recovery = store.recover().expect("recovers");
        assert_eq!(recovery.checkpoint.expect("a checkpoint").position, later);
    }

    #[test]
    fn a_checkpoint_an_earlier_version_kept_in_sled_is_recovered_then_moved_to_a_pack() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store =
            when_unlocked(|| Store::open(dir.path(), StoreOptions::default())).expect("opens");
        append_and_wait(&store, vec![registration(1)]);
        let position = store.journal().durable_position();
        append_and_wait(&store, vec![registration(2)]);
        drop(store);
        write_legacy_checkpoint(dir.path(), position.0, &[booking(1, 1), booking(2, 1)]);

        let store =
            when_unlocked(|| Store::open(dir.path(), StoreOptions::default())).expect("opens");
        let recovery = store.recover().expect("recovers");
        let recovered = recovery.checkpoint.expect("the earlier version's checkpoint");
        assert_eq!(recovered.position, position);
        assert_eq!(
            recovered.bookings.into_values().collect::<Vec<_>>(),
            [booking(1, 1), booking(2, 1)]
        );
        assert_eq!(recovery.tail, vec![registration(2)]);

        // Only performance 2 changed: performance 1 is carried over.
        let changed = Checkpoint { bookings: vec![booking(2, 2)], ..Checkpoint::default() };
        let later = store.journal().durable_position();
        store.journal().checkpoint(later, changed).expect("durable");
        drop(store);
        assert_fenced_with_no_chunks(dir.path());

        let store =
            when_unlocked(|| Store::open(dir.path(), StoreOptions::default())).expect("opens");
        let recovered = store.recover().expect("recovers").checkpoint.expect("a checkpoint");
        assert_eq!(recovered.position, later);
        let bookings: Vec<_> = recovered.bookings.into_values().collect();
        assert_eq!(bookings, [booking(1, 1), booking(2, 2)]);
    }

    /// A crash after a checkpoint in packs was published, before the chunks
    /// an earlier version left were removed: the packs' checkpoint wins, and
    /// the next checkpoint removes the chunks.
    #[test]
    fn chunks_left_beside_a_published_pack_are_ignored_then_removed() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store =
            when_unlocked(|| Store::open(dir.path(), StoreOptions::default())).expect("opens");
        append_and_wait(&store, vec![registration(1)]);
        let position = store.journal().durable_position();
        let checkpoint = Checkpoint { bookings: vec![booking(1, 1)], ..Checkpoint::default() };
        store.journal().checkpoint(position, checkpoint).expect("durable");
        drop(store);
        write_legacy_checkpoint(dir.path(), 0, &[booking(5, 1)]);

        let store =
            when_unlocked(|| Store::open(dir.path(), StoreOptions::default())).expect("opens");
        let recovered = store.recover().expect("recovers").checkpoint.expect("a checkpoint");
        assert_eq!(recovered.position, position);
        assert_eq!(recovered.bookings.into_values().collect::<Vec<_>>(), [booking(1, 1)]);

        let later = store.journal().durable_position();
        store.journal().checkpoint(later, Checkpoint::default()).expect("durable");
        drop(store);
        assert_fenced_with_no_chunks(dir.path());
    }
}
