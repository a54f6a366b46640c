#!/usr/bin/env bash
# English -> Spanish on a CPU with the small presets: preprocess, AR teacher, distillation (beam 4),
# vqnat (the default recipe, warm-started from the teacher), generate, bench. See README.md beside this
# script for the times to expect.
#
#   RAW=/path/to/bible-en-es bash examples/bible_en_es/run.sh          # train/valid/test.{en,es} in RAW
#   RAW=/path/to/corpus SRC=de TGT=en bash examples/bible_en_es/run.sh # any parallel corpus, same layout
#   bash examples/bible_en_es/run.sh                                   # no RAW: the embedded 4k-pair subset
#
# Rerunning resumes every stage (see examples/quickstart.sh). Leaves in $WORK: data/, teacher/,
# distilled/, vqnat/, test.*.$TGT (hypotheses), bench/ (bench.md, bench.json, bench.png).
set -euo pipefail

VQNAT=${VQNAT:-vqnat}
PYTHON=${PYTHON:-python3}              # the interpreter vqnat is installed in (for the embedded corpus)
RAW=${RAW:-}                           # folder with train/valid/test.$SRC and .$TGT; empty = embedded corpus
SRC=${SRC:-en}
TGT=${TGT:-es}
WORK=${WORK:-runs/bible-$SRC-$TGT}
PRESET=${PRESET:-small}
VOCAB=${VOCAB:-8000}                   # joint sentencepiece vocabulary
WORKERS=${WORKERS:-2}                  # preprocessing processes
UPDATES=${UPDATES:-2000}               # the teacher's and vqnat's budget each (README.md: ~45 and ~80 min)
TEACHER_UPDATES=${TEACHER_UPDATES:-$UPDATES}
VQNAT_UPDATES=${VQNAT_UPDATES:-$UPDATES}
RECIPE=${RECIPE:-pairs}                # or parallel, paper (README: Recipes)
BEAM=${BEAM:-4}
BEAMS_DEFAULT=1,4; if [ "$RECIPE" = parallel ]; then BEAMS_DEFAULT=1; fi  # a parallel predictor has no beam
LATENT_BEAMS=${LATENT_BEAMS:-$BEAMS_DEFAULT}  # beams over vqnat's codes that choose-length tries on valid
LENPEN=${LENPEN:-1.0,1.5,2.0,3.0}     # the teacher's length penalty when it distils: the best of these on valid
[[ "$LATENT_BEAMS" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] \
    || { echo "LATENT_BEAMS=$LATENT_BEAMS: not whole numbers >= 1, comma-separated" >&2; exit 1; }
if [ "$RECIPE" = parallel ] && [ "$LATENT_BEAMS" != 1 ]; then
  echo "LATENT_BEAMS=$LATENT_BEAMS: RECIPE=parallel's latent predictor has no beam search (it refines instead)" >&2
  exit 1
fi
mkdir -p "$WORK"

if [ -z "$RAW" ]; then
  RAW="$WORK/raw"
  "$PYTHON" -c 'import sys; from vqnat.data.embedded import extract_embedded_corpus as extract; extract(sys.argv[1])' \
      "$RAW"
fi
for split in train valid test; do
  for lang in "$SRC" "$TGT"; do
    [ -f "$RAW/$split.$lang" ] || { echo "RAW=$RAW: file $RAW/$split.$lang not found" >&2; exit 1; }
  done
done

# ---- 1. raw text -> data directory (Moses tokenization, joint sentencepiece, joined dictionary) --------------
if [ ! -f "$WORK/data/manifest.json" ]; then
  $VQNAT preprocess --source-lang "$SRC" --target-lang "$TGT" \
      --trainpref "$RAW/train" --validpref "$RAW/valid" --testpref "$RAW/test" \
      --destdir "$WORK/data" --vocab-size "$VOCAB" --workers "$WORKERS" --force
fi

# ---- 2. AR teacher: most of the CPU time goes here, the student can only be as good as it -------------------
$VQNAT train teacher "$WORK/data" --save-dir "$WORK/teacher" --preset "$PRESET" --max-update "$TEACHER_UPDATES" \
    -- --warmup-updates 400 --lr 1e-3
TEACHER="$WORK/teacher/checkpoint_best.pt"

# ---- 3. distillation: the training split re-translated by the teacher (resumable, chunked), with the length
#         penalty its valid translations score best with (a short teacher makes a shorter student) ----------
$VQNAT teacher-decode --data "$WORK/data" --checkpoint "$TEACHER" --destdir "$WORK/distilled" --beam "$BEAM" \
    --lenpen "$LENPEN" --max-len-a 1.5 --max-len-b 10

# ---- 4. vqnat on the distilled data, warm-started from the teacher ----------------------------------------------
if [ "$RECIPE" = paper ]; then  # these flags keep the paper's codebook in use on this corpus (BENCHMARKS.md; pairs has them)
  RECIPE_FLAGS="--train-padding none --em-decay 0.99 --restart-dead-codes --latent-predictor-detach"
else
  RECIPE_FLAGS=""
fi
$VQNAT train vqnat "$WORK/distilled" --save-dir "$WORK/vqnat" --preset "$PRESET" --recipe "$RECIPE" \
    --init-from "$TEACHER" --max-update "$VQNAT_UPDATES" -- --warmup-updates 400 --lr 1e-3 $RECIPE_FLAGS
# the mean of the last 5 checkpoints (one every 200 updates with the small preset) saved in the run's last 40%:
# BENCHMARKS.md measures it ("Averaging a short run": an 800-update run's early checkpoints cost 3 BLEU); a run
# with no such mid-epoch checkpoint (or the tiny preset, which keeps none) goes on with its last one
MIN_UPDATE=$(( VQNAT_UPDATES * 3 / 5 ))
LATE=0
for checkpoint in "$WORK"/vqnat/checkpoint_*_*.pt; do
  updates=${checkpoint##*_}
  if [ -e "$checkpoint" ] && [ "${updates%.pt}" -ge "$MIN_UPDATE" ]; then LATE=1; fi
done
if [ "$LATE" = 1 ]; then
  $VQNAT average "$WORK/vqnat" --last 5 --min-update "$MIN_UPDATE"
  MODEL="$WORK/vqnat/checkpoint_average.pt"
else
  MODEL="$WORK/vqnat/checkpoint_last.pt"
fi
# the decoding length it translates valid best with (1.0-1.2x the predicted one, exact or not), then the beam
# over its codes at that length, kept only for a valid gain the paired bootstrap finds significant (on the
# software messages a gain inside the noise chose a beam that lost on test: BENCHMARKS.md; LATENT_BEAMS=1
# keeps one pass), recorded in the checkpoint: generate and bench below decode with them
$VQNAT choose-length --data "$WORK/data" --checkpoint "$MODEL" --latent-beams "$LATENT_BEAMS"

# ---- 5. test translations with sacreBLEU -------------------------------------------------------------------
$VQNAT generate --data "$WORK/data" --checkpoint "$TEACHER" --beam "$BEAM" --output "$WORK/test.teacher.$TGT"
$VQNAT generate --data "$WORK/data" --checkpoint "$MODEL" --output "$WORK/test.vqnat.$TGT"

# ---- 6. the table: BLEU, batch-1 latency (median, p90), throughput, speed-up vs AR beam and greedy ----------
REFINED=()  # the parallel latent predictor also with 16 mask-predict passes (BENCHMARKS.md: what they buy)
if [ "$RECIPE" = parallel ]; then REFINED=(--system "vqnat-16-passes=$MODEL,latent-iterations=16"); fi
# both models as a CPU deployment would run them, when the engines are installed (the README's install has
# them): the teacher's greedy search in CTranslate2 int8; vqnat's latent search in CTranslate2 and the rest in
# ONNX Runtime int8 (a parallel latent predictor: all of it in ONNX Runtime)
DEPLOYED=()
if "$PYTHON" -c 'import ctranslate2, onnxruntime' 2>/dev/null; then
  ENGINE=ct2; if [ "$RECIPE" = parallel ]; then ENGINE=onnx; fi
  DEPLOYED=(--system "ar-greedy-ct2-int8=$TEACHER,beam=1,engine=ct2,quantize=int8"
            --system "vqnat-$ENGINE-int8=$MODEL,engine=$ENGINE,quantize=int8")
else
  echo "CTranslate2 or ONNX Runtime is not installed for $PYTHON: the bench leaves out the deployment rows" \
       "(pip install 'vqnat[ct2,onnx]')" >&2
fi
$VQNAT bench --data "$WORK/data" --threads 1 --batch-sizes 1,64 --out "$WORK/bench" \
    --system "ar-beam$BEAM=$TEACHER,beam=$BEAM" \
    --system "ar-greedy=$TEACHER,beam=1" \
    --system "vqnat=$MODEL" ${REFINED[@]+"${REFINED[@]}"} ${DEPLOYED[@]+"${DEPLOYED[@]}"}
echo "table: $WORK/bench/bench.md"
