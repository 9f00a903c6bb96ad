#!/usr/bin/env bash
# The bundled chorale model's quality, in one command: bits per event on the validation
# chorales, and the music statistics of 16 pieces of 30 s against them, with the note
# rules (the default) and with --free sampling. Writes benches/results/chorale-quality/.
#
#   benches/chorale_quality.sh [MODEL] [VALID_DIR]
#
# MODEL defaults to assets/models/chorale.safetensors, VALID_DIR to the shared corpus's
# validation chorales (../shared/corpus/bach-midi/valid), or the bundled six.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-assets/models/chorale.safetensors}
valid=${2:-../shared/corpus/bach-midi/valid}
[ -d "$valid" ] || valid=assets/midi/valid
out=benches/results/chorale-quality
mkdir -p "$out"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
cargo build --release --quiet
bin=target/release/gruwave
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  echo "model: $model ($(sha256sum "$model" | cut -c1-16)); reference: $valid"
  "$bin" eval --model "$model" "$valid" 2>/dev/null
} | tee "$out/eval.txt"
for mode in rules free; do
  flags=()
  [ "$mode" = free ] && flags=(--free)
  mkdir -p "$tmp/$mode"
  "$bin" sample --model "$model" --streams 16 --seconds 30 --seed 1 --midi-only \
    --out "$tmp/$mode/piece.mid" "${flags[@]}" 2>/dev/null | tail -1 | tee "$out/sample-$mode.txt"
  "$bin" stats "$tmp/$mode" --reference "$valid" --json "$out/stats-$mode.json" \
    2>/dev/null | tee "$out/stats-$mode.txt"
done
# One piece of each kind to listen to and look at (the WAV re-rendered at 22.05 kHz mono to
# keep it small).
for mode in rules free; do
  flags=()
  [ "$mode" = free ] && flags=(--free)
  "$bin" sample --model "$model" --seconds 30 --seed 1 --out "$out/$mode.mid" "${flags[@]}" \
    2>/dev/null | tail -2 | head -1 | tee "$out/piece-$mode.txt"
  "$bin" render "$out/$mode.mid" "$out/$mode.wav" --rate 22050 --mono >/dev/null 2>&1
done
echo "wrote $out"
