#!/usr/bin/env bash
# On this (networked) machine: put what benchmarks/gpu_check.sh needs on a GPU machine
# (no network, 64 MiB per command) into the ignored .gpu/ folder:
#   .gpu/llama_cpp_python-X.Y.Z/   the trimmed sdist (about 27 MB; trim-llama-sdist.sh)
#   .gpu/wheels/                   the Python 3.12 wheels of what the check imports
#   .gpu/mawps_singleop_dev.jsonl  the bench's MAWPS file, when ../shared has it
# Usage: benchmarks/gpu/prepare.sh            (then: run with carry [".gpu"])
set -euo pipefail
cd "$(dirname "$0")/../.."
v=${LLAMA_VERSION:-0.3.36}
grep -qx "/.gpu/" "$(git rev-parse --git-common-dir)/info/exclude" 2>/dev/null \
  || echo "/.gpu/" >> "$(git rev-parse --git-common-dir)/info/exclude"
mkdir -p .gpu/wheels /tmp/eager-sdist
if [ ! -d ".gpu/llama_cpp_python-$v" ]; then
  [ -f "/tmp/eager-sdist/llama_cpp_python-$v.tar.gz" ] || \
    python -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$v" -d /tmp/eager-sdist
  bash benchmarks/gpu/trim-llama-sdist.sh "/tmp/eager-sdist/llama_cpp_python-$v.tar.gz" .gpu/ >/dev/null
fi
# numpy, gguf and the CLI's imports; pytest for the tests; diskcache for llama_cpp's high-level module
python -m pip download -q --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d .gpu/wheels \
  "numpy>=1.26,<2.5" "gguf>=0.17" platformdirs rich pytest diskcache pyyaml tqdm jinja2 markupsafe
data=${MAWPS:-../shared/data/mawps_singleop_dev.jsonl}; [ -f "$data" ] || data=/work/shared/data/mawps_singleop_dev.jsonl
if [ -f "$data" ]; then cp "$data" .gpu/; fi
du -sh .gpu | cut -f1 | sed 's/^/.gpu: /'
