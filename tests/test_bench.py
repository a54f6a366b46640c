"""``vqnat bench``: outputs, latency bookkeeping, decoder-step accounting, speed-up arithmetic, bad input.

One tiny AR teacher is trained per module and benchmarked once through the CLI (greedy and beam 3, each
in its own process); the vqnat and fairseq NAT accounting runs ``measure_system`` in-process on tiny
models of their own. Nothing here asserts a duration.
"""
import importlib.util
import json
import struct

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from matplotlib.text import Text

from vqnat.bench import BenchError, parse_batch_sizes, parse_system
from vqnat.bench.compare import add_comparisons
from vqnat.bench.plot import bleu_latency_figure, label_bottoms, pareto_front
from vqnat.bench.steps import DecoderStepCounter, decoder_stacks
from vqnat_cli.bench import bench
from vqnat_cli.main import cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEST_SENTENCES = 10


@pytest.fixture(scope="module")
def bench_data(tmp_path_factory):
    from vqnat.data.preprocess import preprocess_corpus
    from vqnat.data.toy_corpus import write_toy_corpus

    raw = write_toy_corpus(tmp_path_factory.mktemp("bench_raw"), n_train=600, n_valid=8, n_test=TEST_SENTENCES)
    return preprocess_corpus("src", "tgt", raw / "train", raw / "valid", tmp_path_factory.mktemp("bench") / "data",
                             testpref=raw / "test", vocab_size=200, tokenizer="none")


def train_tiny(data, save_dir, command="teacher", *fairseq_args, updates="40"):
    """A tiny model after a few updates: enough to stop at EOS, which is all the bench needs."""
    result = CliRunner().invoke(cli, ["train", command, str(data), "--save-dir", str(save_dir), "--preset", "tiny",
                                      "--max-update", updates, *fairseq_args])
    assert result.exit_code == 0, result.output
    return save_dir / "checkpoint_last.pt"


@pytest.fixture(scope="module")
def teacher(bench_data, tmp_path_factory):
    return train_tiny(bench_data, tmp_path_factory.mktemp("teacher"))


