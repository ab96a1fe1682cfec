#!/bin/sh
# Rebuild benchmarks/RESULTS.md with one command: the speed table (bench_crop.py), the face and
# person cuts (cuts.py), then frame recovery (recovery.py), which writes RESULTS.md and embeds the
# other two. Extra arguments go to recovery.py, e.g. the ablation bundles:
#   sh benchmarks/results.sh --bundle "3 epochs, no references=data/abl_norefs_bundle" ...
set -eu
cd "$(dirname "$0")/.."
PHOTOS=${PROCROP_PHOTOS:-../shared/data/photos}
BSDS=${PROCROP_BSDS:-../shared/data/bsds500_trainval}
python benchmarks/bench_crop.py --photos "$PHOTOS" --json benchmarks/results/bench_crop.json
python benchmarks/cuts.py --photos "$BSDS" --out benchmarks/results --max-seconds 4000
python benchmarks/recovery.py --photos "$PHOTOS" "$@"
