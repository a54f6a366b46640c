"""--latent-input-dropout: word dropout over the earlier codes the autoregressive latent predictor reads."""
import re

import pytest
import torch

from test_criterion import tiny_batch
from tiny_model import tiny_model
from vqnat.models.latent_predictor import drop_code_inputs


def test_dropped_positions_are_whole_zero_vectors_and_the_rest_untouched():
    torch.manual_seed(0)
    vectors = torch.randn(64, 50, 8) + 3.0
    dropped = drop_code_inputs(vectors, 0.3)
    zero = dropped.eq(0).all(-1)
    assert torch.equal(dropped[~zero], vectors[~zero])
    assert zero.float().mean().item() == pytest.approx(0.3, abs=0.03)
    assert torch.equal(drop_code_inputs(vectors, 0.0), vectors)


def latent_and_token_logits(model, batch, seed):
    torch.manual_seed(seed)
    out = model(**batch["net_input"], target=batch["target"])
    return out["latent_logits"], out["token_logits"], out["latent_mask"]


def test_training_drops_inputs_after_the_first_code_only():
    plain = tiny_model(bottleneck="ema", latent_input_dropout=0.0).train()
    dropping = tiny_model(bottleneck="ema", latent_input_dropout=0.9).train()
    dropping.load_state_dict(plain.state_dict())
    batch = tiny_batch(plain)
    latents, tokens, mask = latent_and_token_logits(plain, batch, seed=1)
    dropped_latents, dropped_tokens, _ = latent_and_token_logits(dropping, batch, seed=1)
    assert mask[:, 1:].any()
    # position 0 reads the start vector either way; later positions read dropped code vectors
    assert torch.allclose(dropped_latents[:, 0], latents[:, 0], atol=1e-6)
    assert not torch.allclose(dropped_latents[:, 1:][mask[:, 1:]], latents[:, 1:][mask[:, 1:]], atol=1e-4)
    # the decoder still reads every reference code
    assert torch.allclose(dropped_tokens, tokens, atol=1e-6)


def test_evaluation_reads_every_code():
    plain = tiny_model(bottleneck="ema").eval()
    dropping = tiny_model(bottleneck="ema", latent_input_dropout=0.9).eval()
    dropping.load_state_dict(plain.state_dict())
    batch = tiny_batch(plain)
    with torch.no_grad():
        assert torch.equal(latent_and_token_logits(plain, batch, 1)[0], latent_and_token_logits(dropping, batch, 1)[0])


@pytest.mark.parametrize("options, message", [
    ({"latent_input_dropout": 1.0}, "must be in [0, 1)"),
    ({"latent_input_dropout": 0.3, "latent_predictor": "parallel", "compress": 0}, "the parallel one reads none"),
])
def test_bad_settings_are_refused_in_one_line(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tiny_model(**options)
