//! The CPU twin of the GPU draw: the same counter-based random numbers and the same rule
//! for temperature, top-k and the inverse-CDF pick, in f64. Tests use it to check the GPU.

fn pcg(v: u32) -> u32 {
    let state = v.wrapping_mul(747796405).wrapping_add(2891336453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
    (word >> 22) ^ word
}

/// Uniform in [0, 1) from (seed, stream, step), bit-identical to `uniform01` in sample.wgsl.
pub fn uniform(seed: u64, stream: u32, step: u32) -> f32 {
    let (lo, hi) = (seed as u32, (seed >> 32) as u32);
    let x = pcg(pcg(pcg(lo ^ pcg(hi)).wrapping_add(stream)).wrapping_add(step));
    (x >> 8) as f32 * (1.0 / 16777216.0)
}

/// Which tokens may be drawn and with what weight: exp((l - max) / T), zero outside the
/// top k (ties to the lower index). `None` for argmax (temperature 0).
pub fn weights(logits: &[f64], temperature: f64, top_k: usize) -> Option<Vec<f64>> {
    weights_allowed(logits, temperature, top_k, &|_| true)
}

/// As [`weights`] over the tokens that `allowed` admits (the others weigh 0; the max and
/// the top k are taken among the allowed).
fn weights_allowed(
    logits: &[f64],
    temperature: f64,
    top_k: usize,
    allowed: &dyn Fn(usize) -> bool,
) -> Option<Vec<f64>> {
    if temperature <= 0.0 {
        return None;
    }
    let m = max_allowed(logits, allowed);
    let v = logits.len();
    Some(
        logits
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let keep = allowed(i)
                    && (top_k == 0
                        || top_k >= v
                        || logits
                            .iter()
                            .enumerate()
                            .filter(|&(q, &o)| (o > l || (o == l && q < i)) && allowed(q))
                            .count()
                            < top_k);
                if keep {
                    ((l - m) / temperature).exp()
                } else {
                    0.0
                }
            })
            .collect(),
    )
}

fn max_allowed(logits: &[f64], allowed: &dyn Fn(usize) -> bool) -> f64 {
    (0..logits.len())
        .filter(|&i| allowed(i))
        .map(|i| logits[i])
        .fold(f64::NEG_INFINITY, f64::max)
}

/// The token the GPU draws from these logits with random number `u`.
pub fn draw(logits: &[f64], temperature: f64, top_k: usize, u: f32) -> u32 {
    pick(logits, temperature, top_k, u, &|_| true)
}

/// The token the GPU draws under the perf388 note rules of `notes` (a forced NOTE_OFF
/// when a note has sounded `max_hold` steps, else a draw among the allowed tokens).
pub fn draw_with_rules(
    logits: &[f64],
    temperature: f64,
    top_k: usize,
    u: f32,
    notes: &NoteState,
    max_hold: u32,
) -> u32 {
    if let Some(off) = notes.forced_off(max_hold) {
        return off;
    }
    pick(logits, temperature, top_k, u, &|v| {
        notes.allowed(v as u32, max_hold)
    })
}

fn pick(
    logits: &[f64],
    temperature: f64,
    top_k: usize,
    u: f32,
    allowed: &dyn Fn(usize) -> bool,
) -> u32 {
    let Some(w) = weights_allowed(logits, temperature, top_k, allowed) else {
        let m = max_allowed(logits, allowed);
        return (0..logits.len())
            .position(|i| logits[i] == m && allowed(i))
            .unwrap_or(0) as u32;
    };
    let total: f64 = w.iter().sum();
    let target = u as f64 * total;
    let mut acc = 0.0;
    for (i, &wi) in w.iter().enumerate() {
        acc += wi;
        if wi > 0.0 && target < acc {
            return i as u32;
        }
    }
    w.iter().rposition(|&x| x > 0.0).unwrap_or(0) as u32
}

/// Words of one stream's note state on the GPU: 128 pitches, then the time.
pub const NOTE_WORDS: usize = 129;

/// The sounding notes of a perf388 stream, as the GPU draw keeps them (`notes` in
/// sample.wgsl): per pitch its start step + 1 (0: silent), and the current step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteState {
    start: [u32; 128],
    now: u32,
}

impl Default for NoteState {
    fn default() -> Self {
        NoteState {
            start: [0; 128],
            now: 0,
        }
    }
}

impl NoteState {
    /// The state after `tokens` (a primer), from silence.
    pub fn after(tokens: &[u32]) -> NoteState {
        let mut s = NoteState::default();
        tokens.iter().for_each(|&t| s.update(t));
        s
    }

    /// NOTE_ON needs a silent pitch, NOTE_OFF a sounding one, and a TIME_SHIFT may not
    /// carry the longest-held note past `max_hold` steps; VELOCITY tokens are free.
    pub fn allowed(&self, v: u32, max_hold: u32) -> bool {
        match v {
            0..128 => self.start[v as usize] == 0,
            128..256 => self.start[v as usize - 128] != 0,
            256..356 => v - 255 <= self.shift_cap(max_hold),
            _ => true,
        }
    }

    /// The longest TIME_SHIFT (in steps, at most 100) that keeps every sounding note
    /// within `max_hold` steps.
    pub fn shift_cap(&self, max_hold: u32) -> u32 {
        let first = self.start.iter().filter(|&&s| s != 0).min();
        match first {
            None => 100,
            Some(&s) => max_hold
                .saturating_sub(self.now.wrapping_sub(s - 1))
                .min(100),
        }
    }

