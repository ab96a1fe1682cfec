#!/bin/sh
# Rebuild benchmarks/RESULTS.md with one command: the speed table (bench_crop.py), the face and
# person cuts (cuts.py), agreement with the judges' rankings (preferences.py), then frame
# recovery (recovery.py), which writes RESULTS.md and embeds the other three. Extra arguments go to recovery.py, e.g. the ablation bundles:
#   sh benchmarks/results.sh --bundle "3 epochs, no references=data/abl_norefs_bundle" ...
set -eu
cd "$(dirname "$0")/.."
PHOTOS=${PROCROP_PHOTOS:-../shared/data/photos}
BSDS=${PROCROP_BSDS:-../shared/data/bsds500_trainval}
python benchmarks/bench_crop.py --photos "$PHOTOS" --json benchmarks/results/bench_crop.json
python benchmarks/cuts.py --photos "$BSDS" --out benchmarks/results --max-seconds 4000
python benchmarks/cuts_salient.py --photos "$PHOTOS" --out benchmarks/results
python benchmarks/preferences.py --photos "$PHOTOS" --nima \
    --weights "classic, weights fitted to the judges=data/preferences/models/classic_weights_fitted.toml"
python benchmarks/preferences.py --photos "$PHOTOS" --round 2 --quick --out benchmarks/results/preferences_round2.md
python benchmarks/preferences.py --photos "$PHOTOS" --round 3 --quick --out benchmarks/results/preferences_round3.md
python benchmarks/recovery.py --photos "$PHOTOS" "$@"
