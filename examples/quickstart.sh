#!/usr/bin/env bash
# The whole pipeline as plain commands, on the English-Spanish corpus shipped inside the package
# (4,000 / 300 / 300 Bible verse pairs): preprocess, AR teacher, sequence-level distillation,
# vqnat model (soft EM), generate, bench. CPU is enough.
#
#   bash examples/quickstart.sh                                   # tiny preset: a smoke run, BLEU near 0
#   PRESET=small TEACHER_UPDATES=3000 VQNAT_UPDATES=4000 bash examples/quickstart.sh   # numbers worth reading
#
# Rerunning resumes: preprocessing is skipped once done, training continues from checkpoint_last.pt up to
# the update counts, teacher-decode continues at its first missing chunk. After more teacher updates the
# old distillation no longer matches the teacher: remove $WORK/distilled (teacher-decode refuses to mix).
#
# Leaves in $WORK: raw/ (the corpus), data/, teacher/, distilled/, vqnat/, test.*.es (hypotheses), bench/.
set -euo pipefail

VQNAT=${VQNAT:-vqnat}
PYTHON=${PYTHON:-python3}              # the interpreter vqnat is installed in
WORK=${WORK:-runs/quickstart}
PRESET=${PRESET:-tiny}                 # tiny | small (see README: Presets)
VOCAB=${VOCAB:-4000}                   # joint sentencepiece vocabulary
TEACHER_UPDATES=${TEACHER_UPDATES:-600}
VQNAT_UPDATES=${VQNAT_UPDATES:-600}
BEAM=${BEAM:-4}                        # teacher beam for distillation and for the AR beam row of the bench
mkdir -p "$WORK"

# ---- 1. the embedded corpus -> a fairseq data directory -------------------------------------------------------
if [ ! -f "$WORK/data/manifest.json" ]; then
  "$PYTHON" -c 'import sys; from vqnat.data.embedded import extract_embedded_corpus as extract; extract(sys.argv[1])' \
      "$WORK/raw"
  $VQNAT preprocess --source-lang en --target-lang es \
      --trainpref "$WORK/raw/train" --validpref "$WORK/raw/valid" --testpref "$WORK/raw/test" \
      --destdir "$WORK/data" --vocab-size "$VOCAB" --force
fi

# ---- 2. the autoregressive teacher (fairseq transformer) ------------------------------------------------------
$VQNAT train teacher "$WORK/data" --save-dir "$WORK/teacher" --preset "$PRESET" --max-update "$TEACHER_UPDATES"
TEACHER="$WORK/teacher/checkpoint_best.pt"

# ---- 3. sequence-level distillation: the training split re-translated by the teacher --------------------------
$VQNAT teacher-decode --data "$WORK/data" --checkpoint "$TEACHER" --destdir "$WORK/distilled" --beam "$BEAM" \
    --max-len-a 1.5 --max-len-b 10

# ---- 4. the Latent Transformer on the distilled data (soft EM, m = 10 samples) --------------------------------
$VQNAT train vqnat "$WORK/distilled" --save-dir "$WORK/vqnat" --preset "$PRESET" \
    --bottleneck soft_em --num-samples 10 --max-update "$VQNAT_UPDATES"
MODEL="$WORK/vqnat/checkpoint_best.pt"

# ---- 5. translate the test split; each prints sacreBLEU against the raw references ----------------------------
$VQNAT generate --data "$WORK/data" --checkpoint "$TEACHER" --beam "$BEAM" --output "$WORK/test.teacher.es"
$VQNAT generate --data "$WORK/data" --checkpoint "$MODEL" --output "$WORK/test.vqnat.es"

# ---- 6. BLEU, latency at batch 1 and speed-up, like the paper's Table 1 ---------------------------------------
$VQNAT bench --data "$WORK/data" --threads 1 --batch-sizes 1,64 --out "$WORK/bench" \
    --system "ar-beam$BEAM=$TEACHER,beam=$BEAM" \
    --system "ar-greedy=$TEACHER,beam=1" \
    --system "vqnat=$MODEL"
echo "table: $WORK/bench/bench.md"
