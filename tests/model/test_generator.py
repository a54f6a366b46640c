"""The vqnat generator: fairseq's hypothesis format, batching, one decoder pass, exact incremental search."""
import math

import pytest
import torch
import torch.nn.functional as F

from tiny_model import collate, random_sentences, tiny_model, unsort
from vqnat.generation.generator import VQNATGenerator
from vqnat.generation.latent_search import search_latents

SOURCE_LENGTHS = [5, 12, 3, 8, 9]


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=3)


def batch_of(model, lengths=SOURCE_LENGTHS, seed=5):
    dictionary = model.encoder.dictionary
    sources = random_sentences(lengths, seed, dictionary)
    return sources, collate(sources, sources, dictionary)


def hypotheses_in_input_order(model, generator, sources):
    dictionary = model.encoder.dictionary
    batch = collate(sources, sources, dictionary)
    return unsort(batch, [hypos[0] for hypos in generator.generate([model], batch)])


@pytest.mark.parametrize("rule", ["predicted", "paper"])
@pytest.mark.parametrize("beam", [1, 3])
def test_batched_generation_equals_one_sentence_at_a_time(model, rule, beam):
    generator = VQNATGenerator(model.encoder.dictionary, length_rule=rule, latent_beam=beam)
    sources, _ = batch_of(model)
    together = hypotheses_in_input_order(model, generator, sources)
    for source, hypothesis in zip(sources, together):
        alone = hypotheses_in_input_order(model, generator, [source])[0]
        assert torch.equal(hypothesis["tokens"], alone["tokens"])
        assert torch.equal(hypothesis["latent_codes"], alone["latent_codes"])
        torch.testing.assert_close(hypothesis["positional_scores"], alone["positional_scores"], atol=1e-5, rtol=0)


def test_hypotheses_have_fairseqs_format_and_the_paper_length(model):
    generator = VQNATGenerator(model.encoder.dictionary, length_rule="paper")
    sources, batch = batch_of(model)
    hypotheses = hypotheses_in_input_order(model, generator, sources)
    eos = model.encoder.dictionary.eos()
    for source, hypothesis in zip(sources, hypotheses):
        tokens = hypothesis["tokens"]
        assert tokens[-1] == eos and int((tokens == eos).sum()) == 1
        assert len(hypothesis["latent_codes"]) == math.ceil(2 * len(source) / 4)
        assert len(tokens) <= 4 * len(hypothesis["latent_codes"]) + 1
        assert hypothesis["positional_scores"].shape == tokens.shape and hypothesis["alignment"] is None
        assert hypothesis["score"] == pytest.approx(float(hypothesis["positional_scores"].mean()))


def test_generation_is_deterministic(model):
    generator = VQNATGenerator(model.encoder.dictionary, latent_beam=2)
    _, batch = batch_of(model)
    first, second = generator.generate([model], batch), generator.generate([model], batch)
    assert all(torch.equal(a[0]["tokens"], b[0]["tokens"]) for a, b in zip(first, second))


def test_parallel_decoder_runs_once_and_latent_predictor_one_position_per_step(model):
    decoder_calls, predictor_inputs = [], []
    hooks = [model.decoder.register_forward_hook(lambda module, args, out: decoder_calls.append(args[0].shape)),
             model.latent_predictor.decoder.register_forward_hook(
                 lambda module, args, out: predictor_inputs.append(args[0].shape))]
    try:
        _, batch = batch_of(model)
        VQNATGenerator(model.encoder.dictionary, length_rule="paper").generate([model], batch)
    finally:
        for hook in hooks:
            hook.remove()
    steps = math.ceil(2 * max(SOURCE_LENGTHS) / 4)
    assert len(decoder_calls) == 1 and decoder_calls[0][:2] == (len(SOURCE_LENGTHS), 4 * steps)
    assert predictor_inputs == [(len(SOURCE_LENGTHS), 1, 32)] * steps


def test_incremental_steps_match_the_teacher_forced_pass(model):
    _, batch = batch_of(model)
    encoder_out = model.encode(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
    codes = torch.randint(0, 64, (len(SOURCE_LENGTHS), 6), generator=torch.Generator().manual_seed(0))
    vectors = model.embed_codes(codes)  # (B, 6, D)
    with torch.no_grad():
        full = model.latent_predictor(vectors, torch.ones(codes.shape, dtype=torch.bool), encoder_out)
        cache, steps = {}, []
        for step in range(6):
            previous = vectors[:, step - 1] if step else None
            steps.append(model.latent_predictor.step(previous, step, encoder_out, cache))
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-5)


