"""--prior-matching-weight: KL(q(z | y) || p(z | x)) pulls the compressor's codes towards the source's prediction."""
import re

import pytest
import torch
import torch.nn.functional as F

from test_criterion import make_criterion, tiny_batch
from tiny_model import tiny_model
from vqnat.bottleneck.factory import build_bottleneck


def test_the_posterior_is_the_softmax_of_minus_the_distances_over_the_temperature():
    quantizer = build_bottleneck("soft_em", dim=4, num_codes=8, temperature=2.0)
    x = torch.randn(5, 4)
    expected = F.log_softmax(-torch.cdist(x, quantizer.codebook.float()).pow(2) / 2.0, dim=-1)
    torch.testing.assert_close(quantizer.log_posterior(x), expected, rtol=1e-4, atol=1e-4)
    hard = build_bottleneck("ema", dim=4, num_codes=8)
    hard_expected = F.log_softmax(-torch.cdist(x, hard.codebook.float()).pow(2), dim=-1)
    torch.testing.assert_close(hard.log_posterior(x), hard_expected, rtol=1e-4, atol=1e-4)


def test_sliced_codebooks_refuse_it_in_one_line():
    quantizer = build_bottleneck("dvq", dim=4, num_codes=16, num_slices=2)
    with pytest.raises(ValueError, match="one codebook"):
        quantizer.log_posterior(torch.randn(3, 4))


def test_the_loss_adds_the_weighted_kl_per_latent_and_trains_the_compressor_not_the_predictor():
    model = tiny_model(commitment_beta=0.0, bottleneck="soft_em", em_temperature=2.0)
    batch = tiny_batch(model)
    with torch.no_grad():
        plain, _, plain_log = make_criterion(model)(model, batch)
        loss, _, log = make_criterion(model, prior_matching_weight=0.5)(model, batch)
        out = model(**batch["net_input"], target=batch["target"])
    mask = out["latent_mask"]
    q = F.softmax(-torch.cdist(out["code_inputs"][mask], model.bottleneck.codebook.float()).pow(2) / 2.0, dim=-1)
    log_p = F.log_softmax(out["latent_logits"][mask], dim=-1)
    kl = (q * (q.log() - log_p)).sum()
    assert kl > 0
    ntokens, nlatents = plain_log["ntokens"], mask.sum()
    torch.testing.assert_close(loss, plain + ntokens * 0.5 * kl / nlatents, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(log["prior_kl"], kl, rtol=1e-4, atol=1e-4)
    assert "prior_kl" not in plain_log

    model.zero_grad()
    make_criterion(model, prior_matching_weight=1.0).prior_kl(model, model(**batch["net_input"],
                                                                           target=batch["target"])).backward()
    assert model.compressor.strided[0].conv.weight.grad.abs().sum() > 0
    assert all(parameter.grad is None for parameter in model.latent_predictor.parameters())
    assert all(parameter.grad is None for parameter in model.decoder.parameters())


def test_a_negative_weight_is_refused_in_one_line():
    model = tiny_model(bottleneck="ema")
    with pytest.raises(ValueError, match=re.escape("--prior-matching-weight must be >= 0, got -1")):
        make_criterion(model, prior_matching_weight=-1.0)
