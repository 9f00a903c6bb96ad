//! Hand-computed cases for the Yang & Lerch style music statistics.

use gruwave::midi::Note;
use gruwave::music::stats::{compare, kde_overlap, piece_stats, summary, Stats, Values};

fn note(pitch: u8, start: u32, end: u32) -> Note {
    Note {
        pitch,
        start,
        end,
        velocity: 80,
    }
}

/// C major scale C4..C5, quarter notes of 0.5 s back to back.
fn c_major_scale() -> Vec<Note> {
    [60, 62, 64, 65, 67, 69, 71, 72]
        .iter()
        .enumerate()
        .map(|(i, &p)| note(p, 50 * i as u32, 50 * (i as u32 + 1)))
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn c_major_scale_is_fully_in_scale_over_seven_classes() {
    let s = piece_stats(&c_major_scale());
    assert_eq!(s.notes, 8);
    assert_eq!(s.in_scale_notes, 8);
    assert_eq!(s.pitch_class_counts, [2, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]);
    assert_eq!(s.pitch_class_counts.iter().filter(|&&c| c > 0).count(), 7);
    assert_eq!(s.pitch_range, Some(12.0));
    // 8 notes over 4 s; one note at a time.
    assert!(close(s.notes_per_second.unwrap(), 2.0));
    assert!(close(s.polyphony.unwrap(), 1.0));
    // Seven gaps of 0.5 s fall in the 0.4-0.8 bin, as do the eight lengths.
    assert_eq!(s.ioi_counts[4], 7);
    assert_eq!(s.length_counts[4], 8);
    assert_eq!(s.long_notes, 0);
    let (in_scale, nps) = summary(&c_major_scale());
    assert!(close(in_scale, 1.0) && close(nps, 2.0));
}

#[test]
fn chromatic_notes_fall_out_of_every_key() {
    // All 12 pitch classes once: the best key holds 7 of them.
    let chromatic: Vec<Note> = (0..12)
        .map(|i| note(60 + i, 10 * i as u32, 10 * i as u32 + 10))
        .collect();
    let (in_scale, _) = summary(&chromatic);
    assert!(close(in_scale, 7.0 / 12.0));
    // A C E G# (A harmonic minor): no major or natural-minor scale holds all four.
    let s = piece_stats(&[
        note(57, 0, 10),
        note(60, 0, 10),
        note(64, 0, 10),
        note(68, 0, 10),
    ]);
    assert_eq!(s.in_scale_notes, 3);
}

#[test]
fn chord_held_one_second_has_polyphony_three() {
    let chord = vec![note(60, 100, 200), note(64, 100, 200), note(67, 100, 200)];
    let s = piece_stats(&chord);
    assert!(close(s.polyphony.unwrap(), 3.0));
    // A rest between two chords does not dilute the average.
    let mut two = chord.clone();
    two.extend([note(62, 500, 600), note(65, 500, 600), note(69, 500, 600)]);
    assert!(close(piece_stats(&two).polyphony.unwrap(), 3.0));
    // One chord onset: no inter-onset intervals.
    assert_eq!(s.ioi_counts.iter().sum::<u64>(), 0);
}

#[test]
fn overlapping_notes_average_by_time() {
    // 0-1 s one note, 1-2 s two notes, back-to-back note 2-3 s: (1 + 2 + 1) / 3.
    let s = piece_stats(&[note(60, 0, 200), note(64, 100, 200), note(67, 200, 300)]);
    assert!(close(s.polyphony.unwrap(), 4.0 / 3.0));
}

#[test]
fn long_notes_are_counted_from_three_point_two_seconds() {
    let s = piece_stats(&[note(60, 0, 320), note(62, 0, 319), note(64, 0, 1000)]);
    assert_eq!(s.long_notes, 2);
    assert_eq!(s.length_counts[7], 2);
    assert_eq!(s.length_counts[6], 1);
}

#[test]
fn identical_sets_have_zero_distance() {
    let set = vec![
        c_major_scale(),
        vec![note(60, 100, 200), note(64, 100, 200), note(67, 100, 200)],
        vec![
            note(50, 0, 30),
            note(53, 40, 90),
            note(57, 95, 400),
            note(58, 100, 120),
        ],
    ];
    let c = compare(&set, &set);
    for row in &c.rows {
        let d = row
            .distance
            .unwrap_or_else(|| panic!("{} has no distance", row.name));
        assert!(d.abs() < 1e-9, "{}: {d}", row.name);
    }
    assert_eq!(kde_overlap(&[1.0, 2.0, 4.0], &[1.0, 2.0, 4.0]), Some(1.0));
}

#[test]
fn different_sets_have_positive_distances() {
    let a = vec![c_major_scale(), c_major_scale()];
    let b = vec![vec![note(61, 0, 400), note(66, 0, 400), note(70, 0, 400)]; 2];
    let c = compare(&a, &b);
    let pc = &c.rows[0];
    assert!(pc.distance.unwrap() > 0.5, "pitch classes barely overlap");
    let poly = c.rows.iter().find(|r| r.name == "mean polyphony").unwrap();
    assert!(
        poly.distance.unwrap() > 0.9,
        "polyphony 1 vs 3: {:?}",
        poly.distance
    );
    // The overlap of far-apart single values is (almost) nothing.
    assert!(kde_overlap(&[0.0], &[100.0]).unwrap() < 1e-6);
}

#[test]
fn empty_inputs_do_not_panic_and_print_na() {
    let empty: Vec<Vec<Note>> = vec![];
    let empties = vec![vec![], vec![]];
    for (g, r) in [
        (&empty, &empty),
        (&empties, &empty),
        (&vec![c_major_scale()], &empties),
    ] {
        let c = compare(g, r);
        let table = c.table();
        assert!(table.contains("n/a"), "{table}");
        assert!(!table.contains("NaN") && !table.contains("inf"), "{table}");
        let json = c.to_json().to_string();
        assert!(!json.contains("NaN"), "{json}");
        assert!(c.rows.iter().all(|r| r.distance.is_none()));
    }
    assert_eq!(summary(&[]), (0.0, 0.0));
    let s = piece_stats(&[]);
    assert_eq!(
        (s.pitch_range, s.notes_per_second, s.polyphony),
        (None, None, None)
    );
    // A zero-length note: pitch statistics but no sounding time.
    let s = piece_stats(&[note(60, 10, 10)]);
    assert_eq!(
        (s.pitch_range, s.notes_per_second, s.polyphony),
        (Some(0.0), None, None)
    );
    assert_eq!(Stats::new(&[vec![note(60, 10, 10)]]).in_scale(), Some(1.0));
}

#[test]
fn table_and_json_carry_every_statistic() {
    let c = compare(
        &[c_major_scale()],
        &[c_major_scale(), vec![note(40, 0, 500)]],
    );
    let table = c.table();
    println!("{table}");
    for row in &c.rows {
        assert!(table.contains(row.name), "{} missing", row.name);
    }
    let widths: Vec<usize> = table.lines().map(|l| l.find('|').unwrap_or(0)).collect();
    assert!(
        widths.iter().filter(|&&w| w > 0).all(|&w| w == widths[0]),
        "aligned columns"
    );
    let json = c.to_json();
    assert_eq!(json["statistics"].as_array().unwrap().len(), c.rows.len());
    assert_eq!(json["reference"]["pieces"], 2);
    let Values::Histogram { generated, .. } = &c.rows[0].values else {
        panic!("first row is the pitch-class histogram")
    };
    assert!(close(generated.as_ref().unwrap().iter().sum::<f64>(), 1.0));
}
