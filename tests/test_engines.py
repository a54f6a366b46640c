"""Engines: CTranslate2 for AR checkpoints (fairseq's greedy outputs in fp32, int8, the conversion cache, the
error without the package) and int8 Linear layers for PyTorch models, on tiny models of the toy corpus."""
import importlib.util
import os
import shutil
import sys

import pytest
import torch
from click.testing import CliRunner

from vqnat_cli.main import cli

needs_ct2 = pytest.mark.skipif(importlib.util.find_spec("ctranslate2") is None,
                               reason="CTranslate2 is not installed: pip install 'vqnat[ct2]'")


@pytest.fixture
def teacher_copy(tiny_teacher, tmp_path):
    """The tiny teacher alone in a folder, where its conversions are cached."""
    copy = tmp_path / "checkpoint_last.pt"
    shutil.copy2(tiny_teacher, copy)
    return copy


@pytest.fixture(scope="module", params=["parallel", "paper"])
def tiny_vqnat(request, toy_data, tmp_path_factory):
    """A tiny vqnat model of each recipe after a few updates (a parallel and an autoregressive latent predictor)."""
    save_dir = tmp_path_factory.mktemp(f"vqnat_{request.param}")
    result = CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(save_dir), "--preset", "tiny",
                                      "--recipe", request.param, "--max-update", "10"])
    assert result.exit_code == 0, result.output
    return save_dir / "checkpoint_last.pt"


def greedy(checkpoint, data, engine="torch", quantize="float32", **settings):
    """A Translator of ``checkpoint`` on ``engine`` and its greedy token ids for the test split."""
    from vqnat.engines import use_engine
    from vqnat.translate import Translator

    translator = Translator(str(checkpoint), str(data), beam=1, batch_size=16, **settings)
    use_engine(translator, checkpoint, engine, quantize)
    return translator, [tokens.tolist() for tokens in translator.generate(translator.split_sources("test"))]


def generate(*args):
    return CliRunner().invoke(cli, ["generate", *(str(arg) for arg in args)])


@needs_ct2
def test_ct2_float32_greedy_writes_fairseq_greedy_outputs(toy_data, teacher_copy, tmp_path):
    for engine in ("torch", "ct2"):
        result = generate("--data", toy_data, "--checkpoint", teacher_copy, "--beam", 1, "--engine", engine,
                          "--threads", 1, "--output", tmp_path / f"{engine}.txt")
        assert result.exit_code == 0, result.output
    hypotheses = (tmp_path / "ct2.txt").read_text(encoding="utf-8").splitlines()
    assert len(hypotheses) == 100
    assert hypotheses == (tmp_path / "torch.txt").read_text(encoding="utf-8").splitlines()
    assert (teacher_copy.parent / "checkpoint_last.ct2-float32" / "model.bin").is_file()


@needs_ct2
def test_ct2_stops_where_fairseq_stops_under_tight_length_limits(toy_data, teacher_copy):
    limits = {"max_len_a": 1.0, "max_len_b": 2}  # the limit cuts most of these outputs
    _, fairseq_tokens = greedy(teacher_copy, toy_data, **limits)
    _, ct2_tokens = greedy(teacher_copy, toy_data, "ct2", "float32", **limits)
    assert ct2_tokens == fairseq_tokens


@needs_ct2
def test_ct2_int8_translates_every_input_from_a_smaller_model(toy_data, teacher_copy):
    from vqnat.engines.ct2 import converted_model

    translator, tokens = greedy(teacher_copy, toy_data, "ct2", "int8")
    assert len(tokens) == len(translator.split_sources("test"))  # generate raises on any input left out
    sizes = {quantize: (converted_model(teacher_copy, toy_data, quantize) / "model.bin").stat().st_size
             for quantize in ("int8", "float32")}
    assert sizes["int8"] < 0.8 * sizes["float32"]  # int8 matrices; a tiny model's biases and norms stay fp32


