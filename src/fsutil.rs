//! Atomic file writes: a temporary file in the target's folder, synced, then renamed, so a
//! crash or Ctrl-C never leaves a half-written checkpoint or WAV behind.

use anyhow::{anyhow, bail, Context, Result};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where a write to `path` lands: a symlink is followed to its target (so the link stays
/// a link), and an existing path that is not a regular file (a device node, a fifo, a
/// folder) is refused rather than replaced.
fn resolve_target(path: &Path) -> Result<PathBuf> {
    let p = path.display();
    let mut target = path.to_path_buf();
    // A chain of links is followed a few steps; a loop is an error.
    for _ in 0..40 {
        match fs::symlink_metadata(&target) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&target)
                    .with_context(|| format!("{p}: cannot read the symlink"))?;
                target = match target.parent() {
                    Some(dir) => dir.join(link),
                    None => link,
                };
            }
            Ok(m) if m.is_file() => return Ok(target),
            Ok(m) if m.is_dir() => bail!("{p}: is a folder; give the name of a file to write"),
            Ok(_) => bail!(
                "{p}: is not a regular file (a device, fifo or socket); gruwave writes only \
                 regular files"
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(target),
            Err(e) => return Err(anyhow!("{p}: cannot access: {e}")),
        }
    }
    bail!("{p}: too many levels of symbolic links")
}

/// Write `path` through `fill`; on any error the temporary file is removed and `path` is
/// left as it was. A symlink is written through to its target; the folder is synced after
/// the rename, so the new name survives a power cut too.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<fs::File>) -> Result<()>,
) -> Result<()> {
    let p = path.display();
    let target = resolve_target(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| anyhow!("{p}: not a file name"))?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> Result<()> {
        let file = fs::File::create(&tmp)
            .with_context(|| format!("{}: cannot create file", tmp.display()))?;
        let mut w = BufWriter::new(file);
        fill(&mut w)?;
        w.flush()?;
        // The data must be on disk before the rename makes it visible.
        w.get_ref().sync_all()?;
        fs::rename(&tmp, &target)?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e.context(format!("{p}: cannot write")));
    }
    sync_dir(&dir);
    Ok(())
}

/// Makes a rename in `dir` durable. Best effort: some filesystems cannot open or sync a
/// folder, and the data itself is already synced.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| Ok(w.write_all(bytes)?))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn writes_go_through_symlinks_and_refuse_devices() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.bin");
        let link = dir.path().join("link.bin");
        std::os::unix::fs::symlink("real.bin", &link).unwrap();
        write_bytes_atomic(&link, b"abc").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&real).unwrap(), b"abc");
        let err = write_bytes_atomic(Path::new("/dev/null"), b"x").unwrap_err();
        assert!(format!("{err:#}").contains("not a regular file"), "{err:#}");
        let err = write_bytes_atomic(dir.path(), b"x").unwrap_err();
        assert!(format!("{err:#}").contains("is a folder"), "{err:#}");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "no temporary file is left");
    }
}
