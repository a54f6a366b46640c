"""vqnat_loss against hand computations; the paper's schedules at known points."""
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from tiny_model import collate, random_sentences, tiny_model
from vqnat.criterions.schedules import latent_input_prob, teacher_forcing_prob
from vqnat.criterions.vqnat_loss import VQNATLoss, soft_cross_entropy


def make_criterion(model, train_padding="none", **overrides):
    options = dict(label_smoothing=0.0, tf_warmup_updates=0, latent_loss_start=0, latent_loss_weight=1.0,
                   latent_token_loss_weight=1.0, prior_matching_weight=0.0,
                   length_loss_weight=0.1, reveal="glance", glance_ratio=0.0, glance_ratio_end=-1.0, glance_anneal_updates=0,
                   token_glance_ratio=0.0, token_glance_ratio_end=-1.0,
                   code_mix_prob=0.0, code_mix_start=0, collapse_threshold=0.1)
    options.update(overrides)
    dictionary = model.encoder.dictionary
    task = SimpleNamespace(source_dictionary=dictionary, target_dictionary=dictionary,
                           cfg=SimpleNamespace(train_padding=train_padding))
    return VQNATLoss(task, **options)


def tiny_batch(model):
    dictionary = model.encoder.dictionary
    return collate(random_sentences([4, 7, 5], 3, dictionary), random_sentences([6, 3, 9], 4, dictionary), dictionary)


def token_nll(model, batch):
    """Sum of -log p(y_t) over the real target tokens, from the model's own logits."""
    with torch.no_grad():
        out = model(**batch["net_input"], target=batch["target"])
    target = batch["target"]
    logits = out["token_logits"][:, : target.size(1)]
    log_probs = torch.log_softmax(logits, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return -(log_probs * target.ne(1)).sum(), out


def test_loss_reduces_to_token_nll_without_latent_length_and_commitment_terms():
    model = tiny_model(commitment_beta=0.0)
    batch = tiny_batch(model)
    criterion = make_criterion(model, latent_loss_start=10**9, length_loss_weight=0.0)
    with torch.no_grad():
        loss, sample_size, log = criterion(model, batch)
    expected, _ = token_nll(model, batch)
    assert sample_size == batch["ntokens"] == 6 + 3 + 9
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(log["nll_loss"], expected)


def test_latent_and_length_terms_are_per_latent_and_per_sentence_means():
    model = tiny_model(commitment_beta=0.0)
    batch = tiny_batch(model)
    criterion = make_criterion(model, length_loss_weight=0.5)
    with torch.no_grad():
        loss, _, log = criterion(model, batch)
    nll, out = token_nll(model, batch)
    mask = out["latent_mask"]
    assert int(mask.sum()) == math.ceil(6 / 4) + math.ceil(3 / 4) + math.ceil(9 / 4)
    latent_mean = F.cross_entropy(out["latent_logits"][mask], out["codes"][mask])
    length_mean = F.cross_entropy(out["length_logits"], out["length_target"])
    torch.testing.assert_close(loss, nll + 18 * (latent_mean + 0.5 * length_mean))
    torch.testing.assert_close(log["latent_loss"] / log["nlatents"], latent_mean)


def test_paper_training_padding_covers_twice_the_source():
    model = tiny_model()
    batch = tiny_batch(model)
    with torch.no_grad():
        loss, _, log = make_criterion(model, train_padding="paper")(model, batch)
    # sources of 4, 7, 5 tokens -> roundup_4(2S) = 8, 16, 12 target positions -> 2 + 4 + 3 latents
    assert int(log["nlatents"]) == 9
    assert int(log["ntokens"]) == 18 and torch.isfinite(loss)


def test_soft_cross_entropy_by_hand():
    logits = torch.tensor([[math.log(1.0), math.log(2.0), math.log(1.0)]])  # p = 1/4, 1/2, 1/4
    labels = torch.tensor([[0.5, 0.5, 0.0]])
    expected = -(0.5 * math.log(0.25) + 0.5 * math.log(0.5))
    torch.testing.assert_close(soft_cross_entropy(logits, labels), torch.tensor([expected]))


def test_teacher_forcing_schedule_follows_the_paper():
    warmup = 50_000
    assert latent_input_prob(0, warmup) == pytest.approx(1e-4)  # invlin 0.01 * invexp 0.01
    assert latent_input_prob(12_500, warmup) == pytest.approx(0.2575)  # invexp reached 1
    assert latent_input_prob(warmup, warmup) == 1.0 and latent_input_prob(10 * warmup, warmup) == 1.0
    assert teacher_forcing_prob(123, 0) == 0.0
    values = [latent_input_prob(step, warmup) for step in range(0, warmup, 1000)]
    assert values == sorted(values)


def test_teacher_forcing_needs_a_causal_decoder():
    model = tiny_model(decoder_bidirectional=True).train()
    criterion = make_criterion(model, tf_warmup_updates=100)
    with pytest.raises(ValueError, match="--decoder-bidirectional"):
        criterion(model, tiny_batch(model))


def test_teacher_forcing_feeds_target_embeddings_on_real_positions():
    model = tiny_model()
    target = torch.tensor([[5, 6, 2, 1]])  # two words, EOS, PAD
    latent_inputs = torch.randn(1, 4, 32)
    mixed = model.teacher_force(latent_inputs, target, prob=1.0)
    torch.testing.assert_close(mixed[:, :3], model.embed_scale * model.embed_tokens(target[:, :3]))
    assert torch.equal(mixed[:, 3], latent_inputs[:, 3])
    assert torch.equal(model.teacher_force(latent_inputs, target, prob=0.0), latent_inputs)


def test_criterion_applies_the_warm_up_in_training_only():
    model = tiny_model().train()
    criterion = make_criterion(model, tf_warmup_updates=100)
    _, _, log = criterion(model, tiny_batch(model))
    assert log["tf_prob"] == pytest.approx(1 - 1e-4)
    model.eval()
    with torch.no_grad():
        _, _, log = criterion(model, tiny_batch(model))
    assert log["tf_prob"] == 0.0


@pytest.mark.parametrize("detach", [False, True])
def test_latent_loss_reaches_the_compressor_unless_detached(detach):
    model = tiny_model(commitment_beta=0.0, bottleneck="ema", latent_predictor_detach=detach).train()
    batch = tiny_batch(model)
    out = model(**batch["net_input"], target=batch["target"])
    mask = out["latent_mask"]
    F.cross_entropy(out["latent_logits"][mask], out["codes"][mask]).backward()
    compressor_grads = [p.grad for p in model.compressor.parameters() if p.grad is not None]
    assert any(grad.abs().sum() > 0 for grad in compressor_grads) != detach
    assert model.latent_predictor.output_projection.weight.grad.abs().sum() > 0
