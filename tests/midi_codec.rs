//! Tests of the perf388 MIDI codec against the fixtures of MIDI_TOKENS.md and the chorale corpus.

use gruwave::midi::{
    decode_tokens, encode_file, notes_to_tokens, read_notes, seconds, token_name, transpose,
    valid_shifts, write_midi, Note, START, VOCAB,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/midi")
}

/// The chorale corpus, `../shared/corpus/bach-midi/{split}` from the crate root; None if absent.
fn corpus(split: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/bach-midi")
        .join(split);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: corpus folder {} not found", dir.display());
        return None;
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "mid"))
        .collect();
    files.sort();
    Some(
        files
            .iter()
            .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
            .collect(),
    )
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// `[pitch, start, end, velocity]` rows, times divided by `unit` (10 for ms).
fn rows(v: &Value, unit: u64) -> Vec<Note> {
    let get = |r: &Value, i: usize| r[i].as_u64().unwrap();
    let row = |r: &Value| Note {
        pitch: get(r, 0) as u8,
        start: (get(r, 1) / unit) as u32,
        end: (get(r, 2) / unit) as u32,
        velocity: get(r, 3) as u8,
    };
    v.as_array().unwrap().iter().map(row).collect()
}

#[test]
fn fixture_files() {
    let mut n = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "mid") {
            continue;
        }
        let fx = json(&path.with_extension("json"));
        let (bytes, name) = (std::fs::read(&path).unwrap(), path.display().to_string());
        assert_eq!(
            read_notes(&bytes, &name).unwrap(),
            rows(&fx["midi_notes"], 1),
            "{name}: notes"
        );
        let tokens = encode_file(&bytes, &name).unwrap();
        assert_eq!(tokens, ids(&fx["tokens"]), "{name}: tokens");
        let text: Vec<String> = tokens.iter().map(|&t| token_name(t)).collect();
        assert_eq!(text.join(" "), fx["text"].as_str().unwrap(), "{name}: text");
        assert_eq!(
            decode_tokens(&tokens).unwrap(),
            rows(&fx["notes"], 10),
            "{name}: decoded"
        );
        assert_eq!(tokens.len() as u64, fx["num_tokens"].as_u64().unwrap());
        assert!((seconds(&tokens) - fx["seconds"].as_f64().unwrap()).abs() < 1e-9);
        n += 1;
    }
    assert_eq!(n, 12, "fixture .mid files");
}

#[test]
fn decode_cases() {
    let fx = json(&fixtures().join("decode_cases.json"));
    let cases = fx["cases"].as_array().unwrap();
    for case in cases {
        let notes = decode_tokens(&ids(&case["tokens"])).unwrap();
        assert_eq!(notes, rows(&case["notes"], 10), "{}", case["what"]);
    }
    assert_eq!(cases.len(), 8);
    assert!(decode_tokens(&[60, 388])
        .unwrap_err()
        .to_string()
        .contains("388"));
}

#[test]
fn vocabulary() {
    let names: Vec<String> = (0..VOCAB as u32).map(token_name).collect();
    assert_eq!(
        [&names[0], &names[127], &names[128], &names[255]],
        ["ON0", "ON127", "OFF0", "OFF127"]
    );
    assert_eq!(
        [&names[256], &names[355], &names[356], &names[387]],
        ["TS1", "TS100", "V1", "V32"]
    );
    assert_eq!(token_name(START), "TS100");
    let mut t = vec![60, 128 + 60, 300, 370, 3, 124 + 128];
    assert_eq!(valid_shifts(&t, 5), vec![-3, -2, -1, 0, 1, 2, 3]);
    assert_eq!(valid_shifts(&[300, 370], 2), vec![-2, -1, 0, 1, 2]);
    assert!(valid_shifts(&t, -1).is_empty());
    transpose(&mut t, -3);
    assert_eq!(t, vec![57, 128 + 57, 300, 370, 0, 121 + 128]);
    transpose(&mut t, 6);
    assert_eq!(t, vec![63, 128 + 63, 300, 370, 6, 127 + 128]);
}

