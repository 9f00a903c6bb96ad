//! Choices made by timing (GEMM tiles, step kernels, the sampler's work split), remembered
//! per adapter and driver in the user's cache folder, so a second run does not time them
//! again. The file is a small JSON map from a choice's key to the chosen candidate's name;
//! a missing, unreadable or stale file only means timing again (never an error).

use super::Gpu;
use serde_json::{Map, Value};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static RETUNE: AtomicBool = AtomicBool::new(false);

/// `--retune`: ignore what is cached and time every choice afresh (then cache it).
pub fn set_retune(on: bool) {
    RETUNE.store(on, Ordering::SeqCst);
}

/// The cache of one adapter and driver, under this version of gruwave (a new version may
/// have new candidates, so it starts afresh).
pub struct TuningCache {
    path: Option<PathBuf>,
    entries: Mutex<Map<String, Value>>,
}

impl TuningCache {
    /// The cache for `gpu`, in `$GRUWAVE_CACHE_DIR` or the user's cache folder.
    pub fn for_gpu(gpu: &Gpu) -> TuningCache {
        let i = &gpu.info;
        let mut h = DefaultHasher::new();
        (&i.name, i.vendor, i.device, &i.driver, &i.driver_info).hash(&mut h);
        format!("{:?}", i.backend).hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        let dir = std::env::var_os("GRUWAVE_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("gruwave")));
        Self::at(dir.map(|d| d.join(format!("tuning-{:016x}.json", h.finish()))))
    }

    /// A cache kept in `path` (`None`: in memory only).
    pub fn at(path: Option<PathBuf>) -> TuningCache {
        let entries = path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        TuningCache {
            path,
            entries: Mutex::new(entries),
        }
    }

    /// The cached choice for `key`, unless --retune asked to time again.
    pub fn get(&self, key: &str) -> Option<String> {
        if RETUNE.load(Ordering::SeqCst) {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        entries.get(key)?.as_str().map(str::to_string)
    }

    /// Remembers `choice` for `key` and writes the file (a failure is logged, not fatal).
    pub fn put(&self, key: &str, choice: &str) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        entries.insert(key.to_string(), Value::String(choice.to_string()));
        let Some(path) = &self.path else {
            return;
        };
        let bytes = serde_json::to_vec_pretty(&Value::Object(entries.clone())).unwrap_or_default();
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .map_err(anyhow::Error::from)
            .and_then(|()| crate::fsutil::write_bytes_atomic(path, &bytes));
        if let Err(e) = written {
            log::warn!(
                "cannot cache the timed choices in {}: {e:#}",
                path.display()
            );
        }
    }

    pub fn path(&self) -> Option<&PathBuf> {
        self.path.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_persist_and_retune_ignores_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/tuning.json");
        let c = TuningCache::at(Some(path.clone()));
        assert_eq!(c.get("gemm 64x64x64"), None);
        c.put("gemm 64x64x64", "128x128");
        let again = TuningCache::at(Some(path.clone()));
        assert_eq!(again.get("gemm 64x64x64").as_deref(), Some("128x128"));
        set_retune(true);
        assert_eq!(again.get("gemm 64x64x64"), None);
        set_retune(false);
        // A corrupt file is an empty cache.
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(TuningCache::at(Some(path)).get("gemm 64x64x64"), None);
    }
}
