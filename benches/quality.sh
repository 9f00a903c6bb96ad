#!/usr/bin/env bash
# GRU against SampleRNN for the same training time, in one command: trains each config on
# the piano chorales for MINUTES, then reports each model's validation bits per sample
# against training time (one table, one plot: `gruwave plot-compare`), and writes a 4 s
# spectrogram of each model's sample beside one of a real clip.
#
#   benches/quality.sh [MINUTES] [CONFIGS] [CORPUS]
#
# MINUTES (or $MINUTES): training minutes per model [default: 20]; CONFIGS (or $CONFIGS):
# comma-separated `gruwave train --config` names [default: base,srnn-small]; CORPUS (or
# $CORPUS): a folder with train/ and valid/ WAVs [default: ../shared/corpus/bach-piano].
# Also $VALID_EVERY (steps between validations, default 200), $OUT (results folder, default
# benches/results/quality), $BIN (a built gruwave; default: build --release), $SECONDS_OUT
# (seconds of each sample and of the real clip, default 4), $VALID_FILES (validate on only
# the first N validation files: validation is slow on a software adapter).
# Small scale on a software adapter (lavapipe):
#   BIN=target/debug/gruwave VALID_EVERY=20 VALID_FILES=1 benches/quality.sh 3 tiny,srnn-tiny
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-${MINUTES:-20}}
configs=${2:-${CONFIGS:-base,srnn-small}}
corpus=${3:-${CORPUS:-../shared/corpus/bach-piano}}
every=${VALID_EVERY:-200}
secs=${SECONDS_OUT:-4}
out=${OUT:-benches/results/quality}
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=target/release/gruwave
fi
shopt -s nullglob
train=("$corpus"/train/*.wav)
valid=()
for f in $(ls "$corpus"/valid/*.wav | head -n "${VALID_FILES:-1000}"); do valid+=(--valid "$f"); done
[ ${#train[@]} -gt 0 ] || { echo "no WAVs in $corpus/train" >&2; exit 1; }
[ ${#valid[@]} -gt 0 ] || { echo "no WAVs in $corpus/valid" >&2; exit 1; }
mkdir -p "$out"
IFS=, read -r -a names <<< "$configs"
metrics=()
{
  echo "corpus: $corpus (${#train[@]} training files, $(( ${#valid[@]} / 2 )) validation files)"
  echo "training minutes per model: $minutes; validation every $every steps"
  "$BIN" devices 2>/dev/null | grep -i "would use" || true
} | tee "$out/setup.txt"
for c in "${names[@]}"; do
  run="$out/run-$c"
  echo "== train $c for $minutes min =="
  "$BIN" train "${train[@]}" "${valid[@]}" --config "$c" --out "$run" --force \
    --minutes "$minutes" --valid-every "$every" --sample-seconds 0 2>&1 | tail -4 | tee "$out/train-$c.txt"
  metrics+=("$run/metrics.csv")
  "$BIN" sample --model "$run/model.safetensors" --seconds "$secs" --seed 1 \
    --out "$out/sample-$c.wav" 2>/dev/null | tail -1
  "$BIN" spectrogram "$out/sample-$c.wav" "$out/sample-$c.png" --title "$c after $minutes min, ${secs} s sample" >/dev/null
done
real=$(ls "$corpus"/valid/*.wav | head -1)
"$BIN" spectrogram "$real" "$out/real.png" --seconds "$secs" --title "real: $(basename "$real"), first ${secs} s" >/dev/null
echo "== validation bits per sample against training time =="
"$BIN" plot-compare "${metrics[@]}" --label "$configs" --out "$out/compare.png" \
  --title "validation bits/sample, $minutes min each on $(basename "$corpus")" | tee "$out/compare.txt"
echo "spectrograms: $out/real.png $(for c in "${names[@]}"; do printf '%s ' "$out/sample-$c.png"; done)"
