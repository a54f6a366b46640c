"""--latent-hard-inputs: in training the latent predictor reads the vectors of the codes, as when it translates."""
import pytest
import torch
import torch.nn.functional as F

from test_criterion import tiny_batch
from tiny_model import tiny_model


def predictor_inputs_and_output(model, batch):
    seen = []
    hook = model.latent_predictor.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    try:
        torch.manual_seed(0)
        out = model(**batch["net_input"], target=batch["target"])
    finally:
        hook.remove()
    return seen[0], out


@pytest.mark.parametrize("hard", [False, True])
def test_under_soft_em_the_predictor_reads_its_codes_vectors_only_with_hard_inputs(hard):
    model = tiny_model(bottleneck="soft_em", num_samples=5, em_temperature=4.0, latent_hard_inputs=hard).train()
    inputs, out = predictor_inputs_and_output(model, tiny_batch(model))
    mask = out["latent_mask"]
    code_vectors = model.embed_codes(out["codes"])
    assert torch.allclose(inputs[mask], code_vectors[mask], atol=1e-6) == hard


@pytest.mark.parametrize("detach", [False, True])
def test_hard_inputs_pass_the_latent_loss_straight_through_to_the_compressor_unless_detached(detach):
    model = tiny_model(bottleneck="soft_em", num_samples=5, commitment_beta=0.0, latent_hard_inputs=True,
                       latent_predictor_detach=detach).train()
    _, out = predictor_inputs_and_output(model, tiny_batch(model))
    mask = out["latent_mask"]
    F.cross_entropy(out["latent_logits"][mask], out["codes"][mask]).backward()
    grads = [p.grad for p in model.compressor.parameters() if p.grad is not None]
    assert any(grad.abs().sum() > 0 for grad in grads) != detach
