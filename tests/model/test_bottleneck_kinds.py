"""Every ``--bottleneck`` kind trains (finite loss, gradients everywhere) and generates inside the model."""
import pytest
import torch

from test_criterion import make_criterion, tiny_batch
from tiny_model import tiny_model
from vqnat.generation.generator import VQNATGenerator


@pytest.mark.parametrize("kind,code_dim", [("vq", 0), ("ema", 0), ("soft_em", 0), ("dvq", 0), ("semhash", 0),
                                           ("ema", 4), ("soft_em", 4)])
def test_each_bottleneck_kind_trains_and_generates(kind, code_dim):
    model = tiny_model(bottleneck=kind, num_samples=3, code_dim=code_dim).train()
    batch = tiny_batch(model)
    loss, _, log = make_criterion(model)(model, batch)
    loss.backward()
    assert torch.isfinite(loss)
    no_gradient = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert no_gradient == []
    assert 1.0 <= float(log["codebook_perplexity"]) <= model.bottleneck.num_codes

    model.eval()
    hypotheses = VQNATGenerator(model.encoder.dictionary, length_rule="paper").generate([model], batch)
    for hypos in hypotheses:
        codes = hypos[0]["latent_codes"]
        assert codes.dtype == torch.long and 0 <= int(codes.min()) and int(codes.max()) < 64


def test_factorized_codes_decode_in_generation_as_in_training():
    model = tiny_model(bottleneck="ema", code_dim=4)
    assert model.bottleneck.codebook.shape == (64, 4)
    batch = tiny_batch(model)
    with torch.no_grad():
        out = model(**batch["net_input"], target=batch["target"])
        encoder_out = model.encode(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
        regenerated = model.decode_codes(out["codes"], out["latent_mask"], encoder_out)
    assert model.embed_codes(out["codes"]).shape == (*out["codes"].shape, 32)
    mask = out["target"].ne(1)
    torch.testing.assert_close(regenerated[mask], out["token_logits"][mask])
    with pytest.raises(ValueError, match="--code-dim must be >= 0"):
        tiny_model(code_dim=-1)


def test_unknown_option_values_name_the_flag():
    with pytest.raises(ValueError, match="--bottleneck semhash --codebook-size 48"):
        tiny_model(bottleneck="semhash", codebook_size=48)
