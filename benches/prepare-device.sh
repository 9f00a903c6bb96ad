#!/usr/bin/env bash
# Prepares what benches/device.sh needs on a lent GPU machine, in ignored folders that the
# device tool carries (`carry: [".gl", ".devbench"]`): the Vulkan loader .debs (.gl/), the
# release binary, the GPU test binaries and PyTorch's bench script (.devbench/).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "$(ls .gl/*.deb 2>/dev/null)" ] || ../shared/gpu/fetch-vulkan-debs.sh .gl
mkdir -p .devbench/tests
cargo build --release --locked
cp target/release/gruwave .devbench/
cp ../shared/bench/torch_gru_bench.py .devbench/
# Test binaries that need only a GPU (the CLI tests need the whole target folder).
rm -f .devbench/tests/*
cargo test --release --locked --no-run --message-format=json 2>/dev/null |
  python3 -c '
import json, sys, shutil
keep = {"gpu_vs_reference", "kernels", "sampler", "engine_fixtures", "learning",
        "trainer_stats", "resume"}
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["kind"] == ["test"] and m["target"]["name"] in keep:
        shutil.copy(m["executable"], ".devbench/tests/" + m["target"]["name"])
'
# The carry limit is 64 MiB; symbols are most of the size.
strip .devbench/gruwave .devbench/tests/*
# The tests find tests/fixtures under the folder they were built in.
pwd > .devbench/built_in
ls -la .devbench .devbench/tests
du -sh .gl .devbench