@pytest.fixture(scope="module")
def bench_run(bench_data, teacher, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_out")
    args = ["--data", str(bench_data), "--system", f"greedy={teacher}", "--system", f"beam3={teacher},beam=3",
            "--batch-sizes", "1,4", "--warmup", "2", "--threads", "1", "--out", str(out)]
    result = CliRunner().invoke(bench, args)
    assert result.exit_code == 0, result.output
    return result.output, out, json.loads((out / "bench.json").read_text(encoding="utf-8"))


def systems_by_name(report):
    return {system["name"]: system for system in report["systems"]}


@pytest.mark.slow
def test_bench_writes_table_json_and_png(bench_run):
    printed, out, report = bench_run
    table = (out / "bench.md").read_text(encoding="utf-8")
    assert table in printed
    rows, stage_rows = [block.splitlines() for block in table.split("\n\n") if block.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header[:14] == ["System", "Updates", "BLEU", "BLEU / AR greedy", "tok-BLEU", "BLEU, reference length",
                           "BLEU, oracle codes", "BLEU, random codes", "BLEU, best candidate", "Latency median (ms)",
                           "Latency p90 (ms)", "Speed-up vs beam", "Speed-up vs greedy", "Steps / sent."]
    assert header[14:] == ["Sent/s @4", "Tok/s @4", "Peak MB"]
    assert [row.split("|")[1].strip() for row in rows[2:]] == ["greedy", "beam3"]
    assert [row.split("|")[2].strip() for row in rows[2:]] == ["40", "40"]  # the teacher's training updates
    assert rows[2].split("|")[4].strip() == "1.00"  # AR greedy against itself
    for column in (6, 7, 8, 9):  # no codes in an AR model
        assert [row.split("|")[column].strip() for row in rows[2:]] == ["–", "–"]
    assert all(len(row.strip("|").split("|")) == len(header) for row in rows)
    assert [cell.strip() for cell in stage_rows[0].strip("|").split("|")] == [
        "System", "Encoder (ms)", "Sequential decoder passes (ms)", "Parallel decoder (ms)", "Rest (ms)",
        "Mean latency (ms)"]
    assert [row.split("|")[1].strip() for row in stage_rows[2:]] == ["greedy", "beam3"]

    assert set(report) == {"format_version", "settings", "environment", "references", "systems"}
    assert report["settings"]["batch_sizes"] == [1, 4] and report["environment"]["threads"] == 1
    for key in ("cpu_model", "torch", "fairseq", "device"):
        assert report["environment"][key]
    for system in report["systems"]:
        assert system["kind"] == "ar" and system["sentences"] == TEST_SENTENCES and system["oracle_codes"] is None
        assert 0 <= system["bleu"] <= 100 and 0 <= system["tok_bleu"] <= 100
        assert "tok:13a" in system["bleu_signature"] and "tok:none" in system["tok_bleu_signature"]
        assert [entry["batch_size"] for entry in system["throughput"]] == [1, 4]
        assert system["memory"]["peak_rss_mb"] >= system["memory"]["baseline_rss_mb"] > 0
        assert system["training_updates"] == {"own": 40, "warm_start": None}
        assert system["decoding_length"] is None
    assert "Decoding length" not in table

    png = (out / "bench.png").read_bytes()
    assert png[:8] == PNG_SIGNATURE and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 300 and height >= 200 and len(png) > 5000
    assert not [path.name for path in out.iterdir() if path.name.startswith(".")]


@pytest.mark.slow
def test_latencies_are_positive_and_summarized_from_every_sentence(bench_run):
    for system in bench_run[2]["systems"]:
        latency = system["latency_ms"]
        values = np.array(latency["per_sentence"])
        assert len(values) == TEST_SENTENCES and (values > 0).all()
        assert latency["median"] == pytest.approx(np.median(values))
        assert latency["mean"] == pytest.approx(values.mean())
        assert latency["median"] <= latency["p90"] <= values.max()
        batch_one = system["throughput"][0]
        assert batch_one["seconds"] * 1000 == pytest.approx(values.sum())
        assert batch_one["tokens_per_s"] == pytest.approx(
            sum(system["target_tokens"]["per_sentence"]) / batch_one["seconds"])
        assert system["throughput"][1]["sentences_per_s"] > 0


@pytest.mark.slow
def test_ar_steps_are_one_decoder_call_per_output_token(bench_run):
    systems = systems_by_name(bench_run[2])
    for system in systems.values():
        steps = system["steps"]["per_sentence"]
        assert list(system["steps"]["by_stack"]) == ["decoder"]
        assert sum(steps) == system["steps"]["by_stack"]["decoder"]
        assert system["steps"]["mean"] == pytest.approx(np.mean(steps))
    greedy = systems["greedy"]
    # greedy search stops when the best (only) hypothesis emits EOS: one call per token, EOS included
    assert greedy["steps"]["per_sentence"] == [length + 1 for length in greedy["target_tokens"]["per_sentence"]]
    # beam search needs at least as many calls as its best hypothesis has tokens (+ EOS), never fewer
    beam = systems["beam3"]
    assert all(steps >= length + 1 for steps, length in
               zip(beam["steps"]["per_sentence"], beam["target_tokens"]["per_sentence"]))


def assert_stages_add_up(system, present, absent):
    """Each sentence's stages add up to its latency; the named stages took time, the others none."""
    stages = system["latency_by_stage_ms"]
    assert set(stages) == {"encoder", "sequential", "parallel", "rest"}
    total = np.sum([stages[name]["per_sentence"] for name in stages], axis=0)
    np.testing.assert_allclose(total, system["latency_ms"]["per_sentence"], rtol=1e-9, atol=1e-9)
    assert min(stages["rest"]["per_sentence"]) >= -1e-9
    assert all(min(stages[name]["per_sentence"]) > 0 for name in present)
    assert all(max(stages[name]["per_sentence"]) == 0 for name in absent)
    assert sum(stages[name]["mean"] for name in stages) == pytest.approx(system["latency_ms"]["mean"])


@pytest.mark.slow
def test_ar_latency_is_encoder_and_sequential_decoder_passes(bench_run):
    for system in bench_run[2]["systems"]:
        assert_stages_add_up(system, present=("encoder", "sequential"), absent=("parallel",))


def test_stage_timer_counts_nested_calls_once_and_gives_the_methods_back(monkeypatch):
    from torch import nn

    from vqnat.bench import stages

    class Stack(nn.Module):
        def __init__(self, inner=None):
            super().__init__()
            self.inner = [inner]  # not a submodule

        def forward(self, x):
            return self.inner[0](x) + 1 if self.inner[0] is not None else x + 1

    model = nn.Module()
    model.encoder = Stack()
    model.decoder = Stack(inner=model.encoder)  # a decoder pass that runs the encoder inside it
    ticks = iter(range(100))
    monkeypatch.setattr(stages.time, "perf_counter", lambda: float(next(ticks)))
    timer = stages.StageTimer(model, "ar")
    assert int(model.encoder(torch.zeros(1))) == 1
    for _ in range(3):
        assert int(model.decoder.forward(torch.zeros(1))) == 2  # direct calls are timed too
    assert timer.seconds == {"encoder": 1.0, "sequential": 3.0, "parallel": 0.0}
    timer.reset()
    assert timer.seconds == {"encoder": 0.0, "sequential": 0.0, "parallel": 0.0}
    timer.remove()
    assert "forward" not in vars(model.encoder) and "forward" not in vars(model.decoder)
    assert int(model.decoder(torch.zeros(1))) == 2 and timer.seconds["sequential"] == 0.0
    with pytest.raises(ValueError, match="kind 'lm'"):
        stages.StageTimer(model, "lm")


@pytest.mark.slow
def test_speedups_are_computed_from_the_stored_medians(bench_run):
    printed, _, report = bench_run
    assert report["references"] == {"beam": "beam3", "greedy": "greedy"}
    systems = systems_by_name(report)
    for system in systems.values():
        for key, reference in (("beam", "beam3"), ("greedy", "greedy")):
            expected = systems[reference]["latency_ms"]["median"] / system["latency_ms"]["median"]
            assert system[f"speedup_vs_{key}"] == pytest.approx(expected)
            assert f"{expected:.2f}×" in printed
    assert systems["greedy"]["speedup_vs_greedy"] == systems["beam3"]["speedup_vs_beam"] == 1.0
    assert systems["greedy"]["bleu_vs_greedy"] == 1.0
    assert systems["beam3"]["bleu_vs_greedy"] == pytest.approx(systems["beam3"]["bleu"] / systems["greedy"]["bleu"])


def row(name, kind, median, beam=None, bleu=20.0):
    return {"name": name, "kind": kind, "beam": beam, "latency_ms": {"median": median}, "bleu": bleu}


def test_the_notes_say_at_which_length_and_latent_beam_each_vqnat_row_decoded():
    from vqnat.bench.report import _length_notes

    report = {"systems": [{"name": "ar", "decoding_length": None, "latent_beam": None},
                          {"name": "chosen", "decoding_length": {"scale": 1.1, "exact": True}, "latent_beam": 4},
                          {"name": "plain", "decoding_length": {"scale": 1.0, "exact": False}, "latent_beam": 1}]}
    assert _length_notes(report) == ["- Decoding length (vqnat rows, times the predicted length; exact: no EOS "
                                     "before it): chosen: 1.1x, exact, latent beam 4; plain: 1x."]
    assert _length_notes({"systems": [{"name": "ar", "decoding_length": None}]}) == []


def test_add_comparisons_uses_first_ar_beam_and_greedy_rows():
    rows = [row("vq", "vqnat", 81.0, bleu=26.7), row("ar-greedy", "ar", 265.0, 1, bleu=27.0),
            row("ar-beam4", "ar", 331.0, 4), row("ar-beam8", "ar", 500.0, 8), row("cmlm", "nat", 50.0)]
    assert add_comparisons(rows) == {"beam": "ar-beam4", "greedy": "ar-greedy"}
    by_name = {r["name"]: r for r in rows}
    assert by_name["vq"]["speedup_vs_beam"] == pytest.approx(331 / 81)  # the paper's 4.08x
    assert by_name["vq"]["speedup_vs_greedy"] == pytest.approx(265 / 81)  # the paper's 3.3x
    assert by_name["ar-greedy"]["speedup_vs_beam"] == pytest.approx(331 / 265)
    assert by_name["ar-beam8"]["speedup_vs_beam"] == pytest.approx(331 / 500)
    assert by_name["cmlm"]["speedup_vs_greedy"] == pytest.approx(265 / 50)
    assert by_name["vq"]["bleu_vs_greedy"] == pytest.approx(26.7 / 27.0)  # the paper's 0.99x
    assert by_name["ar-greedy"]["bleu_vs_greedy"] == 1.0

    without_ar = [row("vq", "vqnat", 81.0), row("cmlm", "nat", 50.0)]
    assert add_comparisons(without_ar) == {"beam": None, "greedy": None}
    assert all(r["speedup_vs_beam"] is None and r["speedup_vs_greedy"] is None and r["bleu_vs_greedy"] is None
               for r in without_ar)


def test_pareto_front_keeps_only_unbeaten_points_fastest_first():
    #           0 fast/bad   1 beaten by 0  2 mid     3 slow/best  4 beaten by 2 and 3  5 duplicate of 2
    points = [(10.0, 20.0), (12.0, 19.0), (30.0, 25.0), (90.0, 28.0), (95.0, 25.0), (30.0, 25.0)]
    assert pareto_front(points) == [0, 2, 5, 3]
    assert pareto_front([(5.0, 1.0)]) == [0]


def test_label_bottoms_stack_labels_that_would_overlap_and_leave_the_others_on_their_points():
    spans = [(0.0, 100.0), (10.0, 90.0), (50.0, 150.0), (500.0, 600.0)]
    heights = [100.0, 104.0, 106.0, 105.0]  # 0, 1, 2 collide; 3 is far to the right
    bottoms = label_bottoms(spans, heights, height=13.0)
    centred = [h - 13.0 / 2 for h in heights]
    assert bottoms[0] == centred[0] and bottoms[3] == centred[3]
    assert bottoms[1] == bottoms[0] + 13.0 and bottoms[2] == bottoms[1] + 13.0


def test_bleu_latency_plot_labels_of_clustered_systems_do_not_overlap_and_stay_in_the_figure():
    systems = [{"name": f"vqnat-{k}k-updates", "latency_ms": {"median": 23.0 + 0.2 * k}, "bleu": 12.0 + 0.1 * k}
               for k in range(5)] + [{"name": "ar-greedy", "latency_ms": {"median": 127.0}, "bleu": 18.0}]
    figure = bleu_latency_figure(systems, "test")
    figure.canvas.draw()  # as saving it does: annotations take their positions when drawn
    renderer = figure.canvas.get_renderer()
    labels = [text for text in figure.axes[0].texts if text.get_text() in {s["name"] for s in systems}]
    boxes = [Text.get_window_extent(label, renderer) for label in labels]  # the text alone, not its leader line
    assert len(boxes) == len(systems)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(figure.bbox.contains(box.x0, box.y0) and figure.bbox.contains(box.x1, box.y1) for box in boxes)


class ToyStack(torch.nn.Module):
    """A fairseq decoder with two layers and attention inside, run ``passes`` times per call."""

    def __init__(self):
        from fairseq.models import FairseqIncrementalDecoder
        from fairseq.modules import MultiheadAttention

        super().__init__()
        decoder = FairseqIncrementalDecoder(dictionary=None)
        decoder.layers = torch.nn.ModuleList([torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)])
        self.encoder_attention = MultiheadAttention(4, 1)
        self.decoder = decoder

    def forward(self, x, passes):
        for _ in range(passes):
            for layer in self.decoder.layers:
                x = layer(x)
        return self.encoder_attention(x, x, x)[0]


def test_step_counter_counts_passes_through_layers_not_attention_modules():
    model = ToyStack()
    assert [name for name, _ in decoder_stacks(model)] == ["decoder"]
    counter = DecoderStepCounter(model)
    with torch.inference_mode():
        model(torch.zeros(3, 1, 4), passes=5)
        assert counter.counts == {"decoder": 5} and counter.total == 5
        counter.reset()
        model(torch.zeros(3, 1, 4), passes=2)
        assert counter.total == 2
        counter.remove()
        model(torch.zeros(3, 1, 4), passes=2)
    assert counter.total == 2


def test_parse_system_and_batch_sizes(teacher):
    spec = parse_system(f"ar-beam4={teacher},beam=4,lenpen=0.6")
    assert (spec.name, spec.checkpoint, spec.kind, spec.beam) == ("ar-beam4", str(teacher), "ar", 4)
    assert spec.generation == {"beam": 4, "lenpen": 0.6}
    assert parse_system(f"g={teacher}").beam == 1
    assert parse_batch_sizes("1,64") == (1, 64)
    for text in ("", "1,x", "0,4", "4,4"):
        with pytest.raises(BenchError):
            parse_batch_sizes(text)


@pytest.mark.parametrize("system, reason", [
    ("no-checkpoint", "expected NAME=CHECKPOINT"),
    ("=CKPT", "expected NAME=CHECKPOINT"),
    ("x=/no/such/model.pt", "checkpoint not found"),
    ("x=CKPT,colour=red", "unknown option 'colour'"),
    ("x=CKPT,beam", "is not opt=value"),
    ("x=CKPT,beam=0", "bad value '0' for beam"),
    ("x=CKPT,latent-beam=2", "does not apply to autoregressive models"),
    ("x=CKPT,iterations=2", "does not apply to autoregressive models"),
    ("x=CKPT,latent-samples=4", "does not apply to autoregressive models"),
    ("x=CKPT,latent-temperature=0", "bad value '0' for latent_temperature: must be > 0"),
    ("x=CKPT,length-scale=1.1", "does not apply to autoregressive models"),
    ("x=CKPT,exact-length=maybe", "bad value 'maybe' for exact_length: must be true or false"),
    ("x=CKPT,engine=tensorrt", "bad value 'tensorrt' for engine"),
    ("x=CKPT,engine=onnx", "engine onnx runs vqnat models only, not ar"),
    ("x=CKPT,quantize=int4", "bad value 'int4' for quantize"),
    ("x=DATA/dict.src.txt", "cannot load checkpoint"),
])
def test_bad_system_value_is_one_error_line_naming_it(bench_data, teacher, tmp_path, system, reason):
    system = system.replace("CKPT", str(teacher)).replace("DATA", str(bench_data))
    result = CliRunner().invoke(bench, ["--data", str(bench_data), "--system", system, "--out", str(tmp_path)])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --system") and repr(system) in lines[0], lines
    assert reason in lines[0]
    assert not list(tmp_path.iterdir())


def test_repeated_system_names_are_refused(bench_data, teacher, tmp_path):
    args = ["--data", str(bench_data), "--system", f"a={teacher}", "--system", f"a={teacher},beam=2",
            "--out", str(tmp_path)]
    result = CliRunner().invoke(bench, args)
    assert result.exit_code != 0 and result.output.strip() == "Error: --system names must be distinct; repeated: a"


def measure_in_process(data, checkpoint, **options):
    from vqnat.bench.measure import measure_system

    spec = parse_system(",".join([f"sys={checkpoint}", *(f"{key}={value}" for key, value in options.items())]))
    return measure_system(spec, str(data), "test", batch_sizes=(1, 4), threads=1, warmup=1)


def latents_decoded(data, checkpoint):
    """Number of latent codes in each test sentence's hypothesis, straight from the vqnat generator."""
    from vqnat.translate import Translator

    translator = Translator(str(checkpoint), str(data))
    sources = translator.split_sources("test")
    counts = [0] * len(sources)
    with torch.inference_mode():
        for sample in translator.batches(sources, 1):
            hypotheses = translator.task.inference_step(translator.generator, translator.hub.models, sample)
            counts[int(sample["id"][0])] = int(hypotheses[0][0]["latent_codes"].numel())
    return counts


@pytest.mark.slow
def test_vqnat_steps_are_one_latent_predictor_pass_per_latent_plus_one_decoder_pass(bench_data, tmp_path):
    checkpoint = train_tiny(bench_data, tmp_path / "vqnat", "vqnat", "--recipe", "paper", updates="10")
    result = measure_in_process(bench_data, checkpoint)
    assert result["kind"] == "vqnat"
    assert result["decoding_length"] == {"scale": 1.0, "exact": False} and result["latent_beam"] == 1
    latents = latents_decoded(bench_data, checkpoint)
    assert min(latents) >= 1
    assert result["steps"]["per_sentence"] == [count + 1 for count in latents]
    assert result["steps"]["by_stack"] == {"decoder": TEST_SENTENCES, "latent_predictor.decoder": sum(latents)}
    assert_stages_add_up(result, present=("encoder", "sequential", "parallel"), absent=())
    oracle = result["oracle_codes"]
    assert all(0 <= oracle[key] <= 100 for key in ("bleu", "random_codes_bleu", "reference_length_bleu"))
    assert 0 <= oracle["latent_accuracy"] <= 1


@pytest.mark.slow
def test_parallel_vqnat_is_two_passes_and_rescoring_adds_one_teacher_pass(bench_data, teacher, tmp_path):
    checkpoint = train_tiny(bench_data, tmp_path / "vqnat", "vqnat", updates="10")  # the parallel recipe
    plain = measure_in_process(bench_data, checkpoint)
    assert plain["steps"]["per_sentence"] == [2] * TEST_SENTENCES
    assert plain["steps"]["by_stack"] == {"decoder": TEST_SENTENCES, "latent_predictor.decoder": TEST_SENTENCES}
    assert_stages_add_up(plain, present=("encoder", "sequential", "parallel"), absent=())
    assert plain["oracle_codes"]["best_candidate_bleu"] is None
    refined = measure_in_process(bench_data, checkpoint, latent_iterations=3)
    # up to 3 latent predictor passes, one per code for a sentence of fewer codes, + the decoder
    assert all(2 <= steps <= 4 for steps in refined["steps"]["per_sentence"])
    assert 4 in refined["steps"]["per_sentence"]
    rescored = measure_in_process(bench_data, checkpoint, length_beam=3, rescore=teacher)
    assert rescored["steps"]["per_sentence"] == [3] * TEST_SENTENCES  # candidates share each pass
    assert rescored["steps"]["by_stack"]["rescorer.decoder"] == TEST_SENTENCES
    assert_stages_add_up(rescored, present=("encoder", "sequential", "parallel"), absent=())
    assert 0 <= rescored["oracle_codes"]["best_candidate_bleu"] <= 100


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ctranslate2") is None, reason="CTranslate2 is not installed")
def test_rescoring_teacher_in_ct2_is_one_timed_pass_and_keeps_the_same_candidates(bench_data, teacher, tmp_path):
    checkpoint = train_tiny(bench_data, tmp_path / "vqnat", "vqnat", updates="10")
    in_torch = measure_in_process(bench_data, checkpoint, length_beam=3, rescore=teacher)
    in_ct2 = measure_in_process(bench_data, checkpoint, length_beam=3, rescore=teacher, rescore_engine="ct2")
    assert in_ct2["steps"]["per_sentence"] == [3] * TEST_SENTENCES
    assert in_ct2["steps"]["by_stack"]["rescorer"] == TEST_SENTENCES
    assert_stages_add_up(in_ct2, present=("encoder", "sequential", "parallel"), absent=())
    assert in_ct2["bleu"] == pytest.approx(in_torch["bleu"])  # float32: fairseq's scores, the same ranking
    with pytest.raises(BenchError, match="add rescore=TEACHER.pt"):
        parse_system(f"x={checkpoint},rescore-engine=ct2")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="ONNX Runtime is not installed")
