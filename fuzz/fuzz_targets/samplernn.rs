//! SampleRNN checkpoint bytes through the loader.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gruwave::samplernn::parse_srnn(data, std::path::Path::new("fuzz.safetensors"));
});
