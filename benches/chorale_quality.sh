#!/usr/bin/env bash
# The bundled chorale model's quality, in one command: bits per event on the validation
# chorales, and the music statistics of PIECES pieces of 30 s against them, with the note
# rules (the default) and with --free sampling, then the four goal statistics across
# temperatures. Writes benches/results/chorale-quality/.
#
#   PIECES=64 TEMPS="0.7 0.8 0.9 1.0" benches/chorale_quality.sh [MODEL] [VALID_DIR]
#
# MODEL defaults to assets/models/chorale.safetensors, VALID_DIR to the shared corpus's
# validation chorales (../shared/corpus/bach-midi/valid), or the bundled six.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-assets/models/chorale.safetensors}
valid=${2:-../shared/corpus/bach-midi/valid}
[ -d "$valid" ] || valid=assets/midi/valid
out=benches/results/chorale-quality
pieces=${PIECES:-64}
temps=${TEMPS:-0.7 0.8 0.9 1.0}
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
  "$bin" sample --model "$model" --streams "$pieces" --seconds 30 --seed 1 --midi-only \
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
# The goal statistics across temperatures, PIECES pieces per row. 64 by default: with 16,
# the pooled pitch-class distance moves by about 0.04 from seed to seed.
mkdir -p "$out/temperature"
table="$out/temperature.md"
{
  echo "model: $model ($(sha256sum "$model" | cut -c1-16)); $pieces pieces of 30 s per row, seed 1; reference: $valid"
  echo
  echo "| sampling | temperature | in-scale (>= 0.90) | polyphony (3.0 to 5.0) | notes >= 3.2 s (<= 5%) | pitch-class TV (<= 0.10) |"
  echo "| --- | --- | --- | --- | --- | --- |"
} >"$table"
for mode in rules free; do
  flags=()
  [ "$mode" = free ] && flags=(--free)
  for t in $temps; do
    dir="$tmp/$mode-$t"
    mkdir -p "$dir"
    "$bin" sample --model "$model" --streams "$pieces" --seconds 30 --seed 1 --midi-only \
      --temperature "$t" --out "$dir/piece.mid" "${flags[@]}" >/dev/null 2>&1
    json="$out/temperature/stats-$mode-$t.json"
    "$bin" stats "$dir" --reference "$valid" --json "$json" >/dev/null 2>&1
    python3 - "$json" "$mode" "$t" >>"$table" <<'EOF'
import json, sys
stats = {s["name"]: s for s in json.load(open(sys.argv[1]))["statistics"]}
def value(prefix):
    return next(v for k, v in stats.items() if k.startswith(prefix))
scale = value("in-scale")["generated"]
poly = value("mean polyphony")["generated"]
long = value("long-note")["generated"]
tv = value("pitch-class histogram")["distance"]
print(f"| {sys.argv[2]} | {sys.argv[3]} | {scale:.3f} | {poly:.2f} | {100 * long:.1f}% | {tv:.3f} |")
EOF
  done
done
cat "$table"
echo "wrote $out"
