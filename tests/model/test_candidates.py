"""Candidates: a length beam, the latent beam and sampled codes decoded in one pass, ranked by the model or by an AR
teacher."""
from argparse import Namespace
from types import SimpleNamespace

import pytest
import torch
from fairseq.models.transformer import TransformerModel, base_architecture

from test_criterion import tiny_batch
from tiny_model import tiny_model
from vqnat.bench.steps import DecoderStepCounter
from vqnat.generation.code_sampling import GumbelNoise
from vqnat.generation.generator import VQNATGenerator
from vqnat.generation.latent_search import search_latents
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


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sampled_codes_follow_the_predictors_softmax_at_the_temperature(temperature):
    log_probs = torch.log_softmax(torch.tensor([2.0, 1.0, 0.0, -1.0]), dim=0)
    draws = 4000
    noise = GumbelNoise(range(draws), torch.ones(draws, dtype=torch.long), temperature)
    rows = log_probs.view(1, 1, 4).expand(draws, 1, 4)
    codes = (rows + noise(rows)).argmax(-1).view(-1)
    frequencies = torch.bincount(codes, minlength=4).float() / draws
    expected = torch.softmax(log_probs / temperature, dim=0)
    assert frequencies.tolist() == pytest.approx(expected.tolist(), abs=0.025)


def test_rows_without_a_seed_get_no_noise_and_a_row_draws_the_same_whatever_the_padding():
    short = GumbelNoise([None, 7], torch.tensor([2, 2]), 1.0)(torch.zeros(2, 2, 5))
    padded = GumbelNoise([None, 7], torch.tensor([2, 2]), 1.0)(torch.zeros(2, 4, 5))
    assert short[0].eq(0).all() and short[1].ne(0).all()
    assert padded[1, :2].equal(short[1]) and padded[:, 2:].eq(0).all()
    with pytest.raises(ValueError, match="--latent-temperature must be > 0"):
        GumbelNoise([1], torch.tensor([1]), 0.0)


def test_latent_samples_add_sampled_candidates_to_the_greedy_ones_whatever_the_batch():
    model = tiny_model(latent_predictor="parallel", compress=0, decoder_bidirectional=True)
    dictionary = model.encoder.dictionary
    batch = tiny_batch(model)
    greedy = VQNATGenerator(dictionary, length_rule="paper", length_beam=2).generate([model], batch)
    sampler = VQNATGenerator(dictionary, length_rule="paper", length_beam=2, latent_samples=4)
    counter = DecoderStepCounter(model)
    sampled = sampler.generate([model], batch)
    counter.remove()
    assert counter.counts["decoder"] == 1  # every candidate in one decoder pass
    for ones, candidates in zip(greedy, sampled):
        assert len(candidates) == 8
        assert [float(c["score"]) for c in candidates] == sorted((float(c["score"]) for c in candidates), reverse=True)
        codes = {tuple(c["latent_codes"].tolist()) for c in candidates}
        assert {tuple(c["latent_codes"].tolist()) for c in ones} < codes  # the greedy codes and new ones
    assert [[c["tokens"].tolist() for c in hypotheses] for hypotheses in sampler.generate([model], batch)] == \
        [[c["tokens"].tolist() for c in hypotheses] for hypotheses in sampled]  # the same every time
    for row in range(batch["net_input"]["src_tokens"].size(0)):
        alone = {key: batch["net_input"][key][row:row + 1] for key in ("src_tokens", "src_lengths")}
        source = alone["src_tokens"][0]
        alone["src_tokens"] = source[source.ne(dictionary.pad())].unsqueeze(0)  # no padding at all
        alone["src_lengths"] = torch.tensor([alone["src_tokens"].size(1)])
        [candidates] = sampler.generate([model], {"net_input": alone})
        assert sorted(tuple(c["latent_codes"].tolist()) for c in candidates) == \
            sorted(tuple(c["latent_codes"].tolist()) for c in sampled[row])


def test_latent_samples_of_an_autoregressive_predictor_draw_each_code_given_the_earlier_ones():
    model = tiny_model(compress=1)
    dictionary = model.encoder.dictionary
    batch = tiny_batch(model)
    src_tokens, src_lengths = batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"]
    encoder_out = model.encode(src_tokens, src_lengths)
    num_latents = torch.tensor([3, 2, 1])
    seeds = [[None, 11, 12, 13] for _ in range(num_latents.numel())]
    codes, scores = search_latents(model, encoder_out, num_latents, sample_seeds=seeds, temperature=2.0)
    greedy_codes, greedy_scores = search_latents(model, encoder_out, num_latents)
    assert codes.shape == (num_latents.numel(), 4, 3)
    assert codes[:, 0].equal(greedy_codes) and torch.allclose(scores[:, 0], greedy_scores)  # seed None: greedy
    assert any(len({tuple(row.tolist()) for row in sentence}) > 1 for sentence in codes)  # samples differ
    for sentence, count in enumerate(num_latents.tolist()):
        assert codes[sentence, :, count:].eq(0).all()
        rows = torch.tensor([sentence] * 4)
        mask = torch.arange(codes.size(-1))[None, :] < count
        logits = model.latent_logits(model.embed_codes(codes[sentence]), mask.expand(4, -1),
                                     model.encoder.reorder_encoder_out(encoder_out, rows))
        teacher_forced = torch.log_softmax(logits.float(), -1).gather(-1, codes[sentence].unsqueeze(-1))[..., 0]
        assert torch.allclose(scores[sentence], teacher_forced[:, :count].sum(-1), atol=1e-4)
    again, _ = search_latents(model, model.encode(src_tokens[:1], src_lengths[:1]), num_latents[:1],
                              sample_seeds=seeds[:1], temperature=2.0)
    assert again[0].equal(codes[0])  # the same candidates alone as in the batch
    with pytest.raises(ValueError, match="choose one"):
        search_latents(model, encoder_out, num_latents, beam_size=2, sample_seeds=seeds)
    sampler = VQNATGenerator(dictionary, length_rule="paper", latent_samples=3)
    assert all(len(candidates) == 3 for candidates in sampler.generate([model], batch))
    with pytest.raises(ValueError, match="--latent-samples must be >= 1"):
        VQNATGenerator(dictionary, latent_samples=0)
