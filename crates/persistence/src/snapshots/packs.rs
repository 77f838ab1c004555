//! A checkpoint's objects in files of their own: one *pack* per checkpoint,
//! in the store's `checkpoints/` directory, holding every object that
//! checkpoint wrote, end to end.
//!
//! sled rewrites whole pages, so a snapshot written into it was written
//! several times over, by sled's I/O threads, at every checkpoint. A pack
//! is written once, through the page cache, and synced a slice at a time.
//! A pack is never written again once its checkpoint is published; the
//! reference that names an object carries its offset, length and CRC-32, so
//! a pack that does not hold what was written is found out at recovery.
//!
//! A checkpoint writes only the performances that changed, so an older pack
//! can still hold the current snapshot of a performance nobody has touched
//! since. A pack is removed once nothing names anything in it. So that dead
//! snapshots do not pile up in packs kept for a few live ones, a checkpoint
//! copies the live objects of any pack that is mostly dead into its own
//! pack (see [`worth_compacting`]).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Pace, WriteError};
use crate::codec::{decode_object, encode_in_chunks, ChunkError};
use crate::{StoreError, MAX_VALUE_BYTES};

/// The directory in the store's directory that holds the packs.
pub(crate) const DIRECTORY: &str = "checkpoints";

const EXTENSION: &str = "pack";

/// Where one object is: which pack, and which bytes of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ObjectRef {
    pub(crate) generation: u64,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) crc32: u32,
}

fn pack_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{generation:020}.{EXTENSION}"))
}

/// The generation of a pack's file name, or `None` for a file not ours.
fn pack_generation(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(EXTENSION)?.strip_suffix('.')?;
    stem.parse().ok()
}

/// Creates the directory if it is missing, durably.
pub(crate) fn create_directory(store_dir: &Path) -> Result<PathBuf, StoreError> {
    let dir = store_dir.join(DIRECTORY);
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).map_err(|source| sync_error(&dir, source))?;
        sync_directory(store_dir).map_err(|source| sync_error(store_dir, source))?;
    }
    Ok(dir)
}

/// Below this many bytes of snapshots, a pack's live ones are copied into
/// the next pack whatever share of it is dead: copying them costs next to
/// nothing, and it keeps checkpoints that each wrote a few small snapshots
/// from leaving a file apiece.
const SMALL_PACK_BYTES: u64 = 1 << 20;

/// Whether the live snapshots of a pack, `live` bytes of the `written` it
/// was written with, should move to the next pack: when most of it is dead,
/// or it is small. Then no more than about half of what the packs hold is
/// dead. A pack whose size is unknown is moved.
pub(crate) fn worth_compacting(live: u64, written: Option<u64>) -> bool {
    match written {
        Some(written) => written < SMALL_PACK_BYTES || live * 2 < written,
        None => true,
    }
}

/// The generation of every pack in `dir`.
fn generations(dir: &Path) -> Result<BTreeSet<u64>, std::io::Error> {
    let mut generations = BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        if let Some(generation) = pack_generation(&entry?.file_name().to_string_lossy()) {
            generations.insert(generation);
        }
    }
    Ok(generations)
}

