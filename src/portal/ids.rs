//! Session ids that are never reused, not even across portal restarts (Evennia #2055).
//!
//! The portal reserves ids in blocks: the file `session-ids` in the data directory holds the
//! first id of the next unreserved block, written (and synced to disk, the file and then the
//! directory that holds its new name) before any id of the current block is handed out. A portal that restarts starts at that mark, so it skips at most
//! the unused rest of one block and never repeats an id.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Ids reserved per write of the counter file.
pub const BLOCK: u64 = 1000;

/// Hands out session ids.
#[derive(Debug)]
pub struct IdAllocator {
    /// The counter file.
    path: PathBuf,
    /// Next id to hand out.
    next: u64,
    /// First id not yet reserved on disk.
    reserved_until: u64,
}

impl IdAllocator {
    /// Opens (or creates) the counter file.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let start = match std::fs::read_to_string(path) {
            Ok(s) => s.trim().parse::<u64>().map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
            Err(e) => return Err(e),
        };
        let mut a = IdAllocator {
            path: path.to_path_buf(),
            next: start.max(1),
            reserved_until: start.max(1),
        };
        a.reserve()?;
        Ok(a)
    }

    fn reserve(&mut self) -> std::io::Result<()> {
        let until = self.next + BLOCK;
        let tmp = self.path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            writeln!(f, "{until}")?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        // The rename is durable only once the directory holding it is synced: without this, a
        // power cut could bring back the old mark and ids would be handed out twice.
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)?.sync_all()?;
        self.reserved_until = until;
        Ok(())
    }

    /// The next id.
    pub fn next_id(&mut self) -> std::io::Result<u64> {
        if self.next >= self.reserved_until {
            self.reserve()?;
        }
        let id = self.next;
        self.next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_not_reused_after_restart() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("session-ids");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3 {
            let mut a = IdAllocator::open(&p).unwrap();
            for _ in 0..(BLOCK + 5) {
                assert!(seen.insert(a.next_id().unwrap()));
            }
        }
    }

    #[test]
    fn garbage_counter_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("session-ids");
        std::fs::write(&p, "banana").unwrap();
        assert!(IdAllocator::open(&p).is_err());
    }
}
