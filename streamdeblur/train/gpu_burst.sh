#!/usr/bin/env bash
# GPU burst: ONE call on a lent GPU machine (at most 9 minutes; a lent GPU gives an issue 15 minutes
# in all, its start-up included) that continues the shipped weights on the compact training pack and
# brings them back under $OUT. Three trainings share the GPU and the device's 16 cores, each with its
# own synthesis workers (the GPU is far from full with one small model; sample synthesis on the CPU is
# what limits the rate): the default motion weights (deeprftv2-t, 8 workers), defocus (fdikp, 4) and
# real-time motion (deeprftv2-rt, 3). Needs no PyAV (the device has none) and no network.
#
# Here, before (once; data/ is git-ignored, the pack is never committed):
#   python -m streamdeblur.train.pack --data data/sharp --out data/pack --jpeg-quality 97 --val-count 8   # 48 MiB
# The working tree travels with the pack and both must fit 64 MiB: move the committed resume states
# (streamdeblur/train/states, ~40 MB) and tests/data, samples/ out of the tree for the call, and put them
# back after (`git checkout -- streamdeblur/train/states tests/data samples`).
# On the device (the `run` tool: the working tree travels, the pack is carried):
#   run(command="bash streamdeblur/train/gpu_burst.sh", carry=["data/pack"], timeout_s=560)
# What comes back (files_at): NAME.pt (fp16 EMA weights) and NAME.state (raw model + AdamW moments, to
# continue) for each job, and burst.log (every job's lines, prefixed with its name). Then, here:
#   python -m streamdeblur.train.card FILES_AT/deeprftv2-t-motion-gpu.pt --data data/sharp   # test split, CPU
# Dry run on a CPU (proves the path end to end):
#   OUT=/tmp/burst DEVICE=cpu MINUTES=1 bash streamdeblur/train/gpu_burst.sh
# Real H.264 on the device (the device has no PyAV and cannot download it; without it the synthesis
# degrades with a JPEG stand-in, and motion weights trained so harmed real H.264 input, 2026-12-04).
# The PyAV wheel (36 MB) and the pack (48 MB) do not travel together within 64 MiB, so a first, short
# call installs the wheel into .devsite/ (git-ignored: a warm machine keeps it for the next call):
#   here:   pip download av==18.1.0 --no-deps --only-binary=:all: --python-version 3.12 \
#               --platform manylinux_2_28_x86_64 -d data/wheels           # one abi3 wheel, 3.11 and 3.12
#   call 1: run(command="INSTALL_ONLY=1 bash streamdeblur/train/gpu_burst.sh", carry=["data/wheels"], timeout_s=120)
#   call 2: at once (the machine must still be warm), the burst as above; it finds .devsite/ and says "PyAV 18.1.0".
# Variables: JOBS ("config:name ..."), MINUTES (training budget of each job), DEVICE, PYTHON,
# WHEELS (wheels to install, default data/wheels), SITE (where, default .devsite), INSTALL_ONLY.
set -uo pipefail
JOBS="${JOBS:-motion-t-gpu:deeprftv2-t-motion-gpu defocus-fdikp-gpu:fdikp-defocus-gpu motion-rt-gpu:deeprftv2-rt-motion-gpu}"
MINUTES="${MINUTES:-7}"
DEVICE="${DEVICE:-cuda}"
PY="${PYTHON:-python3}"
: "${OUT:?set OUT to the folder whose files come back (the device machine sets it)}"
# the trainers' own processes do little on the CPU when the model runs on the GPU; the workers set
# one thread each themselves
WHEELS="${WHEELS:-data/wheels}"
SITE="${SITE:-.devsite}"
case "$SITE" in /*) ;; *) SITE="$PWD/$SITE" ;; esac
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
LOG="$OUT/burst.log"
: >"$LOG"

say() { echo "$*" | tee -a "$LOG"; }

say "$(date -u +"start %FT%TZ")"
# carried wheels (PyAV): installed once, offline, into $SITE, which the jobs' Python finds first
shopt -s nullglob
wheels=("$WHEELS"/*.whl)
if [ ${#wheels[@]} -gt 0 ]; then
    "$PY" -m pip install --quiet --no-index --no-deps --upgrade --target "$SITE" "${wheels[@]}" 2>&1 | tee -a "$LOG"
    say "installed into $SITE: ${wheels[*]##*/}"
fi
if [ -n "${INSTALL_ONLY:-}" ]; then
    "$PY" -c 'import av; print("PyAV", av.__version__, "from", av.__file__)' 2>&1 | tee -a "$LOG"
    exit "${PIPESTATUS[0]}"
fi
"$PY" -c 'import torch, cv2, numpy, yaml, os
print("torch", torch.__version__, "| cuda:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none", "| cpus:", os.cpu_count())
try:
    import av; print("PyAV", av.__version__)
except ImportError:
    print("PyAV: not installed (H.264 degradation -> JPEG stand-in)")' 2>&1 | tee -a "$LOG"
if [ ! -f data/pack/manifest.json ]; then
    say "error: no data/pack here: build it with 'python -m streamdeblur.train.pack' and carry data/pack"
    exit 2
fi
# the scanned blocks' training scan on this device: chunked (≈3·√L small steps; launch-bound on an
# H200) against the parallel one that `auto` now runs on CUDA; a minute at most, before the jobs start
timeout 60 "$PY" -m streamdeblur.train.scan_check --device "$DEVICE" 2>&1 | tee -a "$LOG"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader -l 30 2>&1 | sed -u 's/^/[gpu] /' >>"$LOG" &
    SMI=$!
fi

pids=()
for job in $JOBS; do
    cfg="streamdeblur/train/configs/${job%%:*}.yaml"
    name="${job##*:}"
    # a hard stop a minute after the budget: the trainer checkpoints every minute and at SIGTERM
    (timeout -s TERM "$(awk -v m="$MINUTES" 'BEGIN{print int(m*60+60)}')" \
        "$PY" -m streamdeblur.train.trainer "$cfg" --device "$DEVICE" --minutes "$MINUTES" --export "$OUT/$name.pt" 2>&1 \
        | sed -u "s/^/[$name] /" >>"$LOG") &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[ -n "${SMI:-}" ] && kill "$SMI" 2>/dev/null
ls -l "$OUT" | tee -a "$LOG"
say "$(date -u +"end %FT%TZ") rc $rc"
grep -E '^scan |fitted|eval step|exported|error|Error|Traceback' "$LOG" | tail -60
exit $rc