/// D1-D5 then W1-W3 then R1-R8, T1-T4: every chorale reads back to the same notes (after W2's
/// same-pitch cuts); tokens come back equal when no same-pitch overlap or 5 s cap was involved,
/// and after one pass the cycle is a fixed point.
#[test]
fn round_trip_train_corpus() {
    let Some(files) = corpus("train") else { return };
    let mut exact = 0;
    for (name, bytes) in &files {
        let tokens = encode_file(bytes, name).unwrap();
        let notes = decode_tokens(&tokens).unwrap();
        let back = read_notes(&write_midi(&notes, 0), name).unwrap();
        let mut got: Vec<_> = back
            .iter()
            .map(|n| (n.start, n.pitch, n.end, n.velocity))
            .collect();
        got.sort_unstable();
        assert_eq!(got, cut_reference(&notes), "{name}: notes after write_midi");
        let tokens2 = notes_to_tokens(&back);
        let overlap = got.len() != notes.len() || notes.iter().any(|n| n.end - n.start == 500);
        if tokens2 == tokens {
            exact += 1;
        } else {
            assert!(
                overlap || has_same_pitch_overlap(&notes),
                "{name}: tokens differ without overlap"
            );
        }
        let again = encode_file(&write_midi(&decode_tokens(&tokens2).unwrap(), 0), name).unwrap();
        assert_eq!(again, tokens2, "{name}: second pass is not a fixed point");
    }
    eprintln!(
        "round trip: {} files, {exact} with identical tokens",
        files.len()
    );
    assert_eq!(files.len(), 315);
}

fn has_same_pitch_overlap(notes: &[Note]) -> bool {
    let mut v = notes.to_vec();
    v.sort_unstable_by_key(|n| (n.pitch, n.start));
    v.windows(2)
        .any(|w| w[0].pitch == w[1].pitch && w[0].end > w[1].start)
}

/// W2 written independently: per pitch, a note is cut at the next start of its pitch.
fn cut_reference(notes: &[Note]) -> Vec<(u32, u8, u32, u8)> {
    let mut v = notes.to_vec();
    v.sort_unstable_by_key(|n| (n.pitch, n.start, n.end, n.velocity));
    let mut out = Vec::new();
    for (i, n) in v.iter().enumerate() {
        let next = v[i + 1..]
            .iter()
            .find(|m| m.pitch == n.pitch && m.start >= n.start && !std::ptr::eq(*m, n));
        let end = next.map_or(n.end, |m| n.end.min(m.start));
        if end > n.start {
            out.push((n.start, n.pitch, end, n.velocity));
        }
    }
    out.sort_unstable();
    out
}

/// Small deterministic generator (xorshift) for random notes.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn write_midi_always_reads_back() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cases: Vec<Vec<Note>> = Vec::new();
    for _ in 0..200 {
        let len = rng.next(60) as usize;
        let notes = (0..len)
            .map(|_| {
                let start = rng.next(3000) as u32;
                let end = start + rng.next(700) as u32; // zero-length ones too
                Note {
                    pitch: rng.next(128) as u8,
                    start,
                    end,
                    velocity: rng.next(256) as u8,
                }
            })
            .collect();
        cases.push(notes);
    }
    let n = |pitch, start, end, velocity| Note {
        pitch,
        start,
        end,
        velocity,
    };
    cases.push(vec![n(60, 5, 5, 80)]); // zero-length only
    cases.push(vec![
        n(60, 0, 100, 80),
        n(60, 50, 200, 90),
        n(60, 50, 60, 0),
    ]); // overlaps, velocity 0
    cases.push(vec![n(127, 0, 1, 127), n(0, 0, 1, 1), n(200, 0, 5, 64)]); // extremes, pitch > 127
    cases.push(vec![n(64, 8_000_000, 8_640_000, 100), n(64, 0, 1, 1)]); // 23.9 h gap: 2 split deltas
    cases.push(vec![]);
    for notes in &cases {
        let bytes = write_midi(notes, 200);
        let expect = cut_reference(
            &notes
                .iter()
                .filter(|n| n.pitch < 128)
                .copied()
                .collect::<Vec<_>>(),
        );
        match read_notes(&bytes, "written") {
            Ok(back) => {
                let mut got: Vec<_> = back
                    .iter()
                    .map(|n| (n.start, n.pitch, n.end, n.velocity.max(1)))
                    .collect();
                got.sort_unstable();
                let expect: Vec<_> = expect
                    .iter()
                    .map(|x| (x.0, x.1, x.2, x.3.clamp(1, 127)))
                    .collect();
                assert_eq!(got, expect);
            }
            Err(e) => {
                assert!(expect.is_empty(), "{e}");
                assert!(e.to_string().contains("no notes"), "{e}");
            }
        }
    }
    // Beyond 24 hours: still a valid file (deltas split), refused on reading.
    let bytes = write_midi(&[n(60, u32::MAX - 10, u32::MAX, 100)], 0);
    let err = read_notes(&bytes, "far.mid").unwrap_err().to_string();
    assert!(err.contains("far.mid") && err.contains("24 hours"), "{err}");
}

/// A standard MIDI file from raw track bodies (events with deltas, no end_of_track needed).
fn smf(format: u16, division: u16, tracks: &[&[u8]]) -> Vec<u8> {
    let mut out = b"MThd\0\0\0\x06".to_vec();
    for v in [format, tracks.len() as u16, division] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for t in tracks {
        out.extend_from_slice(b"MTrk");
        out.extend_from_slice(&(t.len() as u32).to_be_bytes());
        out.extend_from_slice(t);
    }
    out
}

