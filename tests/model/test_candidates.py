"""Candidates: a length beam and the latent beam decoded in one pass, ranked by the model or by an AR teacher."""
from argparse import Namespace
from types import SimpleNamespace

import pytest
import torch
from fairseq.models.transformer import TransformerModel, base_architecture

from test_criterion import tiny_batch
from tiny_model import tiny_model
from vqnat.bench.steps import DecoderStepCounter
from vqnat.generation.generator import VQNATGenerator
from vqnat.generation.length_rules import candidate_lengths


def tiny_teacher_model(dictionary) -> TransformerModel:
    """An untrained fairseq transformer on the unit tests' dictionary: a stand-in AR teacher."""
    torch.manual_seed(3)
    args = Namespace(encoder_embed_dim=16, encoder_ffn_embed_dim=32, encoder_layers=1, encoder_attention_heads=2,
                     decoder_layers=1, decoder_attention_heads=2, share_all_embeddings=True, dropout=0.0)
    base_architecture(args)
    task = SimpleNamespace(source_dictionary=dictionary, target_dictionary=dictionary)
    return TransformerModel.build_model(args, task).eval()


def teacher_mean_log_prob(teacher, src_tokens, src_lengths, tokens, eos) -> float:
    """Mean log-probability of ``tokens`` (EOS-terminated) under ``teacher``, computed directly."""
    previous = torch.cat([tokens.new_tensor([eos]), tokens[:-1]]).unsqueeze(0)
    logits, _ = teacher(src_tokens.unsqueeze(0), src_lengths.view(1), previous)
    log_probs = torch.log_softmax(logits.float(), dim=-1)[0]
    return float(log_probs.gather(-1, tokens.unsqueeze(-1)).mean())


def test_candidate_lengths_alternate_around_the_rule():
    assert candidate_lengths(torch.tensor([5, 1]), 4).tolist() == [[5, 4, 6, 3], [1, 1, 2, 1]]


def test_length_beam_decodes_every_length_and_ranks_by_the_decoders_own_score():
    model = tiny_model(latent_predictor="parallel", compress=0, decoder_bidirectional=True)
    batch = tiny_batch(model)
    single = VQNATGenerator(model.encoder.dictionary, length_rule="paper").generate([model], batch)
    ranked = VQNATGenerator(model.encoder.dictionary, length_rule="paper", length_beam=3).generate([model], batch)
    for one, candidates in zip(single, ranked):
        assert len(candidates) == 3
        scores = [float(c["score"]) for c in candidates]
        assert scores == sorted(scores, reverse=True)
        assert sorted(len(c["latent_codes"]) for c in candidates) == [len(one[0]["latent_codes"]) + d
                                                                      for d in (-1, 0, 1)]
        same_length = [c for c in candidates if len(c["latent_codes"]) == len(one[0]["latent_codes"])][0]
        assert same_length["tokens"].equal(one[0]["tokens"])  # batching candidates changes nothing


def test_teacher_rescoring_keeps_the_candidate_the_teacher_prefers():
    model = tiny_model(compress=1)
    dictionary = model.encoder.dictionary
    teacher = tiny_teacher_model(dictionary)
    batch = tiny_batch(model)
    generator = VQNATGenerator(dictionary, length_rule="paper", latent_beam=2, length_beam=2, rescorer=teacher)
    counter = DecoderStepCounter(model, rescorer=teacher)
    ranked = generator.generate([model], batch)
    counter.remove()
    assert counter.counts["rescorer.decoder"] == 1 and counter.counts["decoder"] == 1  # one pass each
    src_tokens, src_lengths = batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"]
    with torch.no_grad():
        for row, candidates in enumerate(ranked):
            assert len(candidates) == 4
            direct = [teacher_mean_log_prob(teacher, src_tokens[row], src_lengths[row], c["tokens"], dictionary.eos())
                      for c in candidates]
            assert [float(c["score"]) for c in candidates] == pytest.approx(direct, abs=1e-4)
            assert direct[0] == max(direct)
            assert all("decoder_score" in c for c in candidates)
