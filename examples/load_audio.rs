//! Loads an audio file as gruwave's trainer does and prints what it got: the probe for
//! the loader's peak memory (README, "Reliability"):
//!
//!     cargo build --release --example load_audio
//!     /usr/bin/time -v target/release/examples/load_audio big.wav

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: load_audio FILE"))?;
    let audio = gruwave::audio::load_wav(std::path::Path::new(&path))?;
    println!(
        "{} samples at {} Hz ({:.1} MB as f32)",
        audio.samples.len(),
        audio.sample_rate,
        audio.samples.len() as f64 * 4.0 / 1e6
    );
    Ok(())
}