@needs_ct2
def test_conversion_is_cached_beside_the_checkpoint_and_redone_when_the_checkpoint_is_newer(
        toy_data, teacher_copy, monkeypatch):
    from ctranslate2 import converters

    from vqnat.engines.ct2 import converted_model

    conversions = []

    class CountingConverter(converters.FairseqConverter):
        def convert(self, *args, **kwargs):
            conversions.append(args)
            return super().convert(*args, **kwargs)

    monkeypatch.setattr(converters, "FairseqConverter", CountingConverter)
    model_dir = converted_model(teacher_copy, toy_data, "int8")
    assert model_dir == teacher_copy.parent / "checkpoint_last.ct2-int8" and len(conversions) == 1
    assert converted_model(teacher_copy, toy_data, "int8") == model_dir and len(conversions) == 1

    checkpoint_time = teacher_copy.stat().st_mtime_ns
    older = checkpoint_time - 10**9
    os.utime(model_dir / "model.bin", ns=(older, older))  # the checkpoint is now newer than its conversion
    assert converted_model(teacher_copy, toy_data, "int8") == model_dir and len(conversions) == 2
    assert (model_dir / "model.bin").stat().st_mtime_ns >= checkpoint_time
    assert sorted(path.name for path in teacher_copy.parent.iterdir()) == ["checkpoint_last.ct2-int8",
                                                                           "checkpoint_last.pt"]


@needs_ct2
def test_teacher_in_ct2_scores_candidates_as_fairseq_does(toy_data, teacher_copy):
    from fairseq.data import data_utils

    from vqnat.engines.ct2 import ct2_scorer
    from vqnat.generation.generator import VQNATGenerator
    from vqnat.translate import Translator

    translator = Translator(str(teacher_copy), str(toy_data), beam=1)
    source_dictionary, target_dictionary = translator.task.source_dictionary, translator.task.target_dictionary
    sources = translator.split_sources("test")[:6]
    outputs = translator.generate(sources)  # the teacher's own translations, and each one cut short by a token
    candidates = [{"tokens": torch.cat([tokens[:cut], torch.tensor([target_dictionary.eos()])])}
                  for tokens in outputs for cut in (len(tokens), max(1, len(tokens) - 1))]
    rows = [source for source in sources for _ in range(2)]
    src_tokens = data_utils.collate_tokens(rows, source_dictionary.pad(), left_pad=True)  # as fairseq batches
    src_lengths = torch.tensor([len(row) for row in rows])
    fairseq_scores = VQNATGenerator(target_dictionary, rescorer=translator.model).rescore(
        src_tokens, src_lengths, candidates)
    # int8: close, not equal (a tiny model's int8 matrices lose more than a real one's: 0.01 at d = 256)
    for quantize, tolerance in (("float32", {"abs": 1e-4}), ("int8", {"rel": 0.25})):
        scorer = ct2_scorer(teacher_copy, toy_data, source_dictionary, target_dictionary, quantize, "cpu")
        ct2_scores = VQNATGenerator(target_dictionary, rescorer=scorer).rescore(src_tokens, src_lengths, candidates)
        assert [float(score) for score in ct2_scores] == pytest.approx(
            [float(score) for score in fairseq_scores], **tolerance), quantize


@needs_ct2
def test_generate_rescoring_in_ct2_keeps_the_candidates_fairseq_keeps(toy_data, teacher_copy, tiny_vqnat, tmp_path):
    outputs = {}
    for engine, quantize in (("torch", "float32"), ("ct2", "float32"), ("ct2", "int8"), ("torch", "int8")):
        output = tmp_path / f"{engine}-{quantize}.txt"
        result = generate("--data", toy_data, "--checkpoint", tiny_vqnat, "--length-beam", 3, "--rescore", teacher_copy,
                          "--rescore-engine", engine, "--rescore-quantize", quantize, "--threads", 1,
                          "--output", output)
        assert result.exit_code == 0, result.output
        outputs[engine, quantize] = output.read_text(encoding="utf-8").splitlines()
    assert len(outputs["torch", "float32"]) == 100
    assert outputs["ct2", "float32"] == outputs["torch", "float32"]
    assert len(outputs["ct2", "int8"]) == len(outputs["torch", "int8"]) == 100
    assert (teacher_copy.parent / "checkpoint_last.ct2-int8" / "model.bin").is_file()