def test_onnx_row_translates_and_counts_passes_as_the_pytorch_row(bench_data, tmp_path):
    checkpoint = train_tiny(bench_data, tmp_path / "vqnat", "vqnat", updates="10")  # the parallel recipe
    plain = measure_in_process(bench_data, checkpoint, latent_iterations=2)
    onnx = measure_in_process(bench_data, checkpoint, latent_iterations=2, engine="onnx")
    assert (onnx["engine"], onnx["quantize"], onnx["kind"]) == ("onnx", "float32", "vqnat")
    assert onnx["bleu"] == plain["bleu"] and onnx["target_tokens"] == plain["target_tokens"]
    assert onnx["steps"]["per_sentence"] == plain["steps"]["per_sentence"]
    assert all(2 <= steps <= 3 for steps in plain["steps"]["per_sentence"])
    latent_passes = sum(plain["steps"]["per_sentence"]) - TEST_SENTENCES
    assert onnx["steps"]["by_stack"] == {"decoder": TEST_SENTENCES, "latent_predictor": latent_passes}
    assert onnx["oracle_codes"]["bleu"] == plain["oracle_codes"]["bleu"]
    assert_stages_add_up(onnx, present=("encoder", "sequential", "parallel"), absent=())
    assert onnx["environment"]["onnxruntime"]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="ONNX Runtime is not installed")
