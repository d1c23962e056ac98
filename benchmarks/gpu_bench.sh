#!/usr/bin/env bash
# The prepared GPU benchmark: one command, under 5 minutes on one H100.
#
# Prints the paper U-Net's throughput (31.0M parameters, 256x256 tiles at 1 um/px, bf16, channels-last):
# the model alone and end-to-end predict on a camelyon-preset slide (0.243 um/px), as tiles/s and their
# ratio, plus the 10% / 100% tissue timing (see benchmarks/bench_predict.py); then the peer comparison
# (benchmarks/bench_peers.py: wsiseg, MONAI if installed, plain tiffslide / OpenSlide loops, the model alone) on
# the GPU with the same weights: bf16, channels-last, batches of 256, 4 reading threads (TIAToolbox needs its
# own environment, which the offline GPU machine cannot install); then what every network costs per tile
# (benchmarks/bench_encoders.py: training step and prediction, fp32 and bf16, 224 px tiles, ratios to the paper
# U-Net), the foundation models (ViT-L / ViT-H / ViT-g, random weights) included.
#
#   bash benchmarks/gpu_bench.sh                 # on a machine with a CUDA torch and the package's needs
#
# On a machine without network whose Python already has torch + pytorch-lightning + torchmetrics, the other
# needs (hydra-core omegaconf antlr4-python3-runtime tiffslide tifffile imagecodecs opencv-python-headless
# scikit-image defusedxml tqdm fsspec zarr timm segmentation-models-pytorch huggingface-hub safetensors onnx
# onnxruntime onnxscript ...) can be carried as wheels in .whl/; they are installed into
# /tmp/site first when that folder exists.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/wsiseg-gpu}
WORKERS=${WORKERS:-12}
if [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
# a camelyon-preset cohort with 6 x 6 mm slides (about 25k px per side at 0.243 um/px), 5 slides in parallel
$PY synth.py synth=camelyon 'synth.slide_size_mm=[6.0,6.0]' out_dir="$OUT/cohort" workers=5 hydra.run.dir="$OUT/synth"
$PY benchmarks/bench_predict.py --cohort "$OUT/cohort" --experiment paper_v2 --channels-last \
  --accelerator gpu --precision bf16-mixed --slides 2 --workers "$WORKERS" --fraction-size 16384
SLIDE=$(ls "$OUT"/cohort/centre_*/*.tif | head -1)
# one slide: wsiseg reads with threads (a spawned worker's start-up, ~3 s of imports, would dominate one slide)
$PY benchmarks/bench_peers.py --slide "$SLIDE" --experiment paper_v2 --channels-last --accelerator gpu \
  --precision bf16-mixed --batch-size 256 --workers 0 --read-threads 4 --monai-workers 4 --repeats 2 \
  --json "$OUT/peers_gpu.json"
$PY benchmarks/bench_encoders.py --device cuda --models all --tile 224 --batch 32 --repeats 5 \
  --json "$OUT/encoders_gpu.json"
