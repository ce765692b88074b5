#!/usr/bin/env bash
# GPU burst: ONE call on a lent GPU machine (at most 9 minutes; a lent GPU gives an issue 15 minutes
# in all, its start-up included) that continues the default motion weights on the compact training
# pack and brings the weights back under $OUT. Needs no PyAV (the device has none) and no network.
#
# Here, before (once; data/ is git-ignored, the pack is never committed):
#   python -m streamdeblur.train.pack --data data/sharp --out data/pack        # ≤ 48 MiB
# On the device (the `run` tool: the working tree travels, the pack is carried):
#   run(command="bash streamdeblur/train/gpu_burst.sh", carry=["data/pack"], timeout_s=540)
# What comes back (files_at): deeprftv2-t-motion-gpu.pt (fp16 EMA weights), deeprftv2-t-motion-gpu.state
# (raw model + AdamW moments, to continue), burst.log, eval_psnr.png. Then, here:
#   cp FILES_AT/deeprftv2-t-motion-gpu.* runs/burst/ && \
#   python -m streamdeblur.train.card runs/burst/deeprftv2-t-motion-gpu.pt --data data/sharp   # test split, CPU
# Dry run on a CPU (proves the path end to end):
#   OUT=/tmp/burst DEVICE=cpu MINUTES=1 bash streamdeblur/train/gpu_burst.sh
# Variables: CFG (recipe), MINUTES (training budget), DEVICE, NAME (file stem), PYTHON.
set -euo pipefail
CFG="${CFG:-streamdeblur/train/configs/motion-t-gpu.yaml}"
MINUTES="${MINUTES:-6.5}"
DEVICE="${DEVICE:-cuda}"
NAME="${NAME:-deeprftv2-t-motion-gpu}"
PY="${PYTHON:-python3}"
: "${OUT:?set OUT to the folder whose files come back (the device machine sets it)}"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
RUN_DIR=$("$PY" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["out"])' "$CFG")

burst() {
    date -u +"start %FT%TZ"
    "$PY" -c 'import torch, cv2, numpy, yaml
print("torch", torch.__version__, "| cuda:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
try:
    import av; print("PyAV", av.__version__)
except ImportError:
    print("PyAV: not installed (H.264 degradation -> JPEG stand-in)")'
    if [ ! -f data/pack/manifest.json ]; then
        echo "error: no data/pack here: build it with 'python -m streamdeblur.train.pack' and carry data/pack"
        return 2
    fi
    "$PY" -m streamdeblur.train.trainer "$CFG" --device "$DEVICE" --minutes "$MINUTES" --export "$OUT/$NAME.pt"
    cp -f "$RUN_DIR/eval_psnr.png" "$OUT/" 2>/dev/null || true
    ls -l "$OUT"
    date -u +"end %FT%TZ"
}
burst 2>&1 | tee "$OUT/burst.log"
