#!/usr/bin/env bash
# One-shot benchmark on a lent NVIDIA Linux machine without a Vulkan loader (see
# ../shared/gpu/README.md): gruwave's bench and PyTorch's on the same card in one call, then
# a short real training run of `base` on the bundled clips and a generated sample.
# Needs .gl/ (loader .debs) and .devbench/ carried: benches/prepare-device.sh makes both.
# Environment: CONFIGS, SRNN_CONFIGS, TORCH_CONFIGS, WHAT (train,sample); TESTS=1 first runs the GPU
# tests; AB_SUBGROUPS=1 adds a `base` bench with the tree reductions (GRUWAVE_SUBGROUPS=0);
# TRAIN_MINUTES=N ends with a real training run.
set -u
OUT=${OUT:-/tmp/gruwave-bench}
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
export WGPU_BACKEND=vulkan
CONFIGS=${CONFIGS:-tiny,small,base,large}
BIN=.devbench/gruwave
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv | tee "$OUT/gpu.txt"
date -u | tee -a "$OUT/gpu.txt"
if [ -n "${TESTS:-}" ]; then
  echo "== GPU tests =="
  # The test binaries find tests/fixtures through the path they were built in.
  BUILT_IN=$(cat .devbench/built_in)
  if [ -n "$BUILT_IN" ] && [ ! -e "$BUILT_IN" ]; then mkdir -p "$(dirname "$BUILT_IN")"; ln -s "$PWD" "$BUILT_IN"; fi
  for t in .devbench/tests/*; do
    log="$OUT/test_$(basename "$t").txt"
    timeout 120 "$t" -q > "$log" 2>&1
    rc=$?
    echo "$(basename "$t"): rc=$rc $(grep -E '^test result' "$log")"
  done
fi
echo "== gruwave =="
timeout 240 $BIN bench --config "$CONFIGS" --what "${WHAT:-train,sample}" --profile --json "$OUT/gruwave_bench.json" > "$OUT/gruwave_bench.txt" 2>&1
grep -E "^(adapter|features|config|tiny|small|base|large)" "$OUT/gruwave_bench.txt"
if [ -n "${AB_SUBGROUPS:-}" ]; then
  echo "== gruwave base, tree reductions (GRUWAVE_SUBGROUPS=0) =="
  GRUWAVE_SUBGROUPS=0 timeout 120 $BIN bench --config base --what "${WHAT:-train,sample}" --profile \
    > "$OUT/gruwave_bench_nosubgroups.txt" 2>&1
  grep -E "^(features|base)" "$OUT/gruwave_bench_nosubgroups.txt"
fi
echo "== gruwave SampleRNN =="
timeout 300 $BIN bench --arch samplernn --config "${SRNN_CONFIGS:-srnn-tiny,srnn-small,srnn-base}" \
  --what "${WHAT:-train,sample}" --profile --json "$OUT/gruwave_bench_srnn.json" > "$OUT/gruwave_bench_srnn.txt" 2>&1
grep -E "^(config|srnn)" "$OUT/gruwave_bench_srnn.txt"
echo "== gruwave MIDI (event) models =="
timeout 200 $BIN bench --config midi-small,midi-base --what "${WHAT:-train,sample}" \
  --json "$OUT/gruwave_bench_midi.json" > "$OUT/gruwave_bench_midi.txt" 2>&1
grep -E "^(config|midi)" "$OUT/gruwave_bench_midi.txt"
timeout 60 $BIN sample --seconds 60 --streams 64 --midi-only --out /tmp/midi.mid 2>&1 | tail -1
echo "== PyTorch =="
export PYTHONUNBUFFERED=1
timeout 200 python3 .devbench/torch_gru_bench.py --config "${TORCH_CONFIGS:-$CONFIGS}" --bench "${WHAT:-train,sample}" --device cuda --cuda-graph \
  --repeat 1 --train-steps 10 --json "$OUT/torch_cuda.json" > "$OUT/torch.txt" 2>&1
timeout 60 python3 .devbench/torch_gru_bench.py --config base --device cuda --bench train --tf32 off \
  --train-steps 10 >> "$OUT/torch.txt" 2>&1
grep -E "^(tiny|small|base|large)" "$OUT/torch.txt"
if [ -n "${TRAIN_MINUTES:-}" ]; then
  echo "== gruwave train base, $TRAIN_MINUTES min on the bundled clips =="
  timeout 300 $BIN train --config base --minutes "$TRAIN_MINUTES" --valid-every 0 --sample-seconds 4 \
    --out /tmp/run-base > "$OUT/train_base.log" 2>&1
  tail -12 "$OUT/train_base.log"
  cp /tmp/run-base/training.png "$OUT/" 2>/dev/null
  timeout 60 $BIN sample --model /tmp/run-base/model.safetensors --seconds 5 --streams 64 --out /tmp/s.wav 2>&1 | tail -2
  timeout 60 $BIN sample --model /tmp/run-base/model.safetensors --seconds 10 --out "$OUT/sample.wav" 2>&1 | tail -2
fi
