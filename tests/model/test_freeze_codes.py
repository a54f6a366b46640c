"""--freeze-codes-after: from that update on the compressor gets no gradient and the codebook no EM step, while
the latent predictor and the decoder train on."""
import pytest
import torch

from test_criterion import tiny_batch
from tiny_model import tiny_model


def train_step(model, batch):
    """One training forward and backward pass of the token and latent losses; the model's gradients."""
    model.zero_grad()
    out = model(**batch["net_input"], target=batch["target"])
    mask = out["latent_mask"]
    loss = torch.nn.functional.cross_entropy(out["latent_logits"][mask], out["codes"][mask])
    logits = out["token_logits"][:, : batch["target"].size(1)]
    (loss + torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch["target"], ignore_index=1)).backward()
    return out


def gets_gradient(module) -> bool:
    return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


@pytest.mark.parametrize("bottleneck", ["ema", "soft_em"])
def test_before_the_freeze_codes_train_after_it_only_predictor_and_decoder_do(bottleneck):
    model = tiny_model(bottleneck=bottleneck, freeze_codes_after=3).train()
    batch = tiny_batch(model)
    model.set_num_updates(2)
    before = model.bottleneck.codebook.clone()
    train_step(model, batch)
    assert gets_gradient(model.compressor)
    assert not torch.equal(model.bottleneck.codebook, before)

    model.set_num_updates(3)
    before = model.bottleneck.codebook.clone()
    em_steps = int(model.bottleneck.num_updates)
    train_step(model, batch)
    assert not gets_gradient(model.compressor)
    assert not any(p.requires_grad for p in model.compressor.parameters())  # several workers: no zeros for Adam
    assert torch.equal(model.bottleneck.codebook, before) and int(model.bottleneck.num_updates) == em_steps
    assert gets_gradient(model.latent_predictor) and gets_gradient(model.decoder)


def test_without_the_flag_the_codes_never_freeze():
    model = tiny_model(bottleneck="ema").train()
    model.set_num_updates(10**6)
    before = model.bottleneck.codebook.clone()
    train_step(model, tiny_batch(model))
    assert gets_gradient(model.compressor) and not torch.equal(model.bottleneck.codebook, before)
