//! General MIDI rendering with the bundled SoundFont, checked by spectrum and level.

use gruwave::music::render::{parse_midi, render_midi, MAX_SECONDS};
#[path = "common/spectrum.rs"]
mod spectrum;
use spectrum::{spectrum, strongest_peaks};

const SOUNDFONT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/soundfonts/sf_GMbank.sf2"
);
const RATE: u32 = 44_100;
/// Ticks per quarter note; at the default 120 bpm, 960 ticks are one second.
const TPQ: u16 = 480;
const TICKS_PER_SECOND: u32 = 960;

fn soundfont() -> Vec<u8> {
    std::fs::read(SOUNDFONT).expect("the bundled SoundFont")
}

fn vlq(mut v: u32) -> Vec<u8> {
    let mut out = vec![(v & 0x7F) as u8];
    v >>= 7;
    while v > 0 {
        out.insert(0, (v & 0x7F) as u8 | 0x80);
        v >>= 7;
    }
    out
}

/// A format-0 file from (delta ticks, event bytes) pairs, end-of-track appended.
fn smf(events: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut track = Vec::new();
    for (delta, bytes) in events {
        track.extend(vlq(*delta));
        track.extend(bytes);
    }
    track.extend([0x00, 0xFF, 0x2F, 0x00]);
    let mut out = b"MThd\0\0\0\x06\0\0\0\x01".to_vec();
    out.extend(TPQ.to_be_bytes());
    out.extend(b"MTrk");
    out.extend((track.len() as u32).to_be_bytes());
    out.extend(track);
    out
}

/// `program` on channel 1 at tick 0, then one note from 0.5 s to 1.5 s.
fn one_note(pitch: u8, program: u8) -> Vec<u8> {
    smf(&[
        (0, vec![0xC0, program]),
        (TICKS_PER_SECOND / 2, vec![0x90, pitch, 100]),
        (TICKS_PER_SECOND, vec![0x80, pitch, 0]),
    ])
}

fn mono(frames: &[[f32; 2]], from_s: f64, to_s: f64) -> Vec<f64> {
    let (a, b) = (
        (from_s * RATE as f64) as usize,
        (to_s * RATE as f64) as usize,
    );
    frames[a..b]
        .iter()
        .map(|[l, r]| f64::from(l + r) / 2.0)
        .collect()
}

fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

fn render(midi: &[u8], program: Option<u8>) -> Vec<[f32; 2]> {
    render_midi(midi, &soundfont(), RATE, program).unwrap()
}

#[test]
fn single_notes_peak_at_harmonics_of_their_fundamental() {
    for (pitch, f0) in [(57u8, 220.0), (69u8, 440.0)] {
        let frames = render(&one_note(pitch, 0), None);
        // 0.5 s note start + 1 s note + 1 s release tail.
        assert_eq!(frames.len(), (2.5 * RATE as f64) as usize);
        let x = mono(&frames, 0.6, 1.4);
        let bin_hz = RATE as f64 / x.len() as f64;
        let peaks = strongest_peaks(&spectrum(&x), bin_hz, 3);
        println!("pitch {pitch}: peaks {peaks:?}");
        for f in peaks {
            let harmonic = (f / f0).round().max(1.0);
            let off = (f - harmonic * f0).abs();
            // A few Hz, plus 0.5 % because a sampled piano's upper partials run sharp
            // (string stiffness): a semitone is 6 %.
            let tolerance = 2.0 + 0.005 * f;
            assert!(
                off < tolerance,
                "pitch {pitch}: peak {f:.1} Hz is {off:.1} Hz off harmonic {harmonic}"
            );
        }
    }
}