def test_onnx_steps_of_an_autoregressive_latent_predictor_are_counted_and_timed_as_pytorch_s(bench_data, tmp_path):
    checkpoint = train_tiny(bench_data, tmp_path / "vqnat", "vqnat", "--recipe", "pairs", updates="10")
    plain = measure_in_process(bench_data, checkpoint)
    onnx = measure_in_process(bench_data, checkpoint, engine="onnx")
    assert onnx["bleu"] == plain["bleu"] and onnx["target_tokens"] == plain["target_tokens"]
    assert onnx["steps"]["per_sentence"] == plain["steps"]["per_sentence"]
    assert onnx["steps"]["by_stack"] == plain["steps"]["by_stack"]
    assert onnx["steps"]["by_stack"]["latent_predictor.decoder"] > TEST_SENTENCES  # a step per code, several codes
    assert_stages_add_up(onnx, present=("encoder", "sequential", "parallel"), absent=())


@pytest.mark.slow
def test_fairseq_nat_steps_are_refinement_passes(bench_data, tmp_path):
    checkpoint = train_tiny(bench_data, tmp_path / "cmlm", "teacher", "--task", "translation_lev",
                            "--arch", "cmlm_transformer", "--criterion", "nat_loss", "--noise", "random_mask",
                            updates="10")
    one_pass = measure_in_process(bench_data, checkpoint, iterations=0)
    assert one_pass["kind"] == "nat"
    assert one_pass["steps"]["per_sentence"] == [1] * TEST_SENTENCES
    assert_stages_add_up(one_pass, present=("encoder", "parallel"), absent=("sequential",))
    refined = measure_in_process(bench_data, checkpoint, iterations=3)
    assert all(1 <= steps <= 4 for steps in refined["steps"]["per_sentence"])