def test_generate_samples_codes_of_either_predictor_and_refuses_a_search_the_predictor_cannot_do(
        toy_data, tiny_vqnat, tiny_teacher, tmp_path, request):
    output = tmp_path / "sampled.txt"
    result = generate("--data", toy_data, "--checkpoint", tiny_vqnat, "--latent-samples", 3, "--latent-temperature",
                      0.5, "--rescore", tiny_teacher, "--threads", 1, "--output", output)
    assert result.exit_code == 0, result.output
    assert len(output.read_text(encoding="utf-8").splitlines()) == 100
    beam = generate("--data", toy_data, "--checkpoint", tiny_vqnat, "--latent-beam", 2, "--latent-samples", 3)
    if request.node.callspec.params["tiny_vqnat"] == "parallel":
        assert beam.exit_code == 1 and beam.output.strip().splitlines() == [
            "Error: --latent-beam searches an autoregressive latent predictor; this model's is parallel: use "
            "--latent-samples for several code sequences"]
    else:
        assert beam.exit_code == 1 and beam.output.strip().splitlines() == [
            "Error: --latent-beam and --latent-samples each give several code sequences: choose one"]


def test_rescore_engine_without_a_teacher_is_one_usage_error(toy_data, tiny_vqnat):
    result = generate("--data", toy_data, "--checkpoint", tiny_vqnat, "--rescore-engine", "ct2")
    assert result.exit_code == 2
    assert "--rescore-engine and --rescore-quantize set how --rescore's teacher runs" in result.output


def test_without_ctranslate2_engine_ct2_is_one_error_line_naming_the_extra(toy_data, tiny_teacher, monkeypatch):
    from vqnat.bench import BenchError, parse_system

    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # makes `import ctranslate2` fail
    result = generate("--data", toy_data, "--checkpoint", tiny_teacher, "--engine", "ct2", "--input", "-")
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert result.exit_code == 1
    assert errors == ["Error: engine ct2 needs CTranslate2, which is not installed: pip install 'vqnat[ct2]'"]
    with pytest.raises(BenchError, match=r"^--system .*: engine ct2 needs CTranslate2.*pip install 'vqnat\[ct2\]'$"):
        parse_system(f"ct2={tiny_teacher},engine=ct2")


@needs_ct2
def test_ct2_runs_the_search_of_an_autoregressive_latent_predictor_and_refuses_a_parallel_one(
        toy_data, vqnat_copy, tmp_path):
    from vqnat.bench import parse_system

    pytest.importorskip("onnxruntime")  # its other networks run in ONNX Runtime
    assert parse_system(f"ct2={vqnat_copy},engine=ct2").engine == "ct2"
    result = generate("--data", toy_data, "--checkpoint", vqnat_copy, "--engine", "ct2", "--threads", 1,
                      "--output", tmp_path / "out.txt")
    if _is_parallel(vqnat_copy, toy_data):
        assert result.exit_code != 0
        assert result.output.strip() == ("Error: engine ct2 runs an autoregressive latent predictor (recipes pairs "
                                         "and paper); this model's is parallel: use engine onnx")
        assert not (tmp_path / "out.txt").exists()
    else:  # tests/test_engine_ct2_latent.py: the same translations as PyTorch's
        assert result.exit_code == 0, result.output
        assert len((tmp_path / "out.txt").read_text(encoding="utf-8").splitlines()) == 100


def test_int8_linear_layers_of_a_teacher_stay_close_to_fp32(toy_data, tiny_teacher):
    check_int8_close_to_fp32(tiny_teacher, toy_data)


def test_int8_linear_layers_of_vqnat_stay_close_to_fp32(toy_data, tiny_vqnat):
    check_int8_close_to_fp32(tiny_vqnat, toy_data)