/// Removes every pack whose generation is not in `named`: packs that
/// nothing names any more, and what a checkpoint interrupted before its
/// root left. Files of other names are not ours and stay.
pub(crate) fn remove_unnamed(dir: &Path, named: &BTreeSet<u64>) -> Result<usize, std::io::Error> {
    let mut removed = 0;
    for generation in generations(dir)? {
        if !named.contains(&generation) {
            std::fs::remove_file(pack_path(dir, generation))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Reads one object back, checking it holds what was written.
pub(crate) fn read_object<T: DeserializeOwned>(
    dir: &Path,
    what: &str,
    reference: ObjectRef,
) -> Result<T, StoreError> {
    let bytes = read_encoded(dir, what, reference)?;
    decode_object(&bytes).map_err(|error| StoreError::corrupt(what, error))
}

/// One object's encoding, checked against its reference.
pub(crate) fn read_encoded(
    dir: &Path,
    what: &str,
    reference: ObjectRef,
) -> Result<Vec<u8>, StoreError> {
    let path = pack_path(dir, reference.generation);
    let unreadable =
        |error: std::io::Error| StoreError::corrupt(what, format!("{}: {error}", path.display()));
    let len = usize::try_from(reference.len).map_err(|_| unreadable(too_long()))?;
    let mut bytes = vec![0; len];

    File::open(&path)
        .and_then(|pack| pack.read_exact_at(&mut bytes, reference.offset))
        .map_err(unreadable)?;

    if crc32fast::hash(&bytes) != reference.crc32 {
        return Err(StoreError::corrupt(what, "its checksum does not match"));
    }
    Ok(bytes)
}

fn too_long() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, "longer than memory can hold")
}

/// `fsync` of a directory, so that the entries in it are durable.
pub(crate) fn sync_directory(dir: &Path) -> Result<(), std::io::Error> {
    File::open(dir)?.sync_all()
}

fn sync_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Sync { path: path.to_owned(), source }
}

/// The pack of a checkpoint being written.
pub(crate) struct PackWriter<'p, 'a> {
    writer: BufWriter<File>,
    generation: u64,
    written: u64,
    pace: &'p mut Pace<'a>,
}

impl<'p, 'a> PackWriter<'p, 'a> {
    /// Starts the pack of `generation`, replacing what an interrupted
    /// checkpoint of the same generation left.
    pub(crate) fn create(
        dir: &Path,
        generation: u64,
        pace: &'p mut Pace<'a>,
    ) -> Result<PackWriter<'p, 'a>, WriteError> {
        let file = File::create(pack_path(dir, generation))?;
        let writer = BufWriter::with_capacity(1 << 16, file);
        Ok(PackWriter { writer, generation, written: 0, pace })
    }

    /// Appends `value`'s encoding, a slice at a time as it fills.
    pub(crate) fn write<T: Serialize>(&mut self, value: &T) -> Result<ObjectRef, WriteError> {
        let mut object = self.begin();
        encode_in_chunks(value, |chunk| self.put(&mut object, &chunk)).map_err(
            |error| match error {
                ChunkError::Encode(error) => WriteError::Encode(error),
                ChunkError::Sink(refused) => refused,
            },
        )?;
        Ok(object.finish())
    }

    /// Appends an object already encoded (carried over from an older pack).
    pub(crate) fn write_encoded(&mut self, encoded: &[u8]) -> Result<ObjectRef, WriteError> {
        let mut object = self.begin();
        for chunk in encoded.chunks(MAX_VALUE_BYTES) {
            self.put(&mut object, chunk)?;
        }
        Ok(object.finish())
    }

    /// Makes the whole pack durable, its directory entry included.
    pub(crate) fn finish(mut self, dir: &Path) -> Result<(), WriteError> {
        self.sync()?;
        sync_directory(dir)?;
        Ok(())
    }

    fn begin(&self) -> ObjectInProgress {
        let reference =
            ObjectRef { generation: self.generation, offset: self.written, len: 0, crc32: 0 };
        ObjectInProgress { reference, crc: crc32fast::Hasher::new() }
    }

    fn put(&mut self, object: &mut ObjectInProgress, chunk: &[u8]) -> Result<(), WriteError> {
        self.writer.write_all(chunk)?;
        self.written += chunk.len() as u64;
        object.crc.update(chunk);
        object.reference.len += chunk.len() as u64;

        let writer = &mut self.writer;
        self.pace.wrote(chunk.len(), || sync_writer(writer))
    }

    fn sync(&mut self) -> Result<(), WriteError> {
        sync_writer(&mut self.writer)
    }
}

fn sync_writer(writer: &mut BufWriter<File>) -> Result<(), WriteError> {
    writer.flush()?;
    writer.get_ref().sync_data()?;
    Ok(())
}

struct ObjectInProgress {
    reference: ObjectRef,
    crc: crc32fast::Hasher,
}

impl ObjectInProgress {
    fn finish(self) -> ObjectRef {
        ObjectRef { crc32: self.crc.finalize(), ..self.reference }
    }
}
