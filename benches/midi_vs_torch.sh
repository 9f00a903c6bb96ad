#!/usr/bin/env bash
# gruwave against PyTorch on midi-small (E 64, H 256, L 1, B 32, T 128, Adam 2e-3, clip 1),
# from the same initial weights, for STEPS steps: validation bits per event every 100 steps,
# side by side. TRANSPOSE=5 (default) or 0.
#
#   STEPS=800 TRANSPOSE=5 benches/midi_vs_torch.sh [OUT_DIR]
#
# PyTorch on the CPU: Debian's python3-torch (torch 1.13) with OpenBLAS, see the docstring of
# benches/midi_torch.py. gruwave on whatever adapter it finds. On lavapipe (2 cores) a
# gruwave step takes about 12 s and a PyTorch step about 2 s.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${STEPS:-800}
transpose=${TRANSPOSE:-5}
out=${1:-midi-vs-torch}
corpus=${CORPUS:-../shared/corpus/bach-midi}
py=${PYTHON:-/usr/bin/python3}
mkdir -p "$out"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
cargo build --release --quiet
init="$out/init_seed0.safetensors"
[ -f "$init" ] || "$py" benches/midi_torch.py --train "$corpus/train" --valid "$corpus/valid" \
  --write-init "$init" --seed 0
"$py" benches/midi_torch.py --train "$corpus/train" --valid "$corpus/valid" --init "$init" \
  --seed 0 --steps "$steps" --eval-every 100 --transpose "$transpose" \
  --csv "$out/torch_t$transpose.csv" | tee "$out/torch_t$transpose.log"
target/release/gruwave train "$corpus/train" --valid "$corpus/valid" --config midi-small \
  --init "$init" --transpose "$transpose" --steps "$steps" --valid-every 100 \
  --checkpoint-every 100 --out "$out/gruwave_t$transpose" --force
echo "step  torch  gruwave  (valid bits/event)"
join -t, <(tail -n +2 "$out/torch_t$transpose.csv" | cut -d, -f1,3 | sort -t, -k1,1) \
  <(awk -F, 'NR > 1 && $3 != "" {print $1 "," $3}' "$out/gruwave_t$transpose/metrics.csv" | sort -t, -k1,1) |
  sort -n | awk -F, '{printf "%5d  %.4f  %.4f  %+.2f%%\n", $1, $2, $3, 100 * ($3 - $2) / $2}'
