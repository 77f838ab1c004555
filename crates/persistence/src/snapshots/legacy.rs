//! Checkpoints as earlier versions stored them: every object as 4 KiB
//! chunks in the `snapshots` tree, under a `root` value. They are read, so
//! that a store written by an earlier version recovers; the first
//! checkpoint after that copies what it still needs into files and removes
//! the chunks.
//!
//! Every checkpoint in files also leaves `root` empty: a *fence*. An
//! earlier version fails to decode it and refuses to open the store, where
//! without it that version would see no checkpoint and replay a log whose
//! start is gone.

use std::collections::BTreeMap;

use engine::booking::BookingSnapshot;
use engine::ids::PerformanceId;
use engine::journal::LogPosition;
use serde::{Deserialize, Serialize};

use super::{check_performance, Pace, RecoveredCheckpoint, WriteError};
use crate::codec::decode_object;
use crate::StoreError;

pub(crate) const ROOT_KEY: &[u8] = b"root";
/// What a checkpoint in files leaves under [`ROOT_KEY`].
pub(crate) const FENCE: &[u8] = &[];
const CHUNK_PREFIX: u8 = b'c';
const CHUNK_KEY_BYTES: usize = 1 + 8 + 1 + 4 + 4;

/// Where one object's chunks are and how long it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChunksRef {
    pub(crate) generation: u64,
    pub(crate) chunks: u32,
    pub(crate) len: u64,
}

/// The value whose replacement published a chunked checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Root {
    pub(crate) generation: u64,
    pub(crate) position: u64,
    pub(crate) catalogue: ChunksRef,
    pub(crate) users: ChunksRef,
    pub(crate) manifest: ChunksRef,
}

/// A chunked checkpoint: its root and every performance's snapshot.
#[derive(Clone, Debug)]
pub(crate) struct Checkpoint {
    pub(crate) root: Root,
    pub(crate) manifest: BTreeMap<PerformanceId, ChunksRef>,
}

/// An object of a chunked checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Object {
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

/// `c`, generation, object tag, object id, chunk index: all big-endian.
pub(crate) fn chunk_key(generation: u64, object: Object, index: u32) -> [u8; CHUNK_KEY_BYTES] {
    let (tag, id) = object.tag_and_id();
    let mut key = [0; CHUNK_KEY_BYTES];
    key[0] = CHUNK_PREFIX;
    key[1..9].copy_from_slice(&generation.to_be_bytes());
    key[9] = tag;
    key[10..14].copy_from_slice(&id.to_be_bytes());
    key[14..18].copy_from_slice(&index.to_be_bytes());
    key
}

/// The chunked checkpoint in `tree`, if there is one.
pub(crate) fn load(tree: &sled::Tree) -> Result<Option<Checkpoint>, StoreError> {
    let Some(value) = tree.get(ROOT_KEY)? else { return Ok(None) };
    if value == FENCE {
        // Written only with a root of files, which is read before this.
        return Err(StoreError::corrupt(
            "checkpoint root",
            "a fence without a checkpoint in files",
        ));
    }
    let root: Root =
        decode_object(&value).map_err(|e| StoreError::corrupt("checkpoint root", e))?;
    let manifest = read_object(tree, Object::Manifest, root.manifest)?;
    Ok(Some(Checkpoint { root, manifest }))
}

pub(crate) fn read_object<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    object: Object,
    reference: ChunksRef,
) -> Result<T, StoreError> {
    let bytes = read_encoded(tree, object, reference)?;
    let what = format!("{object:?} of checkpoint generation {}", reference.generation);
    decode_object(&bytes).map_err(|error| StoreError::corrupt(what, error))
}

/// An object's encoding: its chunks joined.
pub(crate) fn read_encoded(
    tree: &sled::Tree,
    object: Object,
    reference: ChunksRef,
) -> Result<Vec<u8>, StoreError> {
    let what = format!("{object:?} of checkpoint generation {}", reference.generation);
    // Not sized from `reference.len` up front: nothing checks it but the end.
    let mut bytes = Vec::new();

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
    Ok(bytes)
}

/// Removes every chunk, once a checkpoint in files has replaced them; with
/// none left, a look at one key.
pub(crate) fn remove_chunks(tree: &sled::Tree, pace: &mut Pace<'_>) -> Result<(), WriteError> {
    let chunks = [CHUNK_PREFIX].as_slice()..[CHUNK_PREFIX + 1].as_slice();
    for key in tree.range(chunks).keys() {
        pace.removed(tree, key?)?;
    }
    Ok(())
}

/// The chunked checkpoint in `tree` as recovery hands it back, if there is
/// one.
pub(crate) fn read_checkpoint(
    tree: &sled::Tree,
) -> Result<Option<RecoveredCheckpoint>, StoreError> {
    let Some(Checkpoint { root, manifest }) = load(tree)? else { return Ok(None) };

    let mut bookings = BTreeMap::new();
    for (&performance, &reference) in &manifest {
        let snapshot: BookingSnapshot = read_object(tree, Object::Booking(performance), reference)?;
        check_performance(&snapshot, performance)?;
        bookings.insert(performance, snapshot);
    }

    Ok(Some(RecoveredCheckpoint {
        position: LogPosition(root.position),
        catalogue: read_object(tree, Object::Catalogue, root.catalogue)?,
        users: read_object(tree, Object::Users, root.users)?,
        bookings,
    }))
}
