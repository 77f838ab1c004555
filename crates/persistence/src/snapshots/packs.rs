//! A checkpoint's objects in files of their own, in the store's
//! `checkpoints/` directory. Each checkpoint writes two:
//!
//! - `<generation>.root`: its catalogue, its users and its manifest, which
//!   the next checkpoint replaces whole;
//! - `<generation>.pack`: the snapshots it wrote, end to end, kept for as
//!   long as the manifest names any of them.
//!
//! sled rewrites whole pages, so a snapshot written into it was written
//! several times over, by sled's I/O threads, at every checkpoint. A file
//! is written once, through the page cache, and synced a slice at a time.
//! Neither is written again once its checkpoint is published; the reference
//! that names an object carries its offset, length and CRC-32, so a file
//! that does not hold what was written is found out at recovery.
//!
//! A checkpoint writes only the performances that changed, so an older pack
//! can still hold the current snapshot of a performance nobody has touched
//! since. So that dead snapshots do not pile up in packs kept for a few live
//! ones, a checkpoint copies the live snapshots of any pack that is mostly
//! dead, or small, into its own (see [`worth_compacting`]).

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

/// The directory in the store's directory that holds the files.
pub(crate) const DIRECTORY: &str = "checkpoints";

/// Digits of the generation in a file's name, zero-padded so that names
/// sort by generation.
const GENERATION_DIGITS: usize = 20;

/// Below this many bytes, a pack's live snapshots are copied into the next
/// pack whatever share of it is dead: copying them costs next to nothing,
/// and it keeps checkpoints that each wrote a few small snapshots from
/// leaving a file apiece.
const SMALL_PACK_BYTES: u64 = 1 << 20;

/// Which of a checkpoint's two files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum FileKind {
    Root,
    Pack,
}

impl FileKind {
    fn extension(self) -> &'static str {
        match self {
            FileKind::Root => "root",
            FileKind::Pack => "pack",
        }
    }
}

/// A file of a checkpoint: its generation and which of the two.
pub(crate) type FileId = (u64, FileKind);

/// Where one object is: which checkpoint's file, and which bytes of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ObjectRef {
    pub(crate) generation: u64,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) crc32: u32,
}

fn file_name((generation, kind): FileId) -> String {
    format!("{generation:0width$}.{}", kind.extension(), width = GENERATION_DIGITS)
}

/// The file a name is, or `None` for a name that is not exactly one of
/// ours: those files are left alone.
fn parse_file_name(name: &str) -> Option<FileId> {
    let (digits, extension) = name.split_once('.')?;
    if digits.len() != GENERATION_DIGITS || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let kind = [FileKind::Root, FileKind::Pack].into_iter().find(|k| k.extension() == extension)?;
    Some((digits.parse().ok()?, kind))
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

/// Whether the live snapshots of a pack, `live` bytes of the `written` it
/// holds, should move to the next pack: when most of it is dead, or it is
/// small. Then no more than about half of what the packs hold is dead. A
/// pack whose size is unknown is moved.
pub(crate) fn worth_compacting(live: u64, written: Option<u64>) -> bool {
    match written {
        Some(written) => written < SMALL_PACK_BYTES || live * 2 < written,
        None => true,
    }
}

/// Removes every file of ours not in `named`: those of replaced
/// checkpoints, and what a checkpoint interrupted before its root left.
/// A file that cannot be removed is only logged: it takes space, nothing
/// else, and the next checkpoint tries again.
///
/// Returns the highest generation among the names it saw, so that a new
/// checkpoint never takes the name of something that would not go.
pub(crate) fn remove_unnamed(dir: &Path, named: &BTreeSet<FileId>) -> u64 {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            tracing::warn!(dir = %dir.display(), %error, "could not list old checkpoints");
            return 0;
        }
    };
    let mut highest = 0;
    for entry in entries.flatten() {
        let Some(file) = parse_file_name(&entry.file_name().to_string_lossy()) else { continue };
        highest = highest.max(file.0);
        if named.contains(&file) {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                let path = entry.path();
                tracing::warn!(path = %path.display(), %error, "could not remove an old checkpoint");
            }
        }
    }
    highest
}

/// Reads one object back, checking it holds what was written.
pub(crate) fn read_object<T: DeserializeOwned>(
    dir: &Path,
    kind: FileKind,
    what: &str,
    reference: ObjectRef,
) -> Result<T, StoreError> {
    let bytes = read_encoded(dir, kind, what, reference)?;
    decode_object(&bytes).map_err(|error| StoreError::corrupt(what, error))
}

/// One object's encoding, checked against its reference.
pub(crate) fn read_encoded(
    dir: &Path,
    kind: FileKind,
    what: &str,
    reference: ObjectRef,
) -> Result<Vec<u8>, StoreError> {
    let path = dir.join(file_name((reference.generation, kind)));
    let unreadable = |error: std::io::Error| match error.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof => {
            StoreError::corrupt(what, format!("{}: {error}", path.display()))
        }
        _ => StoreError::Read { path: path.clone(), source: error },
    };
    let file = File::open(&path).map_err(unreadable)?;

    // Checked before anything is allocated for it.
    let file_len = file.metadata().map_err(unreadable)?.len();
    let end = reference.offset.checked_add(reference.len);
    if end.is_none_or(|end| end > file_len) {
        let detail =
            format!("bytes {}+{} of a {file_len}-byte file", reference.offset, reference.len);
        return Err(StoreError::corrupt(what, detail));
    }
    let mut bytes = vec![0; reference.len as usize];
    file.read_exact_at(&mut bytes, reference.offset).map_err(unreadable)?;

    if crc32fast::hash(&bytes) != reference.crc32 {
        return Err(StoreError::corrupt(what, "its checksum does not match"));
    }
    Ok(bytes)
}