def test_kept_positions_get_the_logits_of_the_full_decoder_pass(model):
    _, batch = batch_of(model)
    encoder_out = model.encode(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
    codes = torch.randint(0, 64, (len(SOURCE_LENGTHS), 3), generator=torch.Generator().manual_seed(1))
    mask = torch.arange(3)[None, :] < torch.tensor([3, 1, 2, 3, 2])[:, None]
    with torch.no_grad():
        full = model.decode_codes(codes, mask, encoder_out)  # (B, 12, V)
        kept = model.decode_codes(codes, mask, encoder_out, keep=7)
    assert full.shape[1] == 12 and kept.shape == full[:, :7].shape
    torch.testing.assert_close(kept, full[:, :7], atol=1e-5, rtol=1e-5)


def test_full_width_beam_over_two_latents_is_exact_search(model):
    _, batch = batch_of(model, lengths=[6, 4], seed=9)
    encoder_out = model.encode(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
    num_codes = model.bottleneck.num_codes
    codes, scores = search_latents(model, encoder_out, torch.tensor([2, 2]), beam_size=num_codes)
    with torch.no_grad():
        for row in range(2):
            single = model.encoder.reorder_encoder_out(encoder_out, torch.full((num_codes,), row))
            first = torch.arange(num_codes)
            pairs = torch.stack([first, torch.zeros_like(first)], 1)  # every first code; 2nd input unused
            log_probs = F.log_softmax(model.latent_predictor(
                model.embed_codes(pairs), torch.ones(num_codes, 2, dtype=torch.bool), single), dim=-1)
            totals = log_probs[:, 0].gather(1, first[:, None]).squeeze(1)[:, None] + log_probs[:, 1]  # (K, K)
            best = int(totals.argmax())
            assert codes[row].tolist() == [best // num_codes, best % num_codes]
            torch.testing.assert_close(scores[row], totals.max(), atol=1e-5, rtol=1e-5)
            greedy_first = int(log_probs[0, 0].argmax())
            greedy, _ = search_latents(model, model.encoder.reorder_encoder_out(encoder_out, torch.tensor([row])),
                                       torch.tensor([2]), beam_size=1)
            assert greedy[0].tolist() == [greedy_first, int(log_probs[greedy_first, 1].argmax())]


def test_predicted_rule_decodes_enough_latents_for_the_predicted_length(model):
    sources, batch = batch_of(model)
    generator = VQNATGenerator(model.encoder.dictionary, length_rule="predicted")
    hypotheses = hypotheses_in_input_order(model, generator, sources)
    with torch.no_grad():
        encoded = model.encode(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
        predicted = model.length_predictor.predict(model.length_predictor(encoded), batch["net_input"]["src_lengths"])
    for length, hypothesis in zip(unsort(batch, predicted.tolist()), hypotheses):
        assert len(hypothesis["latent_codes"]) == math.ceil(length / 4)
        assert len(hypothesis["tokens"]) <= length


def test_hypothesis_ends_at_the_first_eos_or_the_length_limit():
    generator = VQNATGenerator(tiny_model().encoder.dictionary)
    eos, codes, score = generator.eos, torch.zeros(2, dtype=torch.long), torch.tensor(0.0)
    tokens = torch.tensor([7, 8, eos, 9, eos, 10, 11, 12])
    scores = -torch.arange(1.0, 9.0)
    early = generator.hypothesis(tokens, scores, 8, codes, score)
    assert early["tokens"].tolist() == [7, 8, eos] and early["positional_scores"].tolist() == [-1, -2, -3]
    capped = generator.hypothesis(tokens[5:], scores[5:], 3, codes, score)
    assert capped["tokens"].tolist() == [10, 11, eos] and capped["positional_scores"].tolist() == [-6, -7, 0]
    assert capped["score"] == pytest.approx(-13 / 3)


def predicted_lengths(model, batch):
    with torch.no_grad():
        encoded = model.encode(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
        predicted = model.length_predictor.predict(model.length_predictor(encoded), batch["net_input"]["src_lengths"])
    return unsort(batch, predicted.tolist())


def test_length_scale_decodes_the_scaled_number_of_latents(model):
    sources, batch = batch_of(model)
    generator = VQNATGenerator(model.encoder.dictionary, length_scale=1.5)
    hypotheses = hypotheses_in_input_order(model, generator, sources)
    for length, hypothesis in zip(predicted_lengths(model, batch), hypotheses):
        scaled = max(1, round(1.5 * length))
        assert len(hypothesis["latent_codes"]) == math.ceil(scaled / 4)
        assert len(hypothesis["tokens"]) <= scaled


def test_exact_length_gives_every_translation_its_length_and_one_final_eos(model):
    sources, batch = batch_of(model)
    eos = model.encoder.dictionary.eos()
    free = hypotheses_in_input_order(model, VQNATGenerator(model.encoder.dictionary, length_scale=2.0), sources)
    exact = hypotheses_in_input_order(
        model, VQNATGenerator(model.encoder.dictionary, length_scale=2.0, exact_length=True), sources)
    lengths = [max(1, round(2.0 * length)) for length in predicted_lengths(model, batch)]
    assert any(len(hypothesis["tokens"]) < length for hypothesis, length in zip(free, lengths))
    for hypothesis, length in zip(exact, lengths):
        assert len(hypothesis["tokens"]) == length
        assert int((hypothesis["tokens"] == eos).sum()) == 1 and hypothesis["tokens"][-1] == eos
    # the same codes: only where the translation may end changes
    for one, other in zip(free, exact):
        assert torch.equal(one["latent_codes"], other["latent_codes"])


def test_a_length_scale_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match=r"--length-scale must be > 0, got 0"):
        VQNATGenerator(tiny_model().encoder.dictionary, length_scale=0)
