//! A cheap fingerprint of a data file or an IDX directory, stored in
//! checkpoints so that evaluating or resuming on changed data is noticed.
//!
//! It is the size of each file and an FNV-1a hash of its first and last
//! 64 KiB: reading a 50 MB data set to check it would cost more than
//! loading it. It catches a replaced, truncated or re-downloaded file; a
//! change in the middle of a large file that keeps its size is missed.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::DataError;

/// Bytes hashed at each end of a file.
const EDGE: u64 = 64 * 1024;

/// The fingerprint of a data file, or of the four standard files of an
/// IDX directory, as text (`fnv1a64:<hex>:<total bytes>`).
pub fn fingerprint(path: &Path) -> Result<String, DataError> {
    let files: Vec<PathBuf> = if path.is_dir() {
        super::idx::dir_files(path)?
    } else {
        vec![path.to_path_buf()]
    };
    let mut hash = Fnv::new();
    let mut total = 0u64;
    for file in &files {
        let size = hash_file(file, &mut hash).map_err(|source| DataError::Io {
            path: file.clone(),
            source,
        })?;
        total += size;
    }
    Ok(format!("fnv1a64:{:016x}:{total}", hash.0))
}

fn hash_file(path: &Path, hash: &mut Fnv) -> io::Result<u64> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    hash.update(&size.to_le_bytes());
    let mut buf = Vec::new();
    (&mut file).take(EDGE).read_to_end(&mut buf)?;
    hash.update(&buf);
    if size > EDGE {
        buf.clear();
        file.seek(SeekFrom::Start(size.saturating_sub(EDGE).max(EDGE)))?;
        file.take(EDGE).read_to_end(&mut buf)?;
        hash.update(&buf);
    }
    Ok(size)
}

/// 64-bit FNV-1a.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