def check_int8_close_to_fp32(checkpoint, toy_data):
    """int8 Linear layers translate every input, and the encoder states move but stay close to fp32's."""
    fp32, fp32_tokens = greedy(checkpoint, toy_data)
    assert greedy(checkpoint, toy_data, "torch", "float32")[1] == fp32_tokens  # float32: the model as loaded
    int8, int8_tokens = greedy(checkpoint, toy_data, "torch", "int8")
    assert len(int8_tokens) == len(fp32_tokens)  # generate raises on any input left out

    fp32_linears = [name for name, module in int8.model.named_modules() if type(module) is torch.nn.Linear]
    assert not [name for name in fp32_linears if not name.startswith("bottleneck.")]
    sample = next(fp32.batches(fp32.split_sources("test")[:16]))["net_input"]
    with torch.inference_mode():
        states = [translator.model.encoder(sample["src_tokens"], src_lengths=sample["src_lengths"])["encoder_out"][0]
                  for translator in (fp32, int8)]
    assert not torch.equal(*states)
    assert torch.nn.functional.cosine_similarity(states[0].flatten(), states[1].flatten(), dim=0) > 0.99


def test_generate_quantize_int8_writes_one_line_per_input(toy_data, tiny_vqnat, tmp_path):
    output = tmp_path / "int8.txt"
    result = generate("--data", toy_data, "--checkpoint", tiny_vqnat, "--quantize", "int8", "--threads", 1,
                      "--output", output)
    assert result.exit_code == 0, result.output
    assert len(output.read_text(encoding="utf-8").splitlines()) == 100


needs_onnx = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,
                                reason="ONNX Runtime is not installed: pip install 'vqnat[onnx]'")


@pytest.fixture
def vqnat_copy(tiny_vqnat, tmp_path):
    """The tiny vqnat model alone in a folder, where its exports are cached."""
    copy = tmp_path / "checkpoint_last.pt"
    shutil.copy2(tiny_vqnat, copy)
    return copy


@needs_onnx
def test_onnx_float32_gives_the_pytorch_translations_with_every_search_setting(toy_data, vqnat_copy):
    parallel = _is_parallel(vqnat_copy, toy_data)
    settings = [{}, {"length_beam": 2}, {"latent_samples": 3}, {"exact_length": True},
                {"latent_iterations": 3} if parallel else {"latent_beam": 2}]
    for options in settings:
        _, torch_tokens = greedy(vqnat_copy, toy_data, **options)
        translator, onnx_tokens = greedy(vqnat_copy, toy_data, "onnx", "float32", **options)
        assert onnx_tokens == torch_tokens, options
    assert type(translator.model.encoder).__name__ == "OnnxEncoder"
    assert type(translator.model.decoder).__name__ == "OnnxDecoder"
    assert type(translator.model.latent_predictor).__name__ == ("OnnxLatentPredictor" if parallel
                                                                 else "OnnxStepPredictor")
    assert sorted(path.name for path in (vqnat_copy.parent / "checkpoint_last.onnx-float32").iterdir()) == sorted(
        ["encoder.onnx", "decoder.onnx", "latent_predictor.onnx"] + ([] if parallel
                                                                     else ["latent_start.onnx", "latent_step.onnx"]))


def _pytorch_and_onnx_step_models(checkpoint, data):
    """The checkpoint's model in PyTorch and in ONNX Runtime (float32), and a batch of 3 test sources."""
    from vqnat.engines.onnx import use_onnxruntime
    from vqnat.translate import Translator

    if _is_parallel(checkpoint, data):
        pytest.skip("a parallel latent predictor takes no steps (its one pass: the test above)")
    model = Translator(str(checkpoint), str(data)).model
    exported = Translator(str(checkpoint), str(data)).model
    use_onnxruntime(exported, checkpoint, "float32")
    translator = Translator(str(checkpoint), str(data))
    sample = next(translator.batches(translator.split_sources("test")[:3]))["net_input"]
    return model, exported, sample


