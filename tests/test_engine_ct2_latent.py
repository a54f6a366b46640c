"""engine=ct2 on a vqnat checkpoint: the autoregressive latent predictor's search in CTranslate2 finds the codes
PyTorch's search finds, with their log-probabilities, so the translations are PyTorch's; its other networks run
in ONNX Runtime; the bench counts one predictor pass a code."""
import importlib.util
import shutil

import pytest
import torch
from click.testing import CliRunner

from vqnat_cli.main import cli

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ctranslate2") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="engine ct2 on vqnat models needs CTranslate2 and ONNX Runtime: pip install 'vqnat[ct2,onnx]'")


@pytest.fixture(scope="module")
def trained(toy_data, tmp_path_factory):
    """A tiny vqnat model with an autoregressive latent predictor (the paper's recipe) after a few updates."""
    save_dir = tmp_path_factory.mktemp("vqnat_paper")
    result = CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(save_dir), "--preset", "tiny",
                                      "--recipe", "paper", "--max-update", "10"])
    assert result.exit_code == 0, result.output
    return save_dir / "checkpoint_last.pt"


@pytest.fixture
def checkpoint(trained, tmp_path):
    """The model alone in a folder, where its conversions are cached."""
    copy = tmp_path / "checkpoint_last.pt"
    shutil.copy2(trained, copy)
    return copy


def translator_on(checkpoint, data, engine, quantize="float32", **settings):
    from vqnat.engines import use_engine
    from vqnat.translate import Translator

    translator = Translator(str(checkpoint), str(data), batch_size=16, **settings)
    use_engine(translator, checkpoint, engine, quantize)
    return translator


def test_the_search_in_ct2_gives_the_pytorch_translations_with_every_search_setting(toy_data, checkpoint):
    for settings in ({}, {"latent_beam": 2}, {"length_beam": 2}, {"latent_samples": 3}):
        translations = {}
        for engine in ("torch", "ct2"):
            translator = translator_on(checkpoint, toy_data, engine, **settings)
            translations[engine] = [tokens.tolist() for tokens in translator.generate(translator.split_sources("test"))]
        assert translations["ct2"] == translations["torch"], settings
    model = translator.model
    assert type(model.latent_predictor).__name__ == "CTranslate2LatentSearch"
    assert (type(model.encoder).__name__, type(model.decoder).__name__) == ("OnnxEncoder", "OnnxDecoder")
    assert (checkpoint.parent / "checkpoint_last.ct2latent-float32" / "model.bin").is_file()


@pytest.mark.parametrize("beam", [1, 3])
def test_the_search_in_ct2_finds_pytorchs_codes_and_their_log_probabilities(toy_data, checkpoint, beam):
    from vqnat.bench.steps import DecoderStepCounter
    from vqnat.generation.latent_search import search_latents

    torch_translator = translator_on(checkpoint, toy_data, "torch")
    torch_model, sources = torch_translator.model, torch_translator.split_sources("test")[:6]
    ct2_model = translator_on(checkpoint, toy_data, "ct2").model
    lengths = torch.tensor([len(source) for source in sources])
    tokens = torch.full((len(sources), int(lengths.max())), torch_model.encoder.dictionary.pad())
    for row, source in enumerate(sources):
        tokens[row, tokens.size(1) - len(source):] = source  # left-padded, as fairseq batches them
    num_latents = torch.tensor([1, 3, 3, 4, 6, 2])  # sentences of different lengths in one batch
    found, passes = {}, {}
    for name, model in (("torch", torch_model), ("ct2", ct2_model)):
        with torch.no_grad():
            encoder_out = model.encode(tokens, lengths)
        counter = DecoderStepCounter(model)
        found[name] = search_latents(model, encoder_out, num_latents, beam_size=beam, all_beams=True)
        passes[name] = counter.counts
        counter.remove()
    (torch_codes, torch_scores), (ct2_codes, ct2_scores) = found["torch"], found["ct2"]
    assert ct2_codes.shape == torch_codes.shape == (6, beam, 6)
    assert torch.equal(ct2_codes, torch_codes)
    assert torch.allclose(ct2_scores, torch_scores, atol=1e-4)
    assert (ct2_codes[0, :, 1:] == 0).all()  # nothing past a sentence's own codes
    # the predictor passes run one after another: PyTorch's 6 steps; CTranslate2 searches the sentences of
    # each code count together, one after another, 1 + 3 + 4 + 6 + 2
    assert passes["torch"]["latent_predictor.decoder"] == 6
    assert passes["ct2"]["latent_predictor.searches"] == 16


def test_int8_translates_every_input_from_a_smaller_model(toy_data, checkpoint, tmp_path):
    for quantize in ("float32", "int8"):
        result = CliRunner().invoke(cli, ["generate", "--data", str(toy_data), "--checkpoint", str(checkpoint),
                                          "--engine", "ct2", "--quantize", quantize, "--threads", "1",
                                          "--output", str(tmp_path / f"{quantize}.txt")])
        assert result.exit_code == 0, result.output
        assert len((tmp_path / f"{quantize}.txt").read_text(encoding="utf-8").splitlines()) == 100
    sizes = {quantize: (checkpoint.parent / f"checkpoint_last.ct2latent-{quantize}" / "model.bin").stat().st_size
             for quantize in ("float32", "int8")}
    assert sizes["int8"] < 0.9 * sizes["float32"]  # a tiny model: its embedding tables stay float32


def test_converting_leaves_the_models_own_weights_as_they_were(toy_data, checkpoint):
    from vqnat.engines.ct2_latent import converted_latent_predictor
    from vqnat.translate import Translator

    model = Translator(str(checkpoint), str(toy_data)).model
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    converted_latent_predictor(model, checkpoint, "int8")
    changed = [name for name, tensor in model.state_dict().items() if not torch.equal(tensor, before[name])]
    assert changed == []


def test_the_bench_counts_one_predictor_pass_a_code_and_times_the_search(toy_data, checkpoint):
    from vqnat.bench import parse_system
    from vqnat.bench.measure import measure_system

    rows = {engine: measure_system(parse_system(f"sys={checkpoint},engine={engine}"), str(toy_data), "test",
                                   batch_sizes=(1, 4), threads=1, warmup=1)
            for engine in ("onnx", "ct2")}
    onnx, ct2 = rows["onnx"], rows["ct2"]
    assert ct2["bleu"] == onnx["bleu"]
    assert ct2["steps"]["per_sentence"] == onnx["steps"]["per_sentence"]  # one pass a code, one decoder pass
    latents = sum(onnx["steps"]["per_sentence"]) - len(onnx["steps"]["per_sentence"])
    assert ct2["steps"]["by_stack"] == {"latent_predictor.stepper.decoder": 0,
                                        "latent_predictor.searches": latents, "decoder": 100}
    stages = ct2["latency_by_stage_ms"]
    assert all(stages[stage]["mean"] > 0 for stage in ("encoder", "sequential", "parallel"))
    assert {"ctranslate2", "onnxruntime"} <= set(ct2["environment"])
