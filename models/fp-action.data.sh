#!/bin/bash
# The datasets of the model card of models/fp-action.safetensors (README, "The shipped fixed point
# action"), regenerated from scratch: Wilson ensembles with their seeds, then FP data by minimisation.
#
#   bash models/fp-action.data.sh [DIR]      # DIR defaults to runs/fp-action-data
#
# FPA names the fpa binary (default: target/release/fpa, built if missing). Every step resumes when
# the script is run again. Minimiser tolerance TOL, default 1e-6 as `fpa pipeline --preset paper`
# uses; the training data of the shipped model were minimised to 1e-9 (`TOL=1e-9 bash ...`), except
# fp/more, minimised to 1e-6 (TOL_MORE, default 1e-6). About 50 minutes on 2 cores, estimated
# from the runs that made the data: fp/train and fp/test 12 min, fp/test8 about 20 (8^4 coarse
# configurations are minimised on 16^4 fine lattices), the rest a few minutes each (fp/flow and
# fp/flow-test 4 and 3 minutes on 2 cores, minimised to 1e-9 in session 37).
#
#   fp/train       40 configurations per beta_wil at 5.0, 5.25, ..., 7.0 (seeds 100-108), 4^4
#   fp/more        40 more per beta_wil at 5.0, 5.25, ..., 7.0 (seeds 300-308), 4^4, minimised to 1e-6
#                  (training data of steps 5b and 6 of the shipped model, session 41; 11 min on 2 cores)
#   fp/test        10 per beta_wil at 5.0, 5.5, ..., 7.0 (seeds 900-904), 4^4, not used in training
#   fp/test8        4 per beta_wil at 5.0, 5.5, ..., 7.0 (seeds 950-954), 8^4, not used in training
#   fp/inst-tune2  instantons rho/a = 1.1, 1.4, 1.8, 2.3 on 8^4 (the fine-tuning set)
#   fp/inst-eval   instantons rho/a = 1.0, 1.25, 1.5, 1.75, 2.0, 2.5 on 8^4 (the instanton table)
#   fp/flow        the first 8 configurations of fp/train's ensembles at 5.0, 5.5, 6.0, 6.5, 7.0, each
#                  smoothed by the Wilson flow to t = 0.1, 0.3 and 1 (120 configurations; session 37)
#   fp/flow-test   the first 4 of fp/test's, the same flow times (60; not used in training)
#
# Instantons with rho/a < 1.5 are minimised twice (standard start, and continuation from rho/a = 1.5)
# and keep the lower minimum (README, "Small instantons have two minima"); fpa versions before that
# gave A_FP = 14.47 instead of 12.87 at rho/a = 1.1 and 12.79 instead of 12.68 at 1.0.
#
# Then: fpa eval --model models/fp-action.safetensors --data DIR/fp/test   (and fp/test8, fp/inst-eval)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${1:-runs/fp-action-data}"
FPA="${FPA:-$ROOT/target/release/fpa}"
TOL="${TOL:-1e-6}"
if [ ! -x "$FPA" ]; then
  cargo build --release -p fpa-cli --manifest-path "$ROOT/Cargo.toml"
fi
mkdir -p "$DIR"
cd "$DIR"

ensembles() { # lattice, configs, first seed, name, betas...
  local lattice=$1 configs=$2 seed=$3 name=$4
  shift 4
  for b in "$@"; do
    "$FPA" generate --lattice "$lattice" --beta "$b" --therm 200 --every 10 --configs "$configs" \
      --seed "$seed" --out "ens/$name-b$b" --quiet
    seed=$((seed + 1))
  done
}
from() { # name, betas... -> --ensemble arguments
  local name=$1
  shift
  for b in "$@"; do echo "--ensemble ens/$name-b$b"; done
}

TRAIN="5.0 5.25 5.5 5.75 6.0 6.25 6.5 6.75 7.0"
TEST="5.0 5.5 6.0 6.5 7.0"
ensembles 4x4x4x4 40 100 train $TRAIN
ensembles 4x4x4x4 40 300 more $TRAIN
ensembles 4x4x4x4 10 900 test $TEST
ensembles 8x8x8x8 4 950 test8 $TEST
# shellcheck disable=SC2046
"$FPA" fp-data $(from train $TRAIN) --rhs wilson --tol "$TOL" --out fp/train --limit 40
# shellcheck disable=SC2046
"$FPA" fp-data $(from more $TRAIN) --rhs wilson --tol "${TOL_MORE:-1e-6}" --out fp/more --limit 40
# shellcheck disable=SC2046
"$FPA" fp-data $(from test $TEST) --rhs wilson --tol "$TOL" --out fp/test
# shellcheck disable=SC2046
"$FPA" fp-data $(from test8 $TEST) --rhs wilson --tol "$TOL" --out fp/test8
"$FPA" fp-data --instanton 8x8x8x8:1.1 --instanton 8x8x8x8:1.4 --instanton 8x8x8x8:1.8 \
  --instanton 8x8x8x8:2.3 --rhs wilson --tol "$TOL" --out fp/inst-tune2
"$FPA" fp-data --instanton 8x8x8x8:1.0 --instanton 8x8x8x8:1.25 --instanton 8x8x8x8:1.5 \
  --instanton 8x8x8x8:1.75 --instanton 8x8x8x8:2.0 --instanton 8x8x8x8:2.5 --rhs wilson --tol "$TOL" \
  --out fp/inst-eval
FLOW="--wilson-flow 0.1 --wilson-flow 0.3 --wilson-flow 1"
# shellcheck disable=SC2046,SC2086
"$FPA" fp-data $(from train $TEST) --limit 8 $FLOW --rhs wilson --tol "$TOL" --out fp/flow
# shellcheck disable=SC2046,SC2086
"$FPA" fp-data $(from test $TEST) --limit 4 $FLOW --rhs wilson --tol "$TOL" --out fp/flow-test
echo "datasets in $DIR/fp"
