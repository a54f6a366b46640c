"""``vqnat teacher-decode`` on a tiny teacher: fairseq-identical targets, resume, shards and bad input.

One teacher is trained per module (200 updates of the tiny preset on the toy corpus). The full train
split is distilled once and checked against fairseq-generate; resume and shard tests re-translate the
100-sentence valid split in chunks of 10 and must reproduce an uninterrupted run byte for byte.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from vqnat.data.toy_corpus import DEFAULT_TOY_VOCAB, write_toy_corpus
from vqnat_cli.main import cli

pytestmark = pytest.mark.slow

BEAM, LENPEN, MAX_LEN_B = 4, 0.8, 50  # not the defaults, so the comparison also checks they reach the generator
TRAIN_SIZE, VALID_SIZE, VALID_CHUNK = 2000, 100, 10


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def decode_args(data, checkpoint, destdir, *extra):
    return ["teacher-decode", "--data", data, "--checkpoint", checkpoint, "--destdir", destdir, "--cpu",
            "--beam", BEAM, "--lenpen", LENPEN, "--max-len-b", MAX_LEN_B, "--threads", 1, *extra]


def valid_args(data, checkpoint, destdir, *extra):
    return decode_args(data, checkpoint, destdir, "--subset", "valid", "--chunk-size", VALID_CHUNK,
                       "--no-valid-bleu", *extra)


def error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    return lines[0]


def load_split(data_dir: Path, split: str, lang: str):
    from fairseq.data import Dictionary, data_utils

    dictionary = Dictionary.load(str(data_dir / f"dict.{lang}.txt"))
    dataset = data_utils.load_indexed_dataset(str(data_dir / f"{split}.src-tgt.{lang}"), dictionary)
    return dictionary, [dataset[index] for index in range(len(dataset))]


def file_contents(folder: Path) -> dict:
    """Every file under ``folder`` (relative name -> bytes), temporary leftovers included."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def without_last_run(folder: Path) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("last_run")
    return manifest


def assert_same_result(folder: Path, reference: Path) -> None:
    """Identical chunks, binaries and copies; the manifest differs only in what the last run did."""
    ours, theirs = file_contents(folder), file_contents(reference)
    ours.pop("manifest.json"), theirs.pop("manifest.json")
    assert sorted(ours) == sorted(theirs)
    assert [name for name in ours if ours[name] != theirs[name]] == []
    assert without_last_run(folder) == without_last_run(reference)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: the machine is shared, and the kill test's subprocess must compute the same way."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def teacher(toy_data, tmp_path_factory) -> Path:
    save_dir = tmp_path_factory.mktemp("teacher")
    result = invoke("train", "teacher", toy_data, "--save-dir", save_dir, "--preset", "tiny", "--max-update", 200,
                    "--threads", 1)
    assert result.exit_code == 0, result.output
    return save_dir / "checkpoint_last.pt"


@pytest.fixture(scope="module")
def distilled(toy_data, teacher, tmp_path_factory) -> Path:
    destdir = tmp_path_factory.mktemp("distilled") / "data"
    result = invoke(*decode_args(toy_data, teacher, destdir))
    assert result.exit_code == 0, result.output
    return destdir


@pytest.fixture(scope="module")
def valid_reference(toy_data, teacher, tmp_path_factory) -> Path:
    """An uninterrupted, unsharded run over the valid split: what every resumed or sharded run must give."""
    destdir = tmp_path_factory.mktemp("valid_reference") / "data"
    result = invoke(*valid_args(toy_data, teacher, destdir))
    assert result.exit_code == 0, result.output
    return destdir


