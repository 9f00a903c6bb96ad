//! Standard MIDI File layer (R1, R5): checks the chunk structure itself, so that truncated or
//! corrupt files are errors (midly without its `strict` feature would silently cut them), and
//! turns each track into the few events the codec uses.

use anyhow::{bail, Result};
use midly::{EventIter, MetaMessage, MidiMessage, TrackEventKind};

/// MIDI channel 10 counted from 0: dropped entirely (R5).
const DRUM_CHANNEL: u8 = 9;
const SUSTAIN_CC: u8 = 64;

/// The events R2-R7 need; everything else (program change, pitch bend, other controllers,
/// sysex, other metas) is ignored (R5).
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    Tempo(u32),
    On { ch: u8, key: u8, vel: u8 },
    Off { ch: u8, key: u8 },
    Pedal { ch: u8, down: bool },
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Ev {
    /// Absolute tick in the track.
    pub tick: u64,
    pub kind: Kind,
}

pub(super) struct Smf {
    /// Metrical division, ticks per quarter (1..=0x7FFF).
    pub ppq: u64,
    pub tracks: Vec<Vec<Ev>>,
    /// Note-ons dropped on channel 10, to tell a drum-only file from an empty one.
    pub drum_notes: usize,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// R1: header checks, then the declared number of `MTrk` chunks (unknown chunks skipped, bytes
/// after the last declared track ignored). Format 2 is read like format 1, as the spec says.
pub(super) fn parse(bytes: &[u8]) -> Result<Smf> {
    if !bytes.starts_with(b"MThd") {
        bail!("not a standard MIDI file (no MThd header)");
    }
    if bytes.len() < 14 {
        bail!("truncated MIDI header ({} bytes)", bytes.len());
    }
    let head_len = be32(bytes, 4);
    if head_len < 6 || head_len > bytes.len() - 8 {
        bail!("corrupt MIDI header (length {head_len})");
    }
    let (format, ntrks, division) = (be16(bytes, 8), be16(bytes, 10), be16(bytes, 12));
    if format > 2 {
        bail!("unknown SMF format {format}");
    }
    if division & 0x8000 != 0 {
        bail!("SMPTE time division is not supported (R1: metrical ppq only)");
    }
    if division == 0 {
        bail!("time division of 0 ticks per quarter");
    }
    if ntrks == 0 {
        bail!("the header declares no tracks");
    }
    let mut tracks = Vec::with_capacity(ntrks.into());
    let (mut pos, mut drum_notes) = (8 + head_len, 0);
    while tracks.len() < ntrks as usize {
        let left = bytes.len() - pos;
        if left < 8 {
            bail!("truncated: {ntrks} tracks declared, {} found", tracks.len());
        }
        let len = be32(bytes, pos + 4);
        if len > left - 8 {
            bail!(
                "truncated: a chunk declares {len} bytes, {} remain",
                left - 8
            );
        }
        let body = &bytes[pos + 8..pos + 8 + len];
        if &bytes[pos..pos + 4] == b"MTrk" {
            let (events, drums) = parse_track(body, tracks.len())?;
            tracks.push(events);
            drum_notes += drums;
        }
        pos += 8 + len;
    }
    let ppq = u64::from(division);
    Ok(Smf {
        ppq,
        tracks,
        drum_notes,
    })
}

/// One track's events with absolute ticks; drum-channel events dropped (R5) and counted.
fn parse_track(raw: &[u8], index: usize) -> Result<(Vec<Ev>, usize)> {
    let mut it = EventIter::new(raw);
    let (mut events, mut tick, mut drums) = (Vec::new(), 0u64, 0);
    loop {
        let left = it.unread().len();
        let ev = match it.next() {
            Some(Ok(ev)) => ev,
            None if left == 0 => break,
            // midly ends the iteration early (None) on a bad event unless `strict` is on.
            _ => bail!(
                "corrupt event in track {} at byte {}",
                index + 1,
                raw.len() - left
            ),
        };
        // At most 2^28 ticks per event and fewer events than bytes: u64 cannot overflow.
        tick += u64::from(ev.delta.as_int());
        let kind = match ev.kind {
            TrackEventKind::Meta(MetaMessage::Tempo(t)) => Kind::Tempo(t.as_int()),
            TrackEventKind::Midi { channel, message } if channel.as_int() == DRUM_CHANNEL => {
                drums += matches!(message, MidiMessage::NoteOn { vel, .. } if vel > 0) as usize;
                continue;
            }
            TrackEventKind::Midi { channel, message } => match midi_kind(channel.as_int(), message)
            {
                Some(kind) => kind,
                None => continue,
            },
            _ => continue,
        };
        events.push(Ev { tick, kind });
    }
    Ok((events, drums))
}

/// Note-on velocity 0 is a note-off (R1); CC64 >= 64 is pedal down (R7).
fn midi_kind(ch: u8, message: MidiMessage) -> Option<Kind> {
    Some(match message {
        MidiMessage::NoteOn { key, vel } if vel > 0 => Kind::On {
            ch,
            key: key.as_int(),
            vel: vel.as_int(),
        },
        MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => Kind::Off {
            ch,
            key: key.as_int(),
        },
        MidiMessage::Controller { controller, value } if controller == SUSTAIN_CC => Kind::Pedal {
            ch,
            down: value >= 64,
        },
        _ => return None,
    })
}