const NOTE: &[u8] = &[0x00, 0x90, 60, 80, 0x83, 0x60, 0x80, 60, 0]; // 480 ticks

fn err(bytes: &[u8]) -> String {
    let e = read_notes(bytes, "bad.mid").expect_err("should fail");
    let s = e.to_string();
    assert!(s.contains("bad.mid"), "{s}");
    assert!(encode_file(bytes, "bad.mid").is_err());
    s
}

#[test]
fn bad_inputs() {
    assert!(read_notes(&smf(0, 480, &[NOTE]), "ok.mid").is_ok());
    assert_eq!(
        read_notes(&smf(2, 480, &[NOTE, NOTE]), "fmt2.mid")
            .unwrap()
            .len(),
        2
    ); // format 2 as 1
    assert!(err(b"").contains("not a standard MIDI file"));
    assert!(err(b"RIFF1234garbage garbage").contains("not a standard MIDI file"));
    let good = smf(1, 480, &[NOTE]);
    for cut in [10, 16, good.len() - 1] {
        let e = err(&good[..cut]);
        assert!(e.contains("truncated") || e.contains("corrupt"), "{e}");
    }
    assert!(err(&smf(1, 480, &[&[0x00, 0x40, 0x40]])).contains("corrupt event")); // no running status
    assert!(err(&smf(1, 480, &[&[0x00, 0xF2, 0, 0]])).contains("corrupt event"));
    assert!(err(&smf(1, 0xE728, &[NOTE])).contains("SMPTE"));
    assert!(err(&smf(1, 0, &[NOTE])).contains("0 ticks"));
    assert!(err(&smf(3, 480, &[NOTE])).contains("format 3"));
    let mut header_only = smf(1, 480, &[NOTE]);
    header_only[11] = 3; // declares 3 tracks, has 1
    assert!(err(&header_only).contains("truncated"));
    assert!(err(&smf(1, 480, &[&[0x00, 0xFF, 0x51, 0x03, 7, 0xA1, 0x20]])).contains("no notes"));
    assert!(err(&smf(1, 480, &[&[0x00, 0x90, 60, 80, 0x00, 0x80, 60, 0]])).contains("no notes")); // zero length
    let drums: &[u8] = &[0x00, 0x99, 36, 100, 0x83, 0x60, 0x89, 36, 0];
    assert!(err(&smf(1, 480, &[drums])).contains("drum-only"));
    let tempo0: &[u8] = &[
        0x00, 0xFF, 0x51, 0x03, 0, 0, 0, 0x00, 0x90, 60, 80, 0x10, 0x80, 60, 0,
    ];
    assert!(err(&smf(1, 480, &[tempo0])).contains("set_tempo of 0"));
    // ppq 1, tempo 2^24 - 1 (16.7 s per tick), note 2^28 - 1 ticks long: ~142 years.
    let long: &[u8] = &[
        0x00, 0xFF, 0x51, 0x03, 0xFF, 0xFF, 0xFF, 0x00, 0x90, 60, 80, 0xFF, 0xFF, 0xFF, 0x7F, 0x80,
        60, 0,
    ];
    assert!(err(&smf(1, 1, &[long])).contains("24 hours"));
    let mut huge_len = smf(1, 480, &[NOTE]);
    huge_len[18..22].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(err(&huge_len).contains("truncated"));
}

fn count(split: &str) -> Option<(usize, usize)> {
    let files = corpus(split)?;
    let tokens: usize = files
        .iter()
        .map(|(name, b)| encode_file(b, name).unwrap().len())
        .sum();
    Some((files.len(), tokens))
}

#[test]
fn corpus_token_counts() {
    if let Some(c) = count("train") {
        assert_eq!(c, (315, 276_921));
    }
    if let Some(c) = count("valid") {
        assert_eq!(c, (42, 40_996));
    }
}

/// Random byte changes and every truncation of a real file: an error or notes, never a panic.
#[test]
fn mutated_files_never_panic() {
    let good = std::fs::read(fixtures().join("bwv324.mid")).unwrap();
    for cut in 0..good.len() {
        let _ = encode_file(&good[..cut], "cut.mid");
    }
    let mut rng = Rng(12345);
    for _ in 0..3000 {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.next(8) {
            let i = rng.next(bytes.len() as u64) as usize;
            bytes[i] = rng.next(256) as u8;
        }
        if let Err(e) = encode_file(&bytes, "mutated.mid") {
            assert!(e.to_string().starts_with("MIDI file mutated.mid: "), "{e}");
        }
    }
}
