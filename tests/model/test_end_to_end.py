"""fairseq's own train / generate / interactive on the toy cipher: learning, checkpoints, determinism."""
import logging
import re
import shutil

import pytest
import torch

from fairseq_runs import fairseq_generate, fairseq_interactive, fairseq_train

pytestmark = pytest.mark.slow

#: Updates after which the tiny model translates the toy cipher (an untrained one scores ~0 BLEU).
TOY_UPDATES = "300"
MIN_TOY_BLEU = 50.0


@pytest.fixture(scope="module")
def ema_run(toy_data, tmp_path_factory):
    """A tiny hard-EM model trained on the toy cipher (targets without the paper's padding)."""
    save_dir = tmp_path_factory.mktemp("ema_run")
    fairseq_train(toy_data, save_dir, ["--bottleneck", "ema", "--max-update", TOY_UPDATES, "--no-epoch-checkpoints",
                                       "--disable-validation", "--train-padding", "none"])
    return save_dir


@pytest.fixture(scope="module")
def ema_translations(ema_run, toy_data):
    """fairseq-generate's BLEU and hypotheses (by id) for the test split, batched by --max-tokens."""
    return fairseq_generate(toy_data, ema_run / "checkpoint_last.pt")


def test_hard_em_model_learns_the_toy_task_and_translates_every_sentence(ema_translations):
    bleu, hypotheses = ema_translations
    assert bleu > MIN_TOY_BLEU
    assert sorted(hypotheses) == list(range(100))


def test_eval_bleu_validates_with_the_vqnat_generator(ema_run, toy_data, tmp_path, caplog):
    shutil.copy(ema_run / "checkpoint_last.pt", tmp_path / "checkpoint_last.pt")
    caplog.set_level(logging.INFO)
    fairseq_train(toy_data, tmp_path, ["--bottleneck", "ema", "--max-update", str(int(TOY_UPDATES) + 1),
                                       "--train-padding", "none",
                                       "--no-save", "--eval-bleu", "--eval-bleu-remove-bpe", "sentencepiece"])
    scores = [float(match) for record in caplog.records if record.name == "valid"
              for match in re.findall(r"\| bleu ([0-9.]+)", record.getMessage())]
    assert scores and scores[-1] > MIN_TOY_BLEU


def test_soft_em_model_learns_the_toy_task(toy_data, tmp_path):
    fairseq_train(toy_data, tmp_path, ["--bottleneck", "soft_em", "--num-samples", "5", "--max-update", TOY_UPDATES,
                                       "--disable-validation", "--no-epoch-checkpoints"])  # default --train-padding paper
    bleu, _ = fairseq_generate(toy_data, tmp_path / "checkpoint_last.pt", ["--latent-beam", "2"])
    assert bleu > MIN_TOY_BLEU


def test_generation_is_deterministic_and_independent_of_batching(ema_run, ema_translations, toy_data):
    _, one_by_one = fairseq_generate(toy_data, ema_run / "checkpoint_last.pt", ["--batch-size", "1"])
    assert one_by_one == ema_translations[1]


def test_interactive_translates_like_generate(ema_run, ema_translations, toy_data, toy_raw, tmp_path):
    sources = (toy_raw / "test.src").read_text(encoding="utf-8").splitlines()[:6]
    (tmp_path / "input.txt").write_text("\n".join(sources) + "\n", encoding="utf-8")
    translations = fairseq_interactive(toy_data, ema_run / "checkpoint_last.pt", tmp_path / "input.txt")
    assert translations == [ema_translations[1][i] for i in range(6)]


def test_resumed_training_equals_uninterrupted_training_including_em_buffers(toy_data, tmp_path):
    options = ["--bottleneck", "soft_em", "--num-samples", "3", "--disable-validation", "--no-epoch-checkpoints",
               "--dropout", "0.1"]  # random draws everywhere: soft-EM samples and dropout
    fairseq_train(toy_data, tmp_path / "straight", options + ["--max-update", "12"])
    fairseq_train(toy_data, tmp_path / "resumed", options + ["--max-update", "7"])  # stops mid-epoch
    fairseq_train(toy_data, tmp_path / "resumed", options + ["--max-update", "12"])
    straight = torch.load(tmp_path / "straight" / "checkpoint_last.pt")
    resumed = torch.load(tmp_path / "resumed" / "checkpoint_last.pt")
    assert [entry["num_updates"] for entry in straight["optimizer_history"]] == [12]
    assert [entry["num_updates"] for entry in resumed["optimizer_history"]] == [7, 12]  # it did resume
    assert straight["model"].keys() == resumed["model"].keys()
    for name in ("bottleneck.codebook", "bottleneck.ema_count", "bottleneck.ema_sum", "bottleneck.num_updates"):
        assert name in straight["model"]
    for name, value in straight["model"].items():
        torch.testing.assert_close(resumed["model"][name], value, msg=name)


def test_oracle_and_reference_length_decodings_match_the_generators_own(ema_run, toy_data):
    """The bench's oracle decodes each reference's codes, and the latent predictor's codes for as many
    latents as the reference has, with the generator's decoder: where the latent predictor found all of a
    sentence's codes, or the generator decoded as many latents as the reference has, the translations
    agree with the generator's up to where a length limit cut one of them."""
    from vqnat.bench.oracle import oracle_code_translations
    from vqnat.translate import Translator

    translator = Translator(str(ema_run / "checkpoint_last.pt"), str(toy_data))
    oracle = oracle_code_translations(translator, "test", batch_size=16)
    assert oracle["latent_correct"] / oracle["latents"] > 0.5
    agreeing = {"tokens": 0, "reference_length_tokens": 0}
    eos = translator.task.target_dictionary.eos()
    with torch.inference_mode():
        for sample in translator.batches(translator.split_sources("test"), 8):
            hypotheses = translator.task.inference_step(translator.generator, translator.hub.models, sample)
            for index, candidates in zip(sample["id"].tolist(), hypotheses):
                codes = candidates[0]["latent_codes"].cpu()
                generated = candidates[0]["tokens"].cpu()
                generated = generated[generated != eos].tolist()
                same = {"tokens": torch.equal(codes, oracle["codes"][index]),
                        "reference_length_tokens": codes.numel() == oracle["codes"][index].numel()}
                for key in agreeing:
                    if not same[key]:
                        continue
                    agreeing[key] += 1
                    decoded = oracle[key][index].tolist()
                    shorter = min(len(generated), len(decoded))
                    assert generated[:shorter] == decoded[:shorter], (key, index)
    assert min(agreeing.values()) >= 5, agreeing


def test_the_decoder_reads_the_codes_random_ones_lose_the_translation(ema_run, toy_data):
    """The bench's chance level: the same decoder given random codes instead of the reference's own."""
    from vqnat.bench.oracle import oracle_quality
    from vqnat.scoring import read_references
    from vqnat.translate import Translator

    translator = Translator(str(ema_run / "checkpoint_last.pt"), str(toy_data))
    references = read_references(translator.raw_references("test"), len(translator.split_sources("test")))
    quality = oracle_quality(translator, "test", references)
    assert quality["bleu"] >= MIN_TOY_BLEU
    assert quality["random_codes_bleu"] < quality["bleu"] - 20, quality
