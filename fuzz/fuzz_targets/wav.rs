//! Audio bytes through the loader, as a file (it streams from disk).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("gruwave-fuzz-{}.wav", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let _ = gruwave::audio::load_wav(&path);
});
