//! Generation of perf388 event streams by length of music (docs/MIDI_TOKENS.md S3): sample
//! until a stream's TIME_SHIFTs add up to the length asked, then shorten the shift that
//! crosses it.

use super::{SampleOptions, Sampler};
use anyhow::Result;

/// Tokens allowed per 10 ms step of music before a stream is given up as stuck (a
/// model that never shifts time). The chorales have 0.18; this is 10x generous.
const MAX_TOKENS_PER_STEP: usize = 2;

/// Steps of 10 ms that a token moves the music on.
fn shift(t: u32) -> u32 {
    if (256..356).contains(&t) {
        t - 255
    } else {
        0
    }
}

/// The tokens up to `steps` of music: the TIME_SHIFT that crosses it is shortened to end
/// there, and nothing after it is kept.
pub fn cut_to_length(tokens: &[u32], steps: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut now = 0;
    for &t in tokens {
        let s = shift(t);
        if s > 0 && now + s >= steps {
            if steps > now {
                out.push(255 + steps - now);
            }
            return out;
        }
        now += s;
        out.push(t);
    }
    out
}

/// What [`generate_events`] made.
pub struct Events {
    /// Per stream, its tokens cut to the length asked.
    pub streams: Vec<Vec<u32>>,
    /// Streams that never reached the length within the token budget (cut where they stopped).
    pub stuck: usize,
}

/// Samples every stream until it holds `steps` of music, in whole generation blocks so the
/// sampler's state and random numbers continue exactly from one call to the next.
/// `progress` gets the fewest steps of music any stream has so far.
pub fn generate_events(
    sampler: &mut Sampler,
    opts: &SampleOptions,
    steps: u32,
    progress: &mut dyn FnMut(u32),
) -> Result<Events> {
    let s = sampler.streams();
    let chunk = sampler.block() * 4;
    let budget = steps as usize * MAX_TOKENS_PER_STEP + chunk;
    let mut all: Vec<Vec<u32>> = vec![Vec::new(); s];
    let mut music = vec![0u32; s];
    while music.iter().any(|&m| m < steps) && all[0].len() < budget {
        let more = sampler.generate(chunk, opts, &mut |_| {})?;
        for ((stream, new), m) in all.iter_mut().zip(more).zip(music.iter_mut()) {
            *m = m.saturating_add(new.iter().map(|&t| shift(t)).sum());
            stream.extend(new);
        }
        progress(music.iter().copied().min().unwrap_or(0).min(steps));
    }
    let stuck = music.iter().filter(|&&m| m < steps).count();
    Ok(Events {
        streams: all.iter().map(|t| cut_to_length(t, steps)).collect(),
        stuck,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crossing_shift_is_shortened_and_the_rest_dropped() {
        // ON60 TS100 ON62 TS100 OFF60 -> 150 steps: the second shift becomes TS50.
        let t = [60, 355, 62, 355, 188];
        assert_eq!(cut_to_length(&t, 150), vec![60, 355, 62, 305]);
        // Exactly at a shift's end: the shift is kept whole, nothing after it.
        assert_eq!(cut_to_length(&t, 100), vec![60, 355]);
        // Longer than the stream: all of it.
        assert_eq!(cut_to_length(&t, 1000), t.to_vec());
        assert_eq!(cut_to_length(&t, 0), vec![60]);
    }
}