/// `fsync` of a directory, so that the entries in it are durable.
pub(crate) fn sync_directory(dir: &Path) -> Result<(), std::io::Error> {
    File::open(dir)?.sync_all()
}

fn sync_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Sync { path: path.to_owned(), source }
}

/// A checkpoint's pack, created with its first snapshot: a checkpoint that
/// writes none leaves no pack.
pub(crate) struct NewPack<'d> {
    dir: &'d Path,
    generation: u64,
    file: Option<FileWriter>,
}

impl<'d> NewPack<'d> {
    pub(crate) fn new(dir: &'d Path, generation: u64) -> NewPack<'d> {
        NewPack { dir, generation, file: None }
    }

    pub(crate) fn write<T: Serialize>(
        &mut self,
        value: &T,
        pace: &mut Pace<'_>,
    ) -> Result<ObjectRef, WriteError> {
        self.file()?.write(value, pace)
    }

    pub(crate) fn write_encoded(
        &mut self,
        encoded: &[u8],
        pace: &mut Pace<'_>,
    ) -> Result<ObjectRef, WriteError> {
        self.file()?.write_encoded(encoded, pace)
    }

    pub(crate) fn written(&self) -> u64 {
        self.file.as_ref().map_or(0, FileWriter::written)
    }

    pub(crate) fn finish(self) -> Result<(), WriteError> {
        self.file.map_or(Ok(()), FileWriter::finish)
    }

    fn file(&mut self) -> Result<&mut FileWriter, WriteError> {
        let file = match self.file.take() {
            Some(file) => file,
            None => FileWriter::create(self.dir, (self.generation, FileKind::Pack))?,
        };
        Ok(self.file.insert(file))
    }
}

/// One of a checkpoint's files being written.
pub(crate) struct FileWriter {
    writer: BufWriter<File>,
    generation: u64,
    written: u64,
}

impl FileWriter {
    /// Starts the file, replacing what an interrupted checkpoint of the
    /// same generation left.
    pub(crate) fn create(dir: &Path, file: FileId) -> Result<FileWriter, WriteError> {
        let writer = BufWriter::with_capacity(1 << 16, File::create(dir.join(file_name(file)))?);
        Ok(FileWriter { writer, generation: file.0, written: 0 })
    }

    /// How many bytes the file holds.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Appends `value`'s encoding, a slice at a time as it fills.
    pub(crate) fn write<T: Serialize>(
        &mut self,
        value: &T,
        pace: &mut Pace<'_>,
    ) -> Result<ObjectRef, WriteError> {
        let mut object = self.begin();
        encode_in_chunks(value, |chunk| self.put(&mut object, &chunk, pace)).map_err(|error| {
            match error {
                ChunkError::Encode(error) => WriteError::Encode(error),
                ChunkError::Sink(refused) => refused,
            }
        })?;
        Ok(object.finish())
    }

    /// Appends an object already encoded (carried over from an older file).
    pub(crate) fn write_encoded(
        &mut self,
        encoded: &[u8],
        pace: &mut Pace<'_>,
    ) -> Result<ObjectRef, WriteError> {
        let mut object = self.begin();
        for chunk in encoded.chunks(MAX_VALUE_BYTES) {
            self.put(&mut object, chunk, pace)?;
        }
        Ok(object.finish())
    }

    /// Makes all of the file durable (its directory entry is the caller's).
    pub(crate) fn finish(mut self) -> Result<(), WriteError> {
        sync_writer(&mut self.writer)
    }

    fn begin(&self) -> ObjectInProgress {
        let reference =
            ObjectRef { generation: self.generation, offset: self.written, len: 0, crc32: 0 };
        ObjectInProgress { reference, crc: crc32fast::Hasher::new() }
    }

    fn put(
        &mut self,
        object: &mut ObjectInProgress,
        chunk: &[u8],
        pace: &mut Pace<'_>,
    ) -> Result<(), WriteError> {
        self.writer.write_all(chunk)?;
        self.written += chunk.len() as u64;
        object.crc.update(chunk);
        object.reference.len += chunk.len() as u64;

        let writer = &mut self.writer;
        pace.wrote(chunk.len(), || sync_writer(writer))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_exactly_our_shape_are_ours() {
        assert_eq!(parse_file_name(&file_name((7, FileKind::Pack))), Some((7, FileKind::Pack)));
        assert_eq!(parse_file_name("00000000000000000007.root"), Some((7, FileKind::Root)));
        for foreign in ["7.pack", "+0000000000000000007.pack", "00000000000000000007.pack.bak"] {
            assert_eq!(parse_file_name(foreign), None, "{foreign}");
        }
        assert_eq!(parse_file_name("00000000000000000007.snap"), None);
        assert_eq!(parse_file_name("notes.txt"), None);
    }
}