def _assert_steps_agree_through_a_reordering(model, exported, encoder_out, rows: torch.Tensor, noise: float):
    """Four steps of both predictors with equal logits; after the second, both caches keep ``rows`` (and the
    source keeps them too where the batch size changes)."""
    batch = encoder_out["encoder_out"][0].size(1)
    caches, previous = ({}, {}), torch.randn(batch, model.args.embed_dim)
    with torch.no_grad():
        for step in range(4):
            logits = [predictor.step(previous if step else None, step, encoder_out, cache)
                      for predictor, cache in zip((model.latent_predictor, exported.latent_predictor), caches)]
            torch.testing.assert_close(logits[1], logits[0], atol=1e-4, rtol=1e-4)
            if step == 1:
                for predictor, cache in zip((model.latent_predictor, exported.latent_predictor), caches):
                    predictor.reorder_cache(cache, rows)
                if rows.numel() != batch:
                    encoder_out = model.encoder.reorder_encoder_out(encoder_out, rows)
                logits = [logit[rows] for logit in logits]
            previous = model.embed_codes(logits[0].argmax(-1))
            previous = previous + noise * torch.randn_like(previous)


@needs_onnx
def test_onnx_latent_steps_give_the_pytorch_steps_logits_through_a_beam_reordering(toy_data, vqnat_copy):
    """The two step graphs of an autoregressive latent predictor: each step's logits are PyTorch's, for
    sources of different lengths in one batch, also after the cache is reordered as beam search does."""
    model, exported, sample = _pytorch_and_onnx_step_models(vqnat_copy, toy_data)
    assert len(set(sample["src_lengths"].tolist())) > 1  # padded sources in the batch
    encoder_out = model.encode(sample["src_tokens"], sample["src_lengths"])
    encoder_out = model.encoder.reorder_encoder_out(encoder_out, torch.arange(3).repeat_interleave(2))  # 2 beams
    # per sentence, its beams from: its second twice; its first twice; its two swapped
    _assert_steps_agree_through_a_reordering(model, exported, encoder_out, torch.tensor([1, 1, 2, 2, 5, 4]), 1.0)


@needs_onnx
def test_onnx_latent_steps_give_the_pytorch_steps_logits_after_the_batch_shrinks(toy_data, vqnat_copy):
    """A reordering that changes the batch size moves the source's cached keys/values too (beam search's,
    which keeps it, leaves them): the remaining rows' logits are still PyTorch's."""
    model, exported, sample = _pytorch_and_onnx_step_models(vqnat_copy, toy_data)
    encoder_out = model.encode(sample["src_tokens"], sample["src_lengths"])
    # the second sentence ends; the other two remain, in reverse order
    _assert_steps_agree_through_a_reordering(model, exported, encoder_out, torch.tensor([2, 0]), 0.0)


def _is_parallel(checkpoint, data) -> bool:
    from vqnat.translate import Translator

    return Translator(str(checkpoint), str(data)).model.parallel


@needs_onnx
def test_generate_engine_onnx_writes_the_pytorch_output(toy_data, vqnat_copy, tmp_path):
    for engine in ("torch", "onnx"):
        result = generate("--data", toy_data, "--checkpoint", vqnat_copy, "--engine", engine, "--threads", 1,
                          "--output", tmp_path / f"{engine}.txt")
        assert result.exit_code == 0, result.output
    hypotheses = (tmp_path / "onnx.txt").read_text(encoding="utf-8").splitlines()
    assert len(hypotheses) == 100 and hypotheses == (tmp_path / "torch.txt").read_text(encoding="utf-8").splitlines()


@needs_onnx
def test_onnx_int8_is_a_smaller_model_close_to_fp32(toy_data, vqnat_copy):
    from vqnat.engines.onnx import exported_model

    fp32, fp32_tokens = greedy(vqnat_copy, toy_data, "onnx", "float32")
    int8, int8_tokens = greedy(vqnat_copy, toy_data, "onnx", "int8")
    assert len(int8_tokens) == len(fp32_tokens)  # generate raises on any input left out
    folders = {quantize: vqnat_copy.parent / f"checkpoint_last.onnx-{quantize}" for quantize in ("float32", "int8")}
    for graph in folders["float32"].iterdir():
        weights = {quantize: weight_bytes(folder / graph.name) for quantize, folder in folders.items()}
        assert weights["float32"].get("int8", 0) == 0
        assert weights["int8"]["int8"] > weights["int8"]["float32"]  # matrices int8; biases, norms stay fp32
    assert not list(folders["int8"].glob("*.fp32.onnx"))  # the unquantized intermediates are gone
    assert exported_model(fp32.model, vqnat_copy, "int8") == folders["int8"]
    sample = next(fp32.batches(fp32.split_sources("test")[:16]))["net_input"]
    states = [translator.model.encoder(sample["src_tokens"], sample["src_lengths"])["encoder_out"][0]
              for translator in (fp32, int8)]
    assert not torch.equal(*states)
    assert torch.nn.functional.cosine_similarity(states[0].flatten(), states[1].flatten(), dim=0) > 0.99


