#!/usr/bin/env bash
# The GPU check in one call (docs/gpu-check.md): build llama-cpp-python with CUDA from the
# trimmed sdist in .gpu/ (benchmarks/gpu/prepare.sh), run the engine and scheduler tests
# with every layer offloaded (EAGER_TEST_GPU_LAYERS=-1) on the tiny GGUF, then
# `eager bench --quick --gpu-layers -1` with backend sampling on and off, figures to OUT.
#
#   benchmarks/gpu_check.sh                 on a GPU machine (run with carry [".gpu"])
#   benchmarks/gpu_check.sh --cpu           the same with the installed llama_cpp, no build
#   options: --out DIR (default docs/bench/gpu, or docs/bench/cpu-check with --cpu)
#            --model GGUF (bench model; default: a random model of the default model's
#            shapes, generated here: vocabulary 262,144, 640 wide, 18 layers)
#            --small (tiny bench sizes and the tiny GGUF: the test's run, ~1 minute)
# Env: SITE (where the CUDA build goes, default /tmp/eager-gpu-site), ARCH, FA (build-cuda-llama.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=gpu; out=""; model=""; small=0
while [ $# -gt 0 ]; do
  case $1 in
    --cpu) mode=cpu ;;
    --out) out=$2; shift ;;
    --model) model=$2; shift ;;
    --small) small=1 ;;
    *) echo "gpu_check.sh: unknown option $1 (see the header of benchmarks/gpu_check.sh)" >&2; exit 2 ;;
  esac
  shift
done
out=${out:-docs/bench/$([ $mode = gpu ] && echo gpu || echo cpu-check)}
mkdir -p "$out"; out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/eager-gpu-check.XXXX)
py=${PYTHON:-python3}
log() { echo "[gpu_check $(date -u +%H:%M:%S)] $*"; }

# 1. llama_cpp: built with CUDA from .gpu/, or the installed one
if [ $mode = gpu ]; then
  site=${SITE:-/tmp/eager-gpu-site}
  src=$(ls -d .gpu/llama_cpp_python-*/ 2>/dev/null | head -1)
  [ -n "$src" ] || { echo "gpu_check.sh: no .gpu/llama_cpp_python-*/: run benchmarks/gpu/prepare.sh here first and carry .gpu" >&2; exit 2; }
  if [ ! -f "$site/llama_cpp/lib/libllama.so" ]; then
    log "building llama-cpp-python with CUDA (ARCH=${ARCH:-90}, FA=${FA:-OFF}) into $site"
    BUILD_DIR=$work/build bash benchmarks/gpu/build-cuda-llama.sh "${src%/}" "$site"
  fi
  ls .gpu/wheels/*.whl >/dev/null 2>&1 && $py -m pip install -q --no-index --no-deps --target "$site" .gpu/wheels/*.whl 2>&1 | tail -2 || true
  export PYTHONPATH="$site:$PWD"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$out/device.txt" 2>&1 || true
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  echo "CPU build (installed llama_cpp), $(nproc) cores" > "$out/device.txt"
fi
$py -c "import llama_cpp, eager_local; from eager_local.engine import native; print('llama_cpp', llama_cpp.__version__, 'GPU offload:', native.gpu_offload_supported())" | tee -a "$out/device.txt"

# 2. the engine and scheduler tests, every layer offloaded, on the tiny GGUF
log "engine and scheduler tests with EAGER_TEST_GPU_LAYERS=-1"
EAGER_TEST_GPU_LAYERS=-1 $py -m pytest -q -p no:cacheprovider -m "not slow" \
  tests/integration/test_engine_llama.py tests/integration/test_backend_sampling.py \
  tests/unit/decoding/test_scheduler.py tests/unit/decoding/test_sampling.py 2>&1 | tee "$out/tests.txt" | tail -3
[ "${PIPESTATUS[0]}" = 0 ] || { echo "gpu_check.sh: tests failed (see $out/tests.txt)" >&2; exit 1; }

# 3. eager bench --quick, all layers offloaded, backend sampling on and off
if [ -z "$model" ]; then
  if [ $small = 1 ]; then
    model=$work/tiny.gguf; $py tests/tiny_gguf.py "$model" >/dev/null
  else
    model=$work/default-shapes.gguf
    log "writing a random model of the default model's shapes"
    $py tests/tiny_gguf.py "$model" --n-vocab 262144 --n-embd 640 --n-layer 18 --n-head 4 --n-head-kv 1 --n-ff 2048 >/dev/null
  fi
fi
data=${MAWPS:-.gpu/mawps_singleop_dev.jsonl}; [ -f "$data" ] || data=../shared/data/mawps_singleop_dev.jsonl
sizes=()
[ $small = 1 ] && sizes=(--items 2 --max-seqs 4 --max-new-tokens 8 --steps 3 --rounds 1 --calibration-items 2
                         --long-prompt-tokens 60 --target-seqs 2)
for s in backend host; do
  log "eager bench --quick --gpu-layers -1, EAGER_LOCAL_SAMPLING=$s"
  EAGER_LOCAL_SAMPLING=$s $py -m eager_local bench --quick --model "$model" --gpu-layers -1 --data "$data" \
    --json "$out/bench-$s.json" "${sizes[@]}" > "$out/bench-$s.txt" 2> "$work/bench-$s.log" \
    || { tail -20 "$work/bench-$s.log" >&2; exit 1; }
done
[ -n "${OUT:-}" ] && cp -r "$out" "$OUT/" 2>/dev/null || true
log "done: $out (device.txt, tests.txt, bench-backend.*, bench-host.*)"
