#!/usr/bin/env bash
# WMT14 En->De as in the paper, on GPUs: Transformer-base teacher, distillation of the training set with
# beam 4, then vqnat_base with soft EM (m = 10 samples, K = 4096, n_c = 3), test BLEU and the bench table.
# Run examples/wmt14_en_de/prepare.sh first.
#
#   bash examples/wmt14_en_de/train.sh                                    # every GPU of this machine
#   NPROC=4 UPDATE_FREQ=2 bash examples/wmt14_en_de/train.sh              # 4 GPUs, the batch of 8
#   NNODES=2 NODE_RANK=0 MASTER=host0 bash examples/wmt14_en_de/train.sh  # on host0, and NODE_RANK=1 on host1
#
# Every stage resumes: training from checkpoint_last.pt, distillation at its first missing chunk.
# Several machines (NNODES > 1) need the same paths on a shared file system; see README.md beside this.
set -euo pipefail

VQNAT=${VQNAT:-vqnat}
WORK=${WORK:-runs/wmt14_en_de}
DATA=${DATA:-$WORK/data}
NPROC=${NPROC:-$(nvidia-smi -L 2>/dev/null | wc -l)}   # GPUs per machine
NNODES=${NNODES:-1}                    # machines
NODE_RANK=${NODE_RANK:-0}              # this machine: 0 .. NNODES-1
MASTER=${MASTER:-}                     # host name of machine 0 (NNODES > 1)
PORT=${PORT:-29500}
UPDATE_FREQ=${UPDATE_FREQ:-1}          # gradient accumulation: the batch is NNODES * NPROC * UPDATE_FREQ * 8192 tokens
TEACHER_UPDATES=${TEACHER_UPDATES:-300000}
VQNAT_UPDATES=${VQNAT_UPDATES:-300000}
BEAM=${BEAM:-4}
DISTILL_MAX_TOKENS=${DISTILL_MAX_TOKENS:-16000}   # source tokens per decoding batch on one GPU
if [ "$NPROC" -lt 1 ]; then echo "no GPU found: set NPROC" >&2; exit 1; fi
if [ "$NNODES" -gt 1 ] && [ -z "$MASTER" ]; then echo "NNODES=$NNODES needs MASTER=<host of rank 0>" >&2; exit 1; fi

TEACHER_DIR="$WORK/teacher"
DISTILLED="$WORK/distilled"
VQNAT_DIR="$WORK/vqnat"

# fairseq's own distributed flags. One machine: `--nproc` and fairseq spawns one NCCL worker per GPU.
# Several: each machine spawns NPROC workers with global ranks NODE_RANK*NPROC + 0..NPROC-1, which meet at
# tcp://MASTER:PORT (the same as torchrun's --nnodes/--node_rank/--master_addr, without torchrun).
if [ "$NNODES" -gt 1 ]; then
  LAUNCH=(--nproc 1 -- --distributed-world-size $((NNODES * NPROC)) --distributed-rank $((NODE_RANK * NPROC))
          --distributed-init-method "tcp://$MASTER:$PORT" --distributed-backend nccl)
else
  LAUNCH=(--nproc "$NPROC" --)
fi

# ---- 1. teacher: fairseq transformer, base size (6+6 layers, d=512), fp16 ------------------------------------
$VQNAT train teacher "$DATA" --save-dir "$TEACHER_DIR" --preset base --max-update "$TEACHER_UPDATES" "${LAUNCH[@]}" \
    `# batch` --update-freq "$UPDATE_FREQ" --fp16 \
    `# checkpoints` --save-interval-updates 5000 --keep-interval-updates 5
TEACHER="$TEACHER_DIR/checkpoint_best.pt"

# ---- 2. distillation: one shard per GPU of this machine, all writing chunks into one $DISTILLED ------------------
# With several machines every one decodes its own shards (global shard ids); the last to finish merges.
# Each shard gets this machine's cores divided by its NPROC shards (the default would divide by all shards).
if [ ! -f "$DISTILLED/manifest.json" ]; then
  shards=$((NNODES * NPROC))
  threads=$(( $(nproc) / NPROC > 0 ? $(nproc) / NPROC : 1 ))
  pids=()
  for gpu in $(seq 0 $((NPROC - 1))); do
    shard=$((NODE_RANK * NPROC + gpu))
    CUDA_VISIBLE_DEVICES=$gpu $VQNAT teacher-decode --data "$DATA" --checkpoint "$TEACHER" --destdir "$DISTILLED" \
        --beam "$BEAM" --max-tokens "$DISTILL_MAX_TOKENS" --num-shards "$shards" --shard-id "$shard" \
        --threads "$threads" > "$WORK/teacher-decode.shard$shard.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || { echo "a teacher-decode shard failed; see $WORK/teacher-decode.shard*.log" >&2; exit 1; }
  done
fi
# Each shard merges when it finds every chunk done, so the last one to finish writes manifest.json. Machine 0
# retries the merge (loading the teacher, decoding nothing) in case shared-storage caching hid a late chunk.
until [ -f "$DISTILLED/manifest.json" ]; do
  if [ "$NODE_RANK" -eq 0 ]; then
    $VQNAT teacher-decode --data "$DATA" --checkpoint "$TEACHER" --destdir "$DISTILLED" --beam "$BEAM" \
        --max-tokens "$DISTILL_MAX_TOKENS" --num-shards $((NNODES * NPROC)) --shard-id 0
  fi
  [ -f "$DISTILLED/manifest.json" ] || sleep 60
done

# ---- 3. vqnat_base on the distilled data: soft EM with m = 10 samples, mixed precision (fp32 EM statistics) ------
$VQNAT train vqnat "$DISTILLED" --save-dir "$VQNAT_DIR" --preset base --max-update "$VQNAT_UPDATES" \
    `# bottleneck` --recipe paper --num-samples 10 --codebook-size 4096 --compress 3 \
    "${LAUNCH[@]}" \
    `# batch` --update-freq "$UPDATE_FREQ" --amp \
    `# checkpoints` --save-interval-updates 5000 --keep-interval-updates 5
MODEL="$VQNAT_DIR/checkpoint_best.pt"

# ---- 4. test BLEU (newstest2014) and the Table 1 comparison, on machine 0 only ---------------------------------
if [ "$NODE_RANK" -eq 0 ]; then
  $VQNAT generate --data "$DATA" --checkpoint "$TEACHER" --beam "$BEAM" --output "$WORK/newstest2014.teacher.de"
  $VQNAT generate --data "$DATA" --checkpoint "$MODEL" --output "$WORK/newstest2014.vqnat.de"
  $VQNAT bench --data "$DATA" --batch-sizes 1,64 --out "$WORK/bench" \
      --system "ar-beam$BEAM=$TEACHER,beam=$BEAM" \
      --system "ar-greedy=$TEACHER,beam=1" \
      --system "vqnat=$MODEL" \
      --system "vqnat-latent-beam4=$MODEL,latent-beam=4"
  echo "table: $WORK/bench/bench.md"
fi
