#!/usr/bin/env bash
# The default model's two training stages on one CUDA GPU, in a fixed wall-time budget (a lent
# GPU comes for minutes, so the learning-rate schedules run on the clock, `--lr-by-time`):
#   1. causal (next-token) training, warm-started from models/default;
#   2. masked-diffusion adaptation from stage 1's export (editor-shaped infill examples).
# Only the compact token stream travels to the GPU machine; the raw files are rebuilt from it
# (`tokenizer.py decode`, exact for byte-level BPE).
#
#   bash models/train/gpu_train.sh TOK_DIR OUT_DIR [causal_minutes] [diffusion_minutes]
#
# TOK_DIR holds {train,valid,test}.npz (`tokenizer.py encode`). OUT_DIR receives causal/ and
# final/ (config.json + bf16 model.safetensors each) and both stages' logs. causal_minutes 0
# skips stage 1: the diffusion stage then continues from the starting weights itself. Environment:
# PYTHON (python3), WORK (scratch, /tmp/dllm-train), BATCH (256), WORKERS (nproc - 2),
# INIT (the starting weights: an export directory, models/default by default),
# DIFF_LR (1e-3), INFILL_FRAC (0.7), COMPILE (1: torch.compile the trunk, retried without it
# if that fails).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
default=$(cd "$here/../default" && pwd)
tok_dir=$1 out=$2 causal_min=${3:-3.5} diffusion_min=${4:-4}
py=${PYTHON:-python3}
work=${WORK:-/tmp/dllm-train}
batch=${BATCH:-256}
workers=${WORKERS:-$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))}
diff_lr=${DIFF_LR:-1e-3} infill_frac=${INFILL_FRAC:-0.7}

mkdir -p "$work/corpus" "$out/causal" "$out/final"
rm -rf "$work/corpus/tok" "$work/causal" "$work/diffusion"
cp -r "$tok_dir" "$work/corpus/tok"
"$py" "$here/tokenizer.py" decode --corpus "$work/corpus" --tokenizer "$default/tokenizer.json"
export TOKENIZERS_PARALLELISM=false

common=(--data "$work/corpus" --tokenizer "$default/tokenizer.json" --num-hidden-layers 4 --seq 512
        --batch "$batch" --workers "$workers" --lr-by-time --steps 10000 --decay-frac 0.8
        --log-seconds 15 --eval-every 300 --eval-batches 2)

# A small model's GPU step is mostly kernel launches and unfused elementwise work, which
# torch.compile fuses; if compiling fails, the stage runs again without it, in the time left.
train_stage() {
    local dir=$1 minutes=$2 start=$SECONDS; shift 2
    if [ "${COMPILE:-1}" = 1 ]; then
        "$py" "$here/train.py" "${common[@]}" --out "$dir" --max-minutes "$minutes" --compile "$@" && return 0
        minutes=$(awk -v m="$minutes" -v s=$((SECONDS - start)) 'BEGIN { r = m - s / 60; print (r > 0.5 ? r : 0.5) }')
        echo "compiled run failed; again without --compile for $minutes minutes" >&2
        rm -rf "$dir"
    fi
    "$py" "$here/train.py" "${common[@]}" --out "$dir" --max-minutes "$minutes" "$@"
}

init=${INIT:-$default}
if [ "$causal_min" != 0 ]; then
    train_stage "$work/causal" "$causal_min" --objective causal --init-from "$init" \
        --lr 2e-3 --min-lr 1e-4 --warmup 100
    "$py" "$here/export.py" --ckpt "$work/causal/ckpt.pt" --out "$out/causal" --dtype bf16
    cp "$work/causal/train.log" "$out/causal.log"
    init=$out/causal
fi

train_stage "$work/diffusion" "$diffusion_min" --objective diffusion --init-from "$init" \
    --lr "$diff_lr" --min-lr 5e-5 --warmup 100 --mdlm-loss flat --infill-frac "$infill_frac"
"$py" "$here/export.py" --ckpt "$work/diffusion/ckpt.pt" --out "$out/final" --dtype bf16
cp "$work/diffusion/train.log" "$out/diffusion.log"
rm -f "$out"/{causal,final}/{tokenizer,tokenizer_config,generation_config}.json  # as in models/default
echo "done: $out"