#[test]
fn silence_where_no_note_sounds() {
    // Notes at 0.5-1.0 s and 4.0-4.5 s; quiet before the first and late in the gap.
    let midi = smf(&[
        (0, vec![0xC0, 0]),
        (480, vec![0x90, 60, 100]),
        (480, vec![0x80, 60, 0]),
        (3 * 960, vec![0x90, 64, 100]),
        (480, vec![0x80, 64, 0]),
    ]);
    let frames = render(&midi, None);
    let before = mono(&frames, 0.0, 0.49);
    assert!(
        before.iter().all(|v| v.abs() < 1e-6),
        "sound before the first note"
    );
    let during = rms(&mono(&frames, 0.55, 0.95));
    let gap = rms(&mono(&frames, 3.0, 3.95));
    println!("rms during {during:.2e}, late in the gap {gap:.2e}");
    assert!(during > 1e-3, "the note is audible");
    assert!(gap < during * 1e-2, "the gap is quiet: {gap} vs {during}");
    assert!(frames.iter().flatten().all(|v| v.abs() <= 1.0));
}

/// Energy of harmonics 1..=10 of `f0`, normalised to sum 1: the timbre.
fn harmonic_profile(frames: &[[f32; 2]], f0: f64) -> Vec<f64> {
    let x = mono(frames, 0.6, 1.4);
    let bin_hz = RATE as f64 / x.len() as f64;
    let mag = spectrum(&x);
    let h: Vec<f64> = (1..=10)
        .map(|k| {
            let c = (k as f64 * f0 / bin_hz).round() as usize;
            mag[c - 3..=c + 3].iter().map(|m| m * m).sum()
        })
        .collect();
    let total: f64 = h.iter().sum();
    h.iter().map(|e| e / total).collect()
}

fn profile_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}

#[test]
fn program_override_replaces_the_files_instrument() {
    let flute_file = one_note(57, 73);
    let piano_file = one_note(57, 0);
    let piano = harmonic_profile(&render(&piano_file, None), 220.0);
    let flute = harmonic_profile(&render(&flute_file, None), 220.0);
    let d = profile_distance(&piano, &flute);
    println!("piano {piano:.3?}\nflute {flute:.3?}\ndistance {d:.3}");
    assert!(d > 0.2, "piano and flute differ in timbre");
    // Overriding with piano must drop the file's own program change to flute.
    let overridden = render(&flute_file, Some(0));
    assert_eq!(
        overridden,
        render(&piano_file, None),
        "override equals a piano file"
    );
    let square = harmonic_profile(&render(&piano_file, Some(80)), 220.0);
    assert!(
        profile_distance(&piano, &square) > 0.2,
        "square lead differs from piano"
    );
}

#[test]
fn bad_soundfonts_are_errors() {
    let midi = one_note(60, 0);
    let good = soundfont();
    let err = |sf: &[u8]| render_midi(&midi, sf, RATE, None).unwrap_err().to_string();
    assert!(err(b"not a soundfont at all").contains("SoundFont"));
    assert!(err(&[]).contains("SoundFont"));
    assert!(err(&good[..good.len() / 2]).contains("SoundFont"));
    // A preset whose zone index points past the zone list.
    let mut bad = good.clone();
    let phdr = bad.windows(4).position(|w| w == b"phdr").unwrap() + 8;
    bad[phdr + 38 + 24..phdr + 38 + 26].copy_from_slice(&u16::MAX.to_le_bytes());
    let e = render_midi(&midi, &bad, RATE, None).unwrap_err();
    assert!(format!("{e:#}").contains("preset"), "{e:#}");
}

#[test]
fn bad_midi_and_arguments_are_errors() {
    let sf = soundfont();
    let good = one_note(60, 0);
    let err = |midi: &[u8]| format!("{:#}", render_midi(midi, &sf, RATE, None).unwrap_err());
    assert!(err(b"MThd").contains("MIDI"));
    assert!(err(b"RIFF....").contains("MIDI"));
    assert!(err(&good[..good.len() - 6]).contains("MIDI"));
    // A data byte without a status byte.
    let mut no_status = smf(&[(0, vec![60, 100])]);
    assert!(err(&no_status).contains("status"));
    // SMPTE division.
    no_status = good.clone();
    no_status[12] = 0xE7;
    assert!(err(&no_status).contains("SMPTE"));
    // 2^28 - 1 ticks at the slowest tempo: far more than the limit, refused before rendering.
    let long = smf(&[
        (0, vec![0xFF, 0x51, 3, 0xFF, 0xFF, 0xFF]),
        (0x0FFF_FFFF, vec![0x90, 60, 1]),
    ]);
    assert!(parse_midi(&long).unwrap().seconds > MAX_SECONDS);
    assert!(err(&long).contains("limit"));
    assert!(render_midi(&good, &sf, 8_000, None).is_err());
    assert!(render_midi(&good, &sf, RATE, Some(128)).is_err());
}