def fairseq_generate_train(data: Path, checkpoint: Path, results: Path, subset: str = "train",
                           extra=("--max-len-b", str(MAX_LEN_B), "--batch-size", "128")) -> dict:
    """fairseq's own generate on a split (train unless told): hypothesis pieces by sentence id."""
    from fairseq import options
    from fairseq_cli import generate
    from vqnat_cli.fairseq_bridge import user_dir

    argv = [str(data), "--user-dir", user_dir(), "--path", str(checkpoint), "--gen-subset", subset, "--cpu",
            "--beam", str(BEAM), "--lenpen", str(LENPEN), *extra, "--results-path", str(results)]
    generate.main(options.parse_args_and_arch(options.get_generation_parser(), input_args=argv))
    hypotheses = {}
    for line in (results / f"generate-{subset}.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("H-"):
            sentence_id, _score, pieces = line.split("\t")
            hypotheses[int(sentence_id[2:])] = pieces
    return hypotheses


def test_targets_are_fairseq_generate_outputs_in_input_order(toy_data, teacher, distilled, tmp_path):
    dictionary, targets = load_split(distilled, "train", "tgt")
    _, sources = load_split(distilled, "train", "src")
    _, original_sources = load_split(toy_data, "train", "src")
    assert len(targets) == len(sources) == TRAIN_SIZE
    assert all(ours.equal(theirs) for ours, theirs in zip(sources, original_sources))

    expected = fairseq_generate_train(toy_data, teacher, tmp_path)
    assert sorted(expected) == list(range(TRAIN_SIZE))
    ours = [dictionary.string(tokens) for tokens in targets]
    assert [index for index in range(TRAIN_SIZE) if ours[index] != expected[index]] == []
    assert len(set(ours)) > TRAIN_SIZE // 2  # real translations, not one repeated line


def test_the_teacher_s_translations_of_valid_are_a_split_of_their_own(toy_data, teacher, distilled, tmp_path):
    """valid_distilled: valid's sources with the teacher's translations (fairseq-generate's, in input order);
    valid itself keeps the references."""
    dictionary, targets = load_split(distilled, "valid_distilled", "tgt")
    _, sources = load_split(distilled, "valid_distilled", "src")
    _, valid_sources = load_split(toy_data, "valid", "src")
    _, references = load_split(distilled, "valid", "tgt")
    assert len(targets) == len(sources) == VALID_SIZE
    assert all(ours.equal(theirs) for ours, theirs in zip(sources, valid_sources))
    expected = fairseq_generate_train(toy_data, teacher, tmp_path, subset="valid")
    assert len(expected) >= VALID_SIZE * 9 // 10  # fairseq-generate skips sources past the tiny model's positions
    assert {index: dictionary.string(targets[index]) for index in expected} == expected
    assert [dictionary.string(tokens) for tokens in targets] != [dictionary.string(tokens) for tokens in references]
    assert json.loads((distilled / "manifest.json").read_text(encoding="utf-8"))["valid_distilled"] == VALID_SIZE


def test_no_valid_distilled_split_when_valid_is_not_translated(toy_data, teacher, valid_reference, tmp_path):
    """--no-valid-bleu translates nothing of valid; distilling valid itself adds no copy of it."""
    destdir = tmp_path / "test-split"
    result = invoke(*decode_args(toy_data, teacher, destdir, "--subset", "test", "--no-valid-bleu"))
    assert result.exit_code == 0, result.output
    for folder in (destdir, valid_reference):
        assert not list(folder.glob("valid_distilled.*"))
        assert "valid_distilled" not in json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def test_vqnat_trained_on_the_distilled_directory_validates_on_both_valid_splits(distilled, tmp_path, caplog):
    """The latent predictor's accuracy on the references' codes and on the teacher's translations' codes, in
    the training log; checkpoint_best still follows valid."""
    import logging

    caplog.set_level(logging.INFO)
    result = invoke("train", "vqnat", distilled, "--save-dir", tmp_path / "vq", "--preset", "tiny",
                    "--max-update", 3, "--threads", 1)
    assert result.exit_code == 0, result.output
    for subset in ("valid", "valid_distilled"):
        records = [line for line in caplog.text.splitlines() if f"valid on '{subset}' subset" in line]
        assert records and all("latent_acc" in line for line in records), subset
    assert "best_loss" not in "".join(line for line in caplog.text.splitlines() if "'valid_distilled'" in line)


def test_a_valid_subset_the_user_names_wins(distilled, tmp_path, monkeypatch):
    import vqnat_cli.train

    seen = []
    monkeypatch.setattr(vqnat_cli.train, "_run", lambda argv, *_: seen.append(argv))
    for extra in ([], ["--", "--valid-subset", "valid"]):
        result = invoke("train", "vqnat", distilled, "--save-dir", tmp_path / "vq", "--preset", "tiny", *extra)
        assert result.exit_code == 0, result.output
    chosen = [[argv[i + 1] for i, arg in enumerate(argv) if arg == "--valid-subset"] for argv in seen]
    assert chosen == [["valid,valid_distilled"], ["valid"]]


def test_max_len_a_bounds_outputs_by_source_length_as_fairseq_does(toy_data, teacher, tmp_path):
    """a x source length + b, per sentence at batch size 1: identical to fairseq-generate with the same flags."""
    from vqnat.distill import DistillRun
    from vqnat.teacher_decode import length_limit

    destdir = tmp_path / "bounded"
    bound = ["--max-len-a", "0.5", "--max-len-b", "2"]
    result = invoke("teacher-decode", "--data", toy_data, "--checkpoint", teacher, "--destdir", destdir, "--cpu",
                    "--beam", BEAM, "--lenpen", LENPEN, "--subset", "valid", "--no-valid-bleu", "--batch-size", 1,
                    *bound)
    assert result.exit_code == 0, result.output
    dictionary, targets = load_split(destdir, "valid", "tgt")
    _, sources = load_split(destdir, "valid", "src")
    manifest = json.loads((destdir / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["max_len_a"], manifest["max_len_b"]) == (0.5, 2)
    run = DistillRun(**{key: manifest[key] for key in DistillRun.__dataclass_fields__})
    limits = [length_limit(run, len(source)) for source in sources]
    lengths = [len(tokens) - 1 for tokens in targets]  # without EOS
    assert all(length <= limit for length, limit in zip(lengths, limits))
    at_limit = sum(length >= limit for length, limit in zip(lengths, limits))
    assert manifest["outputs_at_length_limit"] == at_limit > 0  # the bound really cut some outputs

    expected = fairseq_generate_train(toy_data, teacher, tmp_path / "fairseq", subset="valid",
                                      extra=(*bound, "--batch-size", "1", "--required-batch-size-multiple", "1"))
    assert [dictionary.string(tokens) for tokens in targets] == [expected[i] for i in range(VALID_SIZE)]


def test_distilled_directory_copies_the_data_and_records_the_run(toy_data, teacher, distilled):
    for name in ("dict.src.txt", "dict.tgt.txt", "spm.model", "raw/valid.tgt", "raw/test.tgt",
                 *(f"{split}.src-tgt.{lang}.{ext}" for split in ("valid", "test") for lang in ("src", "tgt")
                   for ext in ("bin", "idx"))):
        assert (distilled / name).read_bytes() == (toy_data / name).read_bytes(), name

    _, targets = load_split(distilled, "train", "tgt")
    lengths = [len(tokens) - 1 for tokens in targets]  # without EOS
    manifest = json.loads((distilled / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["checkpoint_sha256"] == hashlib.sha256(teacher.read_bytes()).hexdigest()
    assert manifest["dictionary_sha256"] == hashlib.sha256((toy_data / "dict.tgt.txt").read_bytes()).hexdigest()
    assert (manifest["subset"], manifest["beam"], manifest["lenpen"], manifest["max_len_b"]) == \
        ("train", BEAM, LENPEN, MAX_LEN_B)
    assert manifest["num_sentences"] == manifest["last_run"]["sentences"] == TRAIN_SIZE
    assert manifest["last_run"]["threads"] == 1
    assert manifest["empty_outputs"] == lengths.count(0)
    assert manifest["outputs_at_length_limit"] == sum(length >= MAX_LEN_B for length in lengths)
    assert 0.0 <= manifest["teacher_valid_bleu"]["score"] <= 100.0
    assert manifest["teacher_valid_bleu"]["signature"].startswith("nrefs:1|")
    assert manifest["preprocess"] == json.loads((toy_data / "manifest.json").read_text(encoding="utf-8"))


def test_fairseq_translation_task_loads_the_distilled_directory(distilled):
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    args = options.parse_args_and_arch(options.get_training_parser(),
                                       input_args=[str(distilled), "--task", "translation", "--arch", "transformer"])
    task = tasks.setup_task(convert_namespace_to_omegaconf(args).task)
    task.load_dataset("train")
    assert len(task.dataset("train")) == TRAIN_SIZE


def test_stop_after_chunks_then_resume_is_byte_identical(toy_data, teacher, valid_reference, tmp_path):
    destdir = tmp_path / "data"
    stopped = invoke(*valid_args(toy_data, teacher, destdir, "--stop-after-chunks", 3))
    assert stopped.exit_code != 0
    assert len(list((destdir / "chunks").glob("chunk-*.txt"))) == 3
    assert not (destdir / "manifest.json").exists()

    resumed = invoke(*valid_args(toy_data, teacher, destdir))
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((destdir / "manifest.json").read_text())["last_run"]["sentences"] == VALID_SIZE - 3 * VALID_CHUNK
    assert_same_result(destdir, valid_reference)


def test_kill_9_while_decoding_then_resume_is_byte_identical(toy_data, teacher, valid_reference, tmp_path):
    destdir = tmp_path / "data"
    command = [sys.executable, "-c", "from vqnat_cli.main import cli; cli()",
               *map(str, valid_args(toy_data, teacher, destdir))]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}  # same arithmetic as this process (one_thread)
    # The decoder runs at the lowest priority so that this process sees its first chunk long before its last.
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=lambda: os.nice(19))
    first_chunk = destdir / "chunks" / "chunk-000000.txt"
    deadline = time.monotonic() + 300
    while not first_chunk.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    stderr = process.communicate()[1].decode(errors="replace")
    assert first_chunk.exists(), stderr[-2000:]
    assert process.returncode == -signal.SIGKILL
    done = len(list((destdir / "chunks").glob("chunk-*.txt")))
    assert 1 <= done < VALID_SIZE // VALID_CHUNK and not (destdir / "manifest.json").exists()

    resumed = invoke(*valid_args(toy_data, teacher, destdir))
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((destdir / "manifest.json").read_text())["last_run"]["sentences"] == \
        VALID_SIZE - done * VALID_CHUNK
    for leftover in (destdir / "chunks").glob(".*.tmp"):  # a write the kill cut short is never read
        leftover.unlink()
    assert_same_result(destdir, valid_reference)


def test_shards_on_two_machines_merge_into_the_same_result(toy_data, teacher, valid_reference, tmp_path):
    machine_a, machine_b = tmp_path / "a", tmp_path / "b"
    for machine, shard in ((machine_a, 0), (machine_b, 1)):
        result = invoke(*valid_args(toy_data, teacher, machine, "--num-shards", 2, "--shard-id", shard))
        assert result.exit_code == 0 and f"shard {shard} done" in result.output, result.output
        assert not (machine / "manifest.json").exists() and not (machine / "valid.src-tgt.tgt.bin").exists()
    chunks_a = {path.name for path in (machine_a / "chunks").glob("chunk-*.txt")}
    chunks_b = {path.name for path in (machine_b / "chunks").glob("chunk-*.txt")}
    assert not chunks_a & chunks_b and len(chunks_a | chunks_b) == VALID_SIZE // VALID_CHUNK
    assert abs(len(chunks_a) - len(chunks_b)) <= 1

    for name in chunks_a:
        shutil.copy2(machine_a / "chunks" / name, machine_b / "chunks" / name)
    merged = invoke(*valid_args(toy_data, teacher, machine_b, "--num-shards", 2, "--shard-id", 0))
    assert merged.exit_code == 0, merged.output
    assert json.loads((machine_b / "manifest.json").read_text())["last_run"]["sentences"] == 0
    assert_same_result(machine_b, valid_reference)


def test_shards_side_by_side_share_the_cores_unless_told_otherwise(toy_data, teacher, tmp_path):
    """The decoding process runs the cores divided by --num-shards by default, --threads when given."""
    import torch

    from vqnat.threads import threads_per_process

    one_chunk = ["--subset", "valid", "--chunk-size", VALID_CHUNK, "--no-valid-bleu", "--num-shards", 2,
                 "--stop-after-chunks", 1]
    base = ["teacher-decode", "--data", toy_data, "--checkpoint", teacher, "--cpu", *one_chunk]
    try:
        for destdir, extra, expected in ((tmp_path / "a", [], threads_per_process(2)),
                                         (tmp_path / "b", ["--threads", 3], 3)):
            torch.set_num_threads(5)
            result = invoke(*base, "--destdir", destdir, *extra)
            assert "stopped after 1 chunk" in result.output, result.output
            assert torch.get_num_threads() == expected
    finally:
        torch.set_num_threads(1)


@pytest.fixture(scope="module")
def other_teacher(tmp_path_factory) -> Path:
    """A teacher trained on another corpus whose dictionary has a different size."""
    from vqnat.data.preprocess import preprocess_corpus

    root = tmp_path_factory.mktemp("other")
    raw = write_toy_corpus(root / "raw", n_train=200, n_valid=20, n_test=20, vocab=DEFAULT_TOY_VOCAB[:12])
    data = preprocess_corpus("src", "tgt", raw / "train", raw / "valid", root / "data", vocab_size=200,
                             tokenizer="none")
    result = invoke("train", "teacher", data, "--save-dir", root / "teacher", "--preset", "tiny", "--max-update", 1,
                    "--threads", 1)
    assert result.exit_code == 0, result.output
    return root / "teacher" / "checkpoint_last.pt"


def test_missing_checkpoint_is_refused(toy_data, tmp_path):
    missing = tmp_path / "nope.pt"
    assert str(missing) in error_line(invoke(*decode_args(toy_data, missing, tmp_path / "out")))
    assert not (tmp_path / "out").exists()


def test_truncated_checkpoint_is_refused(toy_data, teacher, tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(teacher.read_bytes()[: teacher.stat().st_size // 2])
    line = error_line(invoke(*decode_args(toy_data, truncated, tmp_path / "out")))
    assert "cannot load checkpoint" in line and str(truncated) in line
    assert not (tmp_path / "out").exists()


def test_teacher_trained_on_other_data_is_refused(toy_data, other_teacher, tmp_path):
    line = error_line(invoke(*decode_args(toy_data, other_teacher, tmp_path / "out")))
    assert str(other_teacher) in line and str(toy_data / "dict.tgt.txt") in line
    assert not (tmp_path / "out").exists()


def test_destination_of_another_run_is_left_untouched(toy_data, teacher, valid_reference, tmp_path):
    destdir = tmp_path / "data"
    shutil.copytree(valid_reference, destdir)
    before = file_contents(destdir)
    line = error_line(invoke(*valid_args(toy_data, teacher, destdir, "--beam", 2)))
    assert "differs in: beam" in line and str(destdir) in line
    assert file_contents(destdir) == before


def test_destination_holding_other_files_is_refused(toy_data, teacher, tmp_path):
    destdir = tmp_path / "data"
    destdir.mkdir()
    (destdir / "notes.txt").write_text("mine\n")
    assert "not empty" in error_line(invoke(*valid_args(toy_data, teacher, destdir)))
    assert file_contents(destdir) == {"notes.txt": b"mine\n"}


def test_several_lenpens_distil_with_the_one_best_on_valid(toy_data, teacher, tmp_path, monkeypatch):
    """--lenpen A,B,C: valid translated with each, the best one distils exactly as if given alone, and a
    resumed run takes the recorded choice without translating valid again."""
    import vqnat.teacher_decode as decode

    destdir, lenpens = tmp_path / "chosen", "0.2,1.0,4.0"
    stopped = invoke(*valid_args(toy_data, teacher, destdir, "--lenpen", lenpens, "--stop-after-chunks", 1))
    assert "stopped after 1 chunk" in stopped.output, stopped.output
    choice = json.loads((destdir / "lenpen_choice.json").read_text(encoding="utf-8"))
    scores = {float(lenpen): score for lenpen, score in choice["valid_bleu"].items()}
    assert sorted(scores) == [0.2, 1.0, 4.0] and len(set(scores.values())) > 1  # the penalty matters here
    assert choice["chosen"] == min(lenpen for lenpen, score in scores.items() if score == max(scores.values()))

    calls = []
    monkeypatch.setattr(decode, "valid_bleu", lambda *args: calls.append(args) or (0.0, ""))
    resumed = invoke(*valid_args(toy_data, teacher, destdir, "--lenpen", lenpens))
    assert resumed.exit_code == 0, resumed.output
    assert calls == []
    manifest = json.loads((destdir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["lenpen"] == choice["chosen"]
    assert manifest["lenpen_choice"]["valid_bleu"] == choice["valid_bleu"]

    alone = tmp_path / "alone"
    result = invoke(*valid_args(toy_data, teacher, alone, "--lenpen", choice["chosen"]))
    assert result.exit_code == 0, result.output
    assert file_contents(destdir / "chunks") == file_contents(alone / "chunks")

    monkeypatch.undo()
    scored = tmp_path / "scored"  # the manifest's teacher valid BLEU is the chosen penalty's
    result = invoke(*decode_args(toy_data, teacher, scored, "--subset", "valid", "--lenpen", lenpens))
    assert result.exit_code == 0, result.output
    manifest = json.loads((scored / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["teacher_valid_bleu"]["score"] == max(scores.values())


def test_several_lenpens_without_a_valid_split_are_refused(toy_data, teacher, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(toy_data, data)
    for path in data.glob("valid.*"):
        path.unlink()
    line = error_line(invoke(*decode_args(data, teacher, tmp_path / "out", "--lenpen", "1.0,2.0")))
    assert "--lenpen 1.0,2.0" in line and "valid split" in line and str(data) in line
    assert not (tmp_path / "out").exists()