def weight_bytes(path) -> dict:
    """Bytes of an ONNX graph's weights by element type."""
    import onnx
    from onnx import numpy_helper

    sizes = {}
    for weight in onnx.load(str(path)).graph.initializer:
        array = numpy_helper.to_array(weight)
        sizes[str(array.dtype)] = sizes.get(str(array.dtype), 0) + array.nbytes
    return sizes


@needs_onnx
def test_onnx_export_is_cached_beside_the_checkpoint_and_redone_when_the_checkpoint_is_newer(
        toy_data, vqnat_copy, monkeypatch):
    from vqnat.engines import onnx
    from vqnat.translate import Translator

    model = Translator(str(vqnat_copy), str(toy_data)).model
    exports = []
    real_export = onnx.export
    monkeypatch.setattr(onnx, "export", lambda *args: exports.append(args) or real_export(*args))
    folder = onnx.exported_model(model, vqnat_copy, "float32")
    assert folder == vqnat_copy.parent / "checkpoint_last.onnx-float32" and len(exports) == 1
    assert onnx.exported_model(model, vqnat_copy, "float32") == folder and len(exports) == 1

    checkpoint_time = vqnat_copy.stat().st_mtime_ns
    older = checkpoint_time - 10**9
    os.utime(folder / "decoder.onnx", ns=(older, older))  # the checkpoint is now newer than one network
    assert onnx.exported_model(model, vqnat_copy, "float32") == folder and len(exports) == 2
    assert (folder / "decoder.onnx").stat().st_mtime_ns >= checkpoint_time
    assert sorted(path.name for path in vqnat_copy.parent.iterdir()) == ["checkpoint_last.onnx-float32",
                                                                         "checkpoint_last.pt"]


@needs_onnx
def test_a_failed_onnx_export_is_one_line_and_leaves_no_cache(toy_data, vqnat_copy, monkeypatch):
    from vqnat.engines import EngineError, onnx
    from vqnat.translate import Translator

    def fail(model, folder, quantize):
        (folder / "encoder.onnx").write_bytes(b"half")
        raise RuntimeError("Unsupported operator aten::frobnicate: details\nmore")

    monkeypatch.setattr(onnx, "export", fail)
    with pytest.raises(EngineError, match=r"^cannot convert .*checkpoint_last.pt to ONNX: Unsupported operator "
                                          r"aten::frobnicate: details$"):
        onnx.exported_model(Translator(str(vqnat_copy), str(toy_data)).model, vqnat_copy, "int8")
    assert [path.name for path in vqnat_copy.parent.iterdir()] == ["checkpoint_last.pt"]


def test_without_onnxruntime_engine_onnx_is_one_error_line_naming_the_extra(toy_data, tiny_vqnat, monkeypatch):
    from vqnat.bench import BenchError, parse_system

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    result = generate("--data", toy_data, "--checkpoint", tiny_vqnat, "--engine", "onnx", "--input", "-")
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert result.exit_code == 1
    assert errors == ["Error: engine onnx needs ONNX Runtime, which is not installed: pip install 'vqnat[onnx]'"]
    with pytest.raises(BenchError, match=r"^--system .*: engine onnx needs ONNX Runtime.*pip install 'vqnat\[onnx\]'$"):
        parse_system(f"onnx={tiny_vqnat},engine=onnx")


def test_onnx_refuses_an_ar_checkpoint(tiny_teacher):
    from vqnat.bench import BenchError, parse_system

    with pytest.raises(BenchError, match="engine onnx runs vqnat models only, not ar"):
        parse_system(f"onnx={tiny_teacher},engine=onnx")