#[test]
fn parses_tempo_running_status_and_tracks() {
    // Tempo 60 bpm (480 ticks = 1 s), running-status note on/off, two tracks.
    let mut a = smf(&[
        (0, vec![0xFF, 0x51, 3, 0x0F, 0x42, 0x40]),
        (480, vec![0x90, 60, 90]),
        (480, vec![64, 90]),
        (480, vec![60, 0]),
    ]);
    a[11] = 2; // two tracks
    let b = smf(&[(960, vec![0x91, 67, 80])]);
    a.extend(&b[14..]);
    let m = parse_midi(&a).unwrap();
    let times: Vec<(f64, u8, u8)> = m
        .events
        .iter()
        .map(|e| (e.seconds, e.status, e.data1))
        .collect();
    assert_eq!(
        times,
        vec![
            (1.0, 0x90, 60),
            (2.0, 0x90, 64),
            (2.0, 0x91, 67),
            (3.0, 0x90, 60)
        ]
    );
    assert_eq!(m.seconds, 3.0);
    // An empty file (no tracks) renders just the release tail, silent.
    let empty = b"MThd\0\0\0\x06\0\0\0\0\x01\xE0".to_vec();
    let frames = render_midi(&empty, &soundfont(), RATE, None).unwrap();
    assert_eq!(frames.len(), RATE as usize);
    assert!(frames.iter().flatten().all(|&v| v == 0.0));
}

#[test]
fn loud_renders_are_scaled_below_clipping() {
    // Fifty keys struck at full velocity at once clip the raw mix.
    let mut events: Vec<(u32, Vec<u8>)> = (40..90u8).map(|p| (0, vec![0x90, p, 127])).collect();
    events.push((480, vec![0xB0, 0x7B, 0]));
    let frames = render(&smf(&events), None);
    let peak = frames.iter().flatten().fold(0f32, |m, x| m.max(x.abs()));
    assert!((peak - 0.9).abs() < 1e-4, "peak {peak}");
}

#[test]
fn corrupted_soundfont_indices_never_panic() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    let me = std::thread::current().id();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == me {
            PANICS.fetch_add(1, Ordering::SeqCst);
        }
        hook(info);
    }));
    let good = soundfont();
    let pdta = good.windows(4).position(|w| w == b"pdta").unwrap();
    // Every zone-index field: (chunk, record size, field offset).
    let mut fields = Vec::new();
    for (id, rec, off) in [
        (b"phdr", 38, 24),
        (b"pbag", 4, 0),
        (b"inst", 22, 20),
        (b"ibag", 4, 0),
    ] {
        let at = pdta + good[pdta..].windows(4).position(|w| w == id).unwrap();
        let len = u32::from_le_bytes(good[at + 4..at + 8].try_into().unwrap()) as usize;
        fields.extend((0..len / rec).map(|i| at + 8 + i * rec + off));
    }
    let mut x = 7u64;
    for _ in 0..200 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let at = fields[(x >> 33) as usize % fields.len()];
        let mut bad = good.clone();
        // Mostly small shifts (plausible corruption), sometimes anything.
        let old = u16::from_le_bytes([bad[at], bad[at + 1]]);
        let new = if x & 1 == 0 {
            (x >> 17) as u16
        } else {
            old.wrapping_add((x >> 20) as u16 % 9).wrapping_sub(4)
        };
        bad[at..at + 2].copy_from_slice(&new.to_le_bytes());
        let _ = gruwave::music::render::load_soundfont(&bad);
    }
    let _ = std::panic::take_hook();
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "the SoundFont parser panicked"
    );
}
