//! Files that appear whole or not at all — without ever replacing what a path points at.
//!
//! An [`AtomicFile`] for a regular (or new) file writes to a hidden temporary name beside its
//! target and renames it into place on [`AtomicFile::commit`]. If the process fails first
//! (disk full, a bad row, an interrupted run) the temporary is removed and no half-written
//! file is left behind.
//!
//! A path that is not a regular file is never replaced: a symbolic link is followed (the
//! file it names is written atomically, the link stays), and a device, FIFO or socket
//! (`/dev/null`, `/dev/stdout`, a named pipe) is written through, in place. A link that
//! leads nowhere is refused with a clear message.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

pub struct AtomicFile {
    /// The path the user named (for messages).
    target: PathBuf,
    /// Where the bytes go: the temporary (renamed to `dest` on commit), or the special file
    /// itself when `temp` is `None`.
    dest: PathBuf,
    temp: Option<PathBuf>,
    writer: Option<BufWriter<File>>,
}

/// What a path is, as far as writing it goes.
enum Kind {
    /// Missing, or a regular file (after following links): write atomically to `dest`.
    Regular(PathBuf),
    /// A device, FIFO or socket: write through it.
    Special,
}

fn kind_of(target: &Path) -> Result<Kind> {
    // `/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`: an open descriptor, even when it leads
    // to a regular file (replacing that file would cut the shell's redirection).
    if (target.starts_with("/dev") || target.starts_with("/proc"))
        && std::fs::metadata(target).is_ok_and(|m| !m.is_dir())
    {
        return Ok(Kind::Special);
    }
    let Ok(meta) = std::fs::symlink_metadata(target) else { return Ok(Kind::Regular(target.to_owned())) };
    if meta.file_type().is_symlink() {
        let followed = std::fs::metadata(target).map_err(|e| {
            anyhow::anyhow!(
                "cannot write {}: it is a symbolic link that leads nowhere ({e}); remove it or name another file",
                target.display()
            )
        })?;
        if followed.is_dir() {
            bail!("cannot write {}: it is a directory", target.display());
        }
        if !followed.is_file() {
            return Ok(Kind::Special);
        }
        let real = std::fs::canonicalize(target).with_context(|| format!("cannot write {}", target.display()))?;
        return Ok(Kind::Regular(real));
    }
    if meta.is_dir() {
        bail!("cannot write {}: it is a directory", target.display());
    }
    if meta.is_file() {
        Ok(Kind::Regular(target.to_owned()))
    } else {
        Ok(Kind::Special)
    }
}

impl AtomicFile {
    /// Creates the temporary beside `target` (beside the file a link names); the parent
    /// directory must exist. A special file is opened for writing instead.
    pub fn create(target: &Path) -> Result<AtomicFile> {
        let dest = match kind_of(target)? {
            Kind::Special => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(target)
                    .with_context(|| format!("cannot write {}", target.display()))?;
                return Ok(AtomicFile {
                    target: target.to_owned(),
                    dest: target.to_owned(),
                    temp: None,
                    writer: Some(BufWriter::with_capacity(1 << 20, file)),
                });
            }
            Kind::Regular(dest) => dest,
        };
        let name = dest.file_name().with_context(|| format!("{} is not a file path", target.display()))?;
        let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if parent.is_file() {
            bail!("cannot write {}: {} is a file, not a directory", target.display(), parent.display());
        }
        if !parent.is_dir() {
            bail!("cannot write {}: directory {} does not exist", target.display(), parent.display());
        }
        let temp = parent.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
        let file = File::create(&temp).with_context(|| format!("cannot write {}", target.display()))?;
        Ok(AtomicFile {
            target: target.to_owned(),
            dest,
            temp: Some(temp),
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let w = self.writer.as_mut().expect("not yet committed");
        w.write_all(bytes).with_context(|| format!("cannot write {}", self.target.display()))
    }

    /// Flushes, syncs and renames the file into place (a special file: flushes).
    pub fn commit(mut self) -> Result<()> {
        let w = self.writer.take().expect("commit once");
        let what = || format!("cannot write {}", self.target.display());
        let file = w.into_inner().map_err(|e| e.into_error()).with_context(what)?;
        let Some(temp) = &self.temp else { return Ok(()) };
        file.sync_all().with_context(what)?;
        std::fs::rename(temp, &self.dest).with_context(what)?;
        Ok(())
    }
}

/// For writers that take a [`Write`] (the Parquet file writer): bytes go where
/// [`AtomicFile::write_all`] puts them.
impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.as_mut().expect("not yet committed").write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.as_mut().expect("not yet committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            if let Some(temp) = &self.temp {
                let _ = std::fs::remove_file(temp);
            }
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

    #[cfg(unix)]
    #[test]
    fn special_files_and_links_are_written_through_never_replaced() {
        use std::os::unix::fs::FileTypeExt as _;
        let dir = tempfile::tempdir().unwrap();
        // A symbolic link: the file it names gets the bytes, the link stays a link.
        let real = dir.path().join("real.json");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mut f = AtomicFile::create(&link).unwrap();
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link must stay a link");
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A device: written through, still a character device afterwards.
        let mut f = AtomicFile::create(Path::new("/dev/null")).unwrap();
        f.write_all(b"discarded").unwrap();
        f.commit().unwrap();
        assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device(), "/dev/null must stay a device");
        // A FIFO: a reader gets the bytes, and the FIFO stays a FIFO.
        let fifo = dir.path().join("pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        let mut f = AtomicFile::create(&fifo).unwrap();
        f.write_all(b"through the pipe").unwrap();
        f.commit().unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO must stay a FIFO");
        // A dangling link is refused, and not replaced.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere/x"), &dangling).unwrap();
        let err = AtomicFile::create(&dangling).err().unwrap().to_string();
        assert!(err.contains("symbolic link that leads nowhere"), "{err}");
        assert!(std::fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());
    }

    #[test]
    fn missing_directory_is_named() {
        let err = AtomicFile::create(Path::new("/nonexistent-genims-dir/x.sql")).err().unwrap().to_string();
        assert_eq!(err, "cannot write /nonexistent-genims-dir/x.sql: directory /nonexistent-genims-dir does not exist");
    }
}
