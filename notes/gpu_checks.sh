#!/usr/bin/env bash
# The GPU checks reported in docs/benchmarks.md, in one go, as run on a lent H100/H200:
# the engine's benchmark (throughput, time to 99.2%, deterministic on/off), the default run and
# the gan pipeline with `--env gpu`. From the repository root, with the project importable:
#
#     OUT=gpu_results bash notes/gpu_checks.sh
#
# Each step has its own time limit and log ($OUT/<step>.log); a failing step does not stop the rest.
set -u
OUT=${OUT:-gpu_results}
ENV_NAME=${GPU_CHECK_ENV:-gpu}
mkdir -p "$OUT"
export COLUMNS=200 PYTHONUNBUFFERED=1 KEDRO_DISABLE_TELEMETRY=true DO_NOT_TRACK=1 MPLBACKEND=Agg

step() {
    local name=$1 limit=$2
    shift 2
    echo "=== $name: $* (limit ${limit} s)"
    local start=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    echo "=== $name: exit $rc after $((SECONDS - start)) s"
    grep -E "Error|error:|Traceback|successfully|images/s|engine|deterministic|Time to|Augmenting|Device:|test error|FID|Inception" "$OUT/$name.log" | grep -v -E "^ *File |epoch [0-9]+/[0-9]+" | tail -n 25
}

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, kedro, mlflow, kedro_mlflow; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'kedro', kedro.__version__, 'mlflow', mlflow.__version__)"

step benchmark "${BENCH_LIMIT:-130}" python3 -m practical_dl.tools.benchmark ${BENCH_ARGS:---device cuda}
step default_run "${RUN_LIMIT:-200}" python3 -m kedro run --env "$ENV_NAME"
[ -f data/08_reporting/results.md ] && cp data/08_reporting/results.md "$OUT/" && cat "$OUT/results.md"
step gan "${GAN_LIMIT:-150}" python3 -m kedro run --env "$ENV_NAME" --pipelines gan
[ -f data/08_reporting/gan/scores.json ] && cp data/08_reporting/gan/scores.json "$OUT/gan_scores.json" && cat "$OUT/gan_scores.json"
[ -f data/07_model_output/gan/training_history.csv ] && cp data/07_model_output/gan/training_history.csv "$OUT/gan_history.csv"
ls data/08_reporting/gan 2>/dev/null
# data-parallel through the training pipeline: the NCCL path with one rank (docs/scale-out.md);
# last, as it saves a 2-epoch SimpLeNet that the gan step would otherwise score with
step ddp_one_gpu "${DDP_LIMIT:-120}" python3 -m torch.distributed.run --standalone --nproc-per-node 1 -m kedro run --env "$ENV_NAME" --pipelines training --params "trained_models=[simplenet],simplenet.training.epochs=2,training_defaults.checkpoint_every=0"
[ -f data/07_model_output/simplenet/training_history.csv ] && cp data/07_model_output/simplenet/training_history.csv "$OUT/ddp_one_gpu_history.csv" && cat "$OUT/ddp_one_gpu_history.csv"
