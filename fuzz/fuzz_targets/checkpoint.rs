#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gruwave::model::parse_model(data, std::path::Path::new("fuzz.safetensors"));
});