    /// The NOTE_OFF of the earliest-started note held `max_hold` steps or more (the lower
    /// pitch on ties), if any.
    pub fn forced_off(&self, max_hold: u32) -> Option<u32> {
        (0..128)
            .filter(|&p| {
                let s = self.start[p];
                s != 0 && self.now.wrapping_sub(s - 1) >= max_hold
            })
            .min_by_key(|&p| self.start[p])
            .map(|p| 128 + p as u32)
    }

    /// Advances the state by one drawn token.
    pub fn update(&mut self, t: u32) {
        match t {
            0..128 => self.start[t as usize] = self.now.wrapping_add(1),
            128..256 => self.start[t as usize - 128] = 0,
            256..356 => self.now = self.now.wrapping_add(t - 255),
            _ => {}
        }
    }

    /// The state from its GPU layout (`words`).
    pub fn from_words(w: &[u32]) -> NoteState {
        let mut start = [0; 128];
        start.copy_from_slice(&w[..128]);
        NoteState { start, now: w[128] }
    }

    /// The GPU layout: NOTE_WORDS words.
    pub fn words(&self) -> Vec<u32> {
        let mut w = self.start.to_vec();
        w.push(self.now);
        w
    }
}

/// How close `u` lies to a bin edge of the draw, as a fraction of the total weight (tests
/// skip comparisons where f32 rounding on the GPU could move the pick).
pub fn edge_distance(logits: &[f64], temperature: f64, top_k: usize, u: f32) -> f64 {
    edge_allowed(logits, temperature, top_k, u, &|_| true)
}

/// As [`edge_distance`] for a draw under the note rules of `notes`.
pub fn edge_distance_with_rules(
    logits: &[f64],
    temperature: f64,
    top_k: usize,
    u: f32,
    (notes, max_hold): (&NoteState, u32),
) -> f64 {
    edge_allowed(logits, temperature, top_k, u, &|v| {
        notes.allowed(v as u32, max_hold)
    })
}

fn edge_allowed(
    logits: &[f64],
    temperature: f64,
    top_k: usize,
    u: f32,
    allowed: &dyn Fn(usize) -> bool,
) -> f64 {
    let Some(w) = weights_allowed(logits, temperature, top_k, allowed) else {
        return f64::INFINITY;
    };
    let total: f64 = w.iter().sum();
    let target = u as f64 * total;
    let mut acc = 0.0;
    let mut best = f64::INFINITY;
    for wi in w {
        acc += wi;
        best = best.min((acc - target).abs());
    }
    best / total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_in_range_and_varies() {
        let xs: Vec<f32> = (0..1000).map(|i| uniform(42, 0, i)).collect();
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mean = xs.iter().sum::<f32>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05);
        assert_ne!(uniform(1, 0, 0), uniform(2, 0, 0));
        assert_ne!(uniform(1, 0, 0), uniform(1, 1, 0));
    }

    #[test]
    fn note_rules_mask_stacked_and_silent_notes_and_force_long_ones_off() {
        let mut n = NoteState::default();
        let ok = |n: &NoteState, v| n.allowed(v, 50);
        assert!(ok(&n, 60) && !ok(&n, 128 + 60) && ok(&n, 355) && ok(&n, 370));
        n.update(60); // ON60 at 0
        assert!(!ok(&n, 60) && ok(&n, 128 + 60));
        // Shifts up to 50 steps keep ON60 within 50.
        assert!(ok(&n, 255 + 50) && !ok(&n, 255 + 51));
        n.update(255 + 40); // TS40
        n.update(64); // ON64 at 40
        assert_eq!(n.forced_off(50), None);
        assert_eq!(n.shift_cap(50), 10);
        n.update(255 + 10); // now 50: ON60 has sounded 50 steps
        assert_eq!(n.forced_off(50), Some(128 + 60));
        assert_eq!(
            n.forced_off(10),
            Some(128 + 60),
            "the earliest start goes first"
        );
        // The forced token wins whatever the logits say.
        let mut logits = vec![0.0; 388];
        logits[300] = 50.0;
        assert_eq!(draw_with_rules(&logits, 1.0, 0, 0.5, &n, 50), 128 + 60);
        n.update(128 + 60);
        assert_eq!(n.forced_off(50), None);
        // Masked tokens never win, even by argmax or top-k.
        logits[64] = 100.0;
        logits[128 + 60] = 90.0;
        assert_eq!(draw_with_rules(&logits, 0.0, 0, 0.5, &n, 60), 300);
        assert_eq!(draw_with_rules(&logits, 1.0, 1, 0.9, &n, 60), 300);
        // ON64 has sounded 10 steps: with max_hold 50, TS45 (id 300) would carry it to 55.
        assert_eq!(n.shift_cap(50), 40);
        assert_ne!(draw_with_rules(&logits, 0.0, 0, 0.5, &n, 50), 300);
        assert_eq!(NoteState::after(&[60, 255 + 40, 64, 255 + 10, 128 + 60]), n);
    }

    #[test]
    fn top_k_and_argmax() {
        let l = [0.0, 3.0, 3.0, 1.0];
        assert_eq!(draw(&l, 0.0, 0, 0.5), 1);
        let w = weights(&l, 1.0, 2).unwrap();
        assert_eq!(w.iter().filter(|&&x| x > 0.0).count(), 2);
        assert!(w[1] > 0.0 && w[2] > 0.0);
        assert_eq!(draw(&l, 1.0, 1, 0.99), 1);
    }
}