def _child_peak_mb(queue) -> None:
    from vqnat.bench.measure import peak_rss_mb

    queue.put(peak_rss_mb())


def test_peak_memory_of_a_spawned_system_excludes_its_parents_peak():
    """Each system runs in a spawned process: its peak must not inherit the (larger) parent's."""
    import multiprocessing

    from vqnat.bench.measure import peak_rss_mb

    ballast = np.ones(2 ** 28 // 8)  # 256 MiB touched in the parent only
    parent_peak = peak_rss_mb()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child_peak_mb, args=(queue,))
    child.start()
    child_peak = queue.get(timeout=120)
    child.join()
    del ballast
    assert 0 < child_peak < parent_peak - 200


def test_engine_options_choose_how_the_model_runs_not_a_generation_setting(teacher):
    spec = parse_system(f"x={teacher},beam=2,engine=torch,quantize=int8")
    assert (spec.engine, spec.quantize, spec.generation) == ("torch", "int8", {"beam": 2})
    plain = parse_system(f"x={teacher}")
    assert (plain.engine, plain.quantize) == ("torch", "float32")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ctranslate2") is None, reason="CTranslate2 is not installed")
def test_ct2_row_is_measured_like_the_fairseq_row_and_is_never_a_speedup_reference(bench_data, teacher):
    from vqnat.bench.report import render_stage_table, render_table
    from vqnat.bench.run import _convert_ahead

    _convert_ahead(parse_system(f"x={teacher},engine=ct2,quantize=int8"), bench_data)
    assert (teacher.parent / "checkpoint_last.ct2-int8" / "model.bin").is_file()
    fairseq_row = dict(measure_in_process(bench_data, teacher), name="greedy")
    ct2_row = dict(measure_in_process(bench_data, teacher, engine="ct2"), name="ct2")
    assert ct2_row["target_tokens"] == fairseq_row["target_tokens"] and ct2_row["bleu"] == fairseq_row["bleu"]
    assert len(ct2_row["latency_ms"]["per_sentence"]) == TEST_SENTENCES
    assert min(ct2_row["latency_ms"]["per_sentence"]) > 0
    assert ct2_row["steps"] is None and ct2_row["latency_by_stage_ms"] is None  # CTranslate2 runs no hooked pass
    assert (ct2_row["engine"], ct2_row["quantize"], ct2_row["kind"]) == ("ct2", "float32", "ar")

    rows = [ct2_row, fairseq_row]  # first, an AR greedy row, and still not the reference
    assert add_comparisons(rows) == {"beam": None, "greedy": "greedy"}
    report = {"settings": {"batch_sizes": [1, 4]}, "environment": {"device": "cpu"}, "systems": rows}
    table_row = render_table(report).splitlines()[2].split("|")
    assert table_row[1].strip() == "ct2" and table_row[14].strip() == "–"  # steps
    assert render_stage_table(report).splitlines()[2].split("|")[2:6] == [" – "] * 4
