//! Trainer-state bytes through the loader, as a file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("gruwave-fuzz-{}.st", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let _ = gruwave::train::state::TrainerState::load(&path);
});
