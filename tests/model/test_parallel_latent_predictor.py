"""The parallel latent predictor: the source copy, glancing, the decoder reading predicted codes, one-pass search."""
import pytest
import torch

from test_criterion import make_criterion, tiny_batch
from tiny_model import tiny_model
from vqnat.bench.steps import DecoderStepCounter
from vqnat.generation.generator import VQNATGenerator
from vqnat.generation.latent_search import search_latents
from vqnat.models.parallel_latent_predictor import uniform_copy

PARALLEL = dict(latent_predictor="parallel", compress=0, decoder_bidirectional=True)


def encoder_out_of(embedded, padding):
    return {"encoder_embedding": [embedded], "encoder_padding_mask": [padding]}


def test_uniform_copy_maps_positions_like_fairseq_nat_whatever_the_padding():
    embedded = torch.arange(2 * 6, dtype=torch.float).view(2, 6, 1)  # value = row * 6 + position
    mask = torch.tensor([[True] * 3 + [False] * 2, [True] * 5])  # 3 and 5 latents
    left = torch.tensor([[True, True, False, False, False, False], [False] * 6])  # lengths 4 and 6, left-padded
    copied = uniform_copy(encoder_out_of(embedded, left), mask).squeeze(-1)
    # row 0: S = 4 tokens at positions 2..5, n = 3: round(j * 3 / 2) = 0, 2 (1.5 rounds to even), 3
    assert copied[0].tolist() == [2.0, 4.0, 5.0, 0.0, 0.0]
    # row 1: S = 6, n = 5: round(j * 5 / 4) = 0, 1, 2, 4, 5
    assert copied[1].tolist() == [6.0, 7.0, 8.0, 10.0, 11.0]
    right_embedded = torch.cat([embedded[:1, 2:], embedded[:1, :2]], dim=1)  # row 0 right-padded
    right = torch.tensor([[False] * 4 + [True] * 2])
    assert uniform_copy(encoder_out_of(right_embedded, right), mask[:1]).squeeze(-1).equal(copied[:1])
    one = uniform_copy(encoder_out_of(embedded, left), torch.tensor([[True], [True]])).squeeze(-1)
    assert one.tolist() == [[2.0], [6.0]]  # a single latent takes the first source token


