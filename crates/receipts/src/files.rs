//! One file per message, written so that a reader never sees half of one and
//! a resend of the same message replaces it instead of adding a copy.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes the temporary files of concurrent writes in one process.
static TEMPORARY_FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates `dir` (and its parents) if it is missing.
pub(crate) fn ensure_directory(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// Writes `contents` to `dir/file_name` durably: a temporary file, fsynced,
/// renamed over the target, then the directory fsynced, so that once this
/// returns the message is on disk under its final name, exactly once.
pub(crate) async fn write_durably(
    dir: &Path,
    file_name: &str,
    contents: Vec<u8>,
) -> io::Result<()> {
    let dir = dir.to_owned();
    let file_name = file_name.to_owned();
    let blocking = move || write_durably_blocking(&dir, &file_name, &contents);
    tokio::task::spawn_blocking(blocking).await.map_err(io::Error::other)?
}

fn write_durably_blocking(dir: &Path, file_name: &str, contents: &[u8]) -> io::Result<()> {
    let counter = TEMPORARY_FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temporary = dir.join(format!(".{file_name}.{}.{counter}.tmp", std::process::id()));
    let target = dir.join(file_name);

    let mut file = fs::File::create(&temporary)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);

    if let Err(error) = fs::rename(&temporary, &target) {
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    fs::File::open(dir)?.sync_all()
}
