#!/usr/bin/env bash
# The demo's held-out kappa over several seeds: each seed draws another patient split (so other held-out
# patients), trains the demo U-Net from another initialisation, predicts every slide and stages.
#   bash benchmarks/demo_seeds.sh 1 2 3        (after `make demo`, which made data/demo)
# Prints one line per seed: held-out kappa, slide accuracy and ITC recall (from each run's report.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
for s in "$@"; do
  out=outputs/seeds/seed$s
  test -f $out/train/checkpoints/last.ckpt || \
    $PY train.py experiment=demo seed=$s data.split.seed=$s hydra.run.dir=$out/train
  $PY predict.py ckpt_path=$out/train/checkpoints/last.ckpt slides=data/demo out_dir=$out/heatmaps \
    hydra.run.dir=$out/predict
  $PY stage.py heatmaps=$out/heatmaps cohort=data/demo seed=$s hydra.run.dir=$out/stage > $out/stage.txt
done
for s in "$@"; do
  $PY - "$s" <<'PYEOF'
import json, sys
s = sys.argv[1]
r = json.load(open(f"outputs/seeds/seed{s}/stage/report.json"))
t = r["slide"]["test"]
print(f"seed {s}: held-out kappa {r['kappa']['test']:.4f} ({r['patient']['test']['n']} patients), "
      f"slide accuracy {t['accuracy']:.3f}, ITC recall {t['per_class']['itc']['recall']:.2f} "
      f"({t['per_class']['itc']['support']}), out-of-fold kappa {r['kappa'].get('cv', float('nan')):.4f}")
PYEOF
done
