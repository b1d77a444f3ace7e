//! Files that appear whole or not at all.
//!
//! An [`AtomicFile`] writes to a hidden temporary name beside its target and renames it into
//! place on [`AtomicFile::commit`]. If the process fails first (disk full, a bad row, an
//! interrupted run) the temporary is removed and no half-written file is left behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates the temporary beside `target`; the parent directory must exist.
    pub fn create(target: &Path) -> Result<AtomicFile> {
        let name = target.file_name().with_context(|| format!("{} is not a file path", target.display()))?;
        let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if parent.is_file() {
            anyhow::bail!("cannot write {}: {} is a file, not a directory", target.display(), parent.display());
        }
        if !parent.is_dir() {
            anyhow::bail!("cannot write {}: directory {} does not exist", target.display(), parent.display());
        }
        let temp = parent.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
        let file = File::create(&temp).with_context(|| format!("cannot write {}", target.display()))?;
        Ok(AtomicFile { target: target.to_owned(), temp, writer: Some(BufWriter::with_capacity(1 << 20, file)) })
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let w = self.writer.as_mut().expect("not yet committed");
        w.write_all(bytes).with_context(|| format!("cannot write {}", self.target.display()))
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        let w = self.writer.take().expect("commit once");
        let file = w.into_inner().map_err(|e| e.into_error()).with_context(|| format!("cannot write {}", self.target.display()))?;
        file.sync_all().with_context(|| format!("cannot write {}", self.target.display()))?;
        std::fs::rename(&self.temp, &self.target).with_context(|| format!("cannot write {}", self.target.display()))?;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.json");
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"half").unwrap();
        drop(f);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temporary must be removed");
    }

    #[test]
    fn committed_file_appears_whole() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.json");
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"whole").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_directory_is_named() {
        let err = AtomicFile::create(Path::new("/nonexistent-genims-dir/x.sql")).err().unwrap().to_string();
        assert_eq!(err, "cannot write /nonexistent-genims-dir/x.sql: directory /nonexistent-genims-dir does not exist");
    }
}
