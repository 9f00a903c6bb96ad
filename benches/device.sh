#!/usr/bin/env bash
# One-shot benchmark on a lent NVIDIA Linux machine without a Vulkan loader (see
# ../shared/gpu/README.md): gruwave's bench and PyTorch's on the same card, in one call.
# Needs .gl/ (loader .debs) and .devbench/ (release binary, torch_gru_bench.py) carried.
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
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv | tee "$OUT/gpu.txt"
date -u | tee -a "$OUT/gpu.txt"
echo "== gruwave =="
timeout 240 .devbench/gruwave bench --config "$CONFIGS" --profile --json "$OUT/gruwave_bench.json" 2>&1 | tee "$OUT/gruwave_bench.txt"
echo "== PyTorch =="
export PYTHONUNBUFFERED=1
timeout 200 python3 .devbench/torch_gru_bench.py --config "${TORCH_CONFIGS:-$CONFIGS}" --device cuda --cuda-graph \
  --repeat 1 --train-steps 10 --json "$OUT/torch_cuda.json" > "$OUT/torch.txt" 2>&1
grep -E "^(config|----|tiny|small|base|large)" "$OUT/torch.txt"
timeout 60 python3 .devbench/torch_gru_bench.py --config base --device cuda --bench train --tf32 off \
  --train-steps 10 --json "$OUT/torch_fp32.json" > "$OUT/torch_fp32.txt" 2>&1
grep -E "^(base)" "$OUT/torch_fp32.txt" | sed 's/^/tf32 off: /'
echo "== gruwave again (base, noise check) =="
timeout 60 .devbench/gruwave bench --config base 2>&1 | grep -E "^(base)"