def glance_inputs(model):
    batch = tiny_batch(model)
    encoder_out = model.encode(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
    _, bottleneck, quantized, mask = model.quantize_target(batch["target"])
    codes = model.bottleneck.join_codes(bottleneck.codes)
    return uniform_copy(encoder_out, mask), quantized, codes, mask, encoder_out


@pytest.mark.parametrize("ratio", [0.0, 0.5, 1.0])
def test_glancing_reveals_that_share_of_each_sentences_mistakes(ratio):
    model = tiny_model(**PARALLEL)
    inputs, vectors, codes, mask, encoder_out = glance_inputs(model)
    with torch.no_grad():
        new_inputs, revealed, first = model.latent_predictor.glance(inputs, vectors, codes, mask, encoder_out, ratio)
        assert first.equal(model.latent_predictor(inputs, mask, encoder_out).argmax(-1))
    mistakes = ((first != codes) & mask).sum(1)
    assert mistakes.sum() > 0
    assert revealed.sum(1).tolist() == torch.floor(mistakes * ratio).long().tolist()
    assert not (revealed & ~mask).any()
    assert new_inputs[revealed].equal(vectors[revealed])
    assert new_inputs[~revealed].equal(inputs[~revealed])


def test_glancing_reveals_nothing_in_a_sentence_predicted_right():
    model = tiny_model(**PARALLEL)
    inputs, vectors, codes, mask, encoder_out = glance_inputs(model)
    with torch.no_grad():
        predicted = model.latent_predictor(inputs, mask, encoder_out).argmax(-1)
        codes = codes.clone()
        codes[0] = predicted[0]  # the first sentence's codes are exactly what the predictor says
        _, revealed, _ = model.latent_predictor.glance(inputs, vectors, codes, mask, encoder_out, 1.0)
    assert not revealed[0].any() and revealed[1:].any()


def test_latent_loss_leaves_revealed_codes_out_and_accuracy_counts_first_pass_codes():
    model = tiny_model(bottleneck="ema", **PARALLEL).train()
    batch = tiny_batch(model)
    torch.manual_seed(0)
    with torch.no_grad():
        out = model(**batch["net_input"], target=batch["target"], glance_ratio=1.0)
    mask, loss_mask = out["latent_mask"], out["latent_loss_mask"]
    assert (loss_mask & ~mask).sum() == 0 and loss_mask.sum() < mask.sum()
    criterion = make_criterion(model, glance_ratio=1.0, latent_loss_weight=1.0)
    torch.manual_seed(0)
    with torch.no_grad():
        _, _, log = criterion(model, batch)
    assert log["loss_latents"] < log["nlatents"]
    assert log["glance_ratio"] == 1.0


def test_glancing_needs_the_parallel_predictor_and_ratios_are_checked():
    model = tiny_model().train()
    with pytest.raises(ValueError, match="add --latent-predictor parallel"):
        make_criterion(model, glance_ratio=0.5)(model, tiny_batch(model))
    with pytest.raises(ValueError, match="--code-mix-prob must be in"):
        make_criterion(model, code_mix_prob=1.5)


@pytest.mark.parametrize("options", [PARALLEL, {}])
def test_decoder_reads_the_predicted_codes_with_mix_probability_one(options):
    model = tiny_model(bottleneck="vq", **options).train()  # vq: the forward pass leaves the codebook as it is
    batch = tiny_batch(model)
    with torch.no_grad():
        mixed = model(**batch["net_input"], target=batch["target"], code_mix_prob=1.0)
        reference = model(**batch["net_input"], target=batch["target"], code_mix_prob=0.0)
        encoder_out = model.encode(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
        from_predicted = model.decode_codes(mixed["predicted_codes"], mixed["latent_mask"], encoder_out)
        from_reference = model.decode_codes(reference["codes"], reference["latent_mask"], encoder_out)
    assert not mixed["predicted_codes"].equal(mixed["codes"])
    torch.testing.assert_close(mixed["token_logits"], from_predicted)
    torch.testing.assert_close(reference["token_logits"], from_reference)


def test_parallel_generation_is_one_predictor_pass_and_one_decoder_pass():
    model = tiny_model(**PARALLEL)
    batch = tiny_batch(model)
    counter = DecoderStepCounter(model)
    hypotheses = VQNATGenerator(model.encoder.dictionary).generate([model], batch)
    counter.remove()
    assert counter.counts == {"decoder": 1, "latent_predictor.decoder": 1}
    encoder_out = model.encode(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
    num_latents = torch.tensor([len(h[0]["latent_codes"]) for h in hypotheses])
    codes, _ = search_latents(model, encoder_out, num_latents)
    mask = torch.arange(codes.size(1))[None, :] < num_latents[:, None]
    expected = model.latent_logits(None, mask, encoder_out).argmax(-1)
    assert codes[mask].equal(expected[mask])
    with pytest.raises(ValueError, match="this model's is parallel"):
        search_latents(model, encoder_out, num_latents, beam_size=2)


def test_uniform_reveal_leaves_at_least_one_latent_to_predict():
    model = tiny_model(**PARALLEL)
    inputs, vectors, _, mask, _ = glance_inputs(model)
    counts = []
    for seed in range(20):
        new_inputs, revealed = model.latent_predictor.reveal_uniformly(inputs, vectors, mask,
                                                                      torch.Generator().manual_seed(seed))
        assert not (revealed & ~mask).any() and ((mask & ~revealed).sum(1) >= 1).all()
        assert new_inputs[revealed].equal(vectors[revealed]) and new_inputs[~revealed].equal(inputs[~revealed])
        counts += revealed.sum(1).tolist()
    assert min(counts) == 0 and max(counts) >= 5  # shares spread over [0, 1)


@pytest.mark.parametrize("iterations", [1, 3])
def test_refinement_makes_one_pass_per_iteration_and_keeps_what_it_fixed(iterations):
    model = tiny_model(**PARALLEL)
    batch = tiny_batch(model)
    encoder_out = model.encode(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[0, 4:] = False
    copied = uniform_copy(encoder_out, mask)
    passes = []
    handle = model.latent_predictor.register_forward_hook(lambda module, args, out: passes.append(out.argmax(-1)))
    with torch.no_grad():
        codes, scores = model.latent_predictor.refine(copied, mask, encoder_out, model.embed_codes, iterations)
    handle.remove()
    assert len(passes) == iterations
    assert codes[:, :1].equal(passes[0][:, :1]) or iterations > 1
    if iterations == 1:
        assert codes.equal(passes[0])
    else:  # the first pass's most confident third of each sentence stays as it was
        first_scores, first_codes = torch.log_softmax(
            model.latent_predictor(copied, mask, encoder_out), -1).max(-1)
        for row, length in enumerate(mask.sum(1).tolist()):
            kept = first_scores[row, :length].argsort(descending=True)[: length // iterations]
            assert codes[row, kept].equal(first_codes[row, kept])


def test_refinement_gives_a_short_sentence_one_pass_per_code_whatever_the_batch():
    model = tiny_model(**PARALLEL)
    batch = tiny_batch(model)
    encoder_out = model.encode(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[0, 4:] = False  # 4 codes, then 6 and 6
    copied = uniform_copy(encoder_out, mask)
    passes = []
    handle = model.latent_predictor.register_forward_hook(lambda module, args, out: passes.append(1))
    with torch.no_grad():
        many = model.latent_predictor.refine(copied, mask, encoder_out, model.embed_codes, 16)
        assert len(passes) == 6  # the longest sentence's 6 codes, not 16
        as_many_as_codes = model.latent_predictor.refine(copied, mask, encoder_out, model.embed_codes, 6)
        first = model.encoder.reorder_encoder_out(encoder_out, torch.tensor([0]))
        alone = model.latent_predictor.refine(copied[:1, :4], mask[:1, :4], first, model.embed_codes, 16)
    handle.remove()
    assert len(passes) == 6 + 6 + 4
    assert many[0].equal(as_many_as_codes[0]) and many[1].equal(as_many_as_codes[1])
    assert alone[0].equal(many[0][:1, :4])  # fixed after its own 4 passes, unchanged by the batch's last 2
    assert torch.allclose(alone[1], many[1][:1, :4], atol=1e-5)


@pytest.mark.parametrize("kind", ["vq", "ema", "soft_em", "dvq", "semhash"])
def test_each_bottleneck_kind_trains_with_the_parallel_predictor(kind):
    model = tiny_model(bottleneck=kind, num_samples=3, latent_predictor="parallel").train()
    batch = tiny_batch(model)
    loss, _, _ = make_criterion(model, glance_ratio=0.5, code_mix_prob=0.5)(model, batch)
    loss.backward()
    loss, _, _ = make_criterion(model, reveal="uniform", code_mix_prob=0.5)(model, batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []
    model.eval()
    for hypos in VQNATGenerator(model.encoder.dictionary).generate([model], batch):
        assert 0 <= int(hypos[0]["latent_codes"].min()) and int(hypos[0]["latent_codes"].max()) < 64
