//! The piano roll writes a PNG for a few notes and for none.

use gruwave::midi::Note;
use gruwave::music::pianoroll::{note_name, piano_roll_png};

fn png_size(path: &std::path::Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    bytes.len() as u64
}

#[test]
fn writes_png_for_notes_and_for_none() {
    let dir = tempfile::tempdir().unwrap();
    let notes: Vec<Note> = [
        (60, 0, 50, 40),
        (64, 50, 100, 80),
        (67, 100, 250, 127),
        (48, 0, 250, 60),
    ]
    .iter()
    .map(|&(pitch, start, end, velocity)| Note {
        pitch,
        start,
        end,
        velocity,
    })
    .collect();
    let some = dir.path().join("some.png");
    piano_roll_png(&notes, "four notes", &some).unwrap();
    let none = dir.path().join("none.png");
    piano_roll_png(&[], "nothing", &none).unwrap();
    assert!(png_size(&some) > 1000);
    assert!(png_size(&none) > 1000);
    if let Ok(out) = std::env::var("MUSIC_TEST_OUT") {
        std::fs::copy(&some, format!("{out}/some.png")).unwrap();
        std::fs::copy(&none, format!("{out}/none.png")).unwrap();
    }
}

#[test]
fn dense_piece_renders() {
    // A deterministic pseudo-random 40 s piece over three octaves.
    let mut x = 12345u32;
    let mut next = move |m: u32| {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (x >> 16) % m
    };
    let notes: Vec<Note> = (0..300)
        .map(|i| {
            let start = i * 13 + next(5);
            let pitch = 45 + next(36) as u8;
            Note {
                pitch,
                start,
                end: start + 5 + next(120),
                velocity: 20 + next(107) as u8,
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dense.png");
    piano_roll_png(&notes, "dense", &path).unwrap();
    assert!(png_size(&path) > 1000);
    if let Ok(out) = std::env::var("MUSIC_TEST_OUT") {
        std::fs::copy(&path, format!("{out}/dense.png")).unwrap();
    }
}

#[test]
fn names_pitches_in_scientific_notation() {
    assert_eq!(note_name(60), "C4");
    assert_eq!(note_name(69), "A4");
    assert_eq!(note_name(21), "A0");
    assert_eq!(note_name(0), "C-1");
    assert_eq!(note_name(61), "C#4");
}
