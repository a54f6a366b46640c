"""--latent-token-prediction: the autoregressive latent predictor's states also predict each code's tokens."""
import re

import pytest
import torch
import torch.nn.functional as F

from test_criterion import make_criterion, tiny_batch
from tiny_model import tiny_model
from vqnat.models.latent_predictor import LatentTokenHead


def test_the_head_starts_as_the_state_repeated_for_each_token_of_a_code():
    states = torch.randn(2, 3, 8)
    head = LatentTokenHead(8, compress_steps=2)
    expanded = head(states)
    assert expanded.shape == (2, 12, 8)
    # token position 4 * j + r of the target reads the state of code j
    assert torch.equal(expanded.view(2, 3, 4, 8), states.unsqueeze(2).expand(2, 3, 4, 8))


def test_token_logits_line_up_with_the_padded_target_and_come_from_the_predictor_states():
    model = tiny_model(bottleneck="ema", latent_token_prediction=True)
    batch = tiny_batch(model)
    with torch.no_grad():
        out = model(**batch["net_input"], target=batch["target"])
        target, mask = out["target"], out["latent_mask"]
        assert out["latent_token_logits"].shape == (*target.shape, len(model.encoder.dictionary))
        states = model.latent_predictor.features(model.embed_codes(out["codes"]), mask, model.encode(
            batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"]))
    # the logits of code j's tokens are the shared embedding's readout of the state that predicts code j
    expected = F.linear(states, model.embed_tokens.weight).repeat_interleave(4, dim=1)
    torch.testing.assert_close(out["latent_token_logits"], expected, rtol=1e-4, atol=1e-4)
    assert tiny_model(bottleneck="ema")(**batch["net_input"], target=batch["target"])["latent_token_logits"] is None


def test_the_loss_adds_the_weighted_token_cross_entropy_and_trains_the_predictor_not_the_decoder():
    model = tiny_model(commitment_beta=0.0, bottleneck="ema", latent_token_prediction=True)
    batch = tiny_batch(model)
    with torch.no_grad():
        plain, _, _ = make_criterion(model, latent_token_loss_weight=0.0)(model, batch)
        loss, _, log = make_criterion(model, latent_token_loss_weight=0.5)(model, batch)
        out = model(**batch["net_input"], target=batch["target"])
    real = out["target"].ne(model.pad)
    token_sum = F.cross_entropy(out["latent_token_logits"][real], out["target"][real], reduction="sum")
    torch.testing.assert_close(loss, plain + 0.5 * token_sum)
    torch.testing.assert_close(log["latent_token_loss"], token_sum)

    model.train()
    model.zero_grad()
    out = model(**batch["net_input"], target=batch["target"])
    real = out["target"].ne(model.pad)
    F.cross_entropy(out["latent_token_logits"][real], out["target"][real]).backward()
    assert model.latent_token_head.projection.weight.grad.abs().sum() > 0
    assert model.latent_predictor.decoder.layers[0].fc1.weight.grad.abs().sum() > 0
    assert model.decoder.layers[0].fc1.weight.grad is None


def test_the_parallel_latent_predictor_refuses_it_in_one_line():
    with pytest.raises(ValueError, match=re.escape("--latent-token-prediction trains the autoregressive")):
        tiny_model(latent_token_prediction=True, latent_predictor="parallel", compress=0)
