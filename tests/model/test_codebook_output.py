"""--latent-output codebook: the latent predictor scores each code by its own codebook vector."""
import copy
import importlib.util
import math

import pytest
import torch
import torch.nn.functional as F

from test_criterion import tiny_batch
from tiny_model import tiny_model


def teacher_forced(model, batch):
    encoder_out = model.encode(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
    _, _, vectors, mask = model.quantize_target(batch["target"])
    return encoder_out, vectors, mask


@pytest.mark.parametrize("predictor", ["autoregressive", "parallel"])
def test_a_code_s_logit_is_the_projected_state_against_its_vector_plus_its_bias(predictor):
    compress = 0 if predictor == "parallel" else 2
    model = tiny_model(bottleneck="ema", latent_output="codebook", latent_predictor=predictor, compress=compress)
    head = model.latent_predictor.output_projection
    with torch.no_grad():
        head.bias.normal_()
        states = torch.randn(3, 5, model.args.embed_dim)
        table = model.embed_codes(torch.arange(model.bottleneck.num_codes))
        expected = head.proj(states) @ table.T / math.sqrt(model.args.embed_dim) + head.bias
        torch.testing.assert_close(head(states), expected)
        # moving one code's vector moves that code's logit alone
        model.bottleneck.codebook[7] += 1.0
        moved = head(states)
    changed = (moved - expected).abs().amax(dim=(0, 1)) > 1e-6
    assert changed.nonzero().flatten().tolist() == [7]


@pytest.mark.parametrize("output, detach, reaches", [("codebook", False, True), ("codebook", True, False),
                                                     ("free", False, False)])
def test_the_latent_loss_trains_the_codebook_only_through_a_tied_output_that_is_not_detached(output, detach, reaches):
    """vq's codebook is a parameter that the straight-through code vectors give no gradient: only the tied
    output layer can carry the latent loss to it."""
    model = tiny_model(bottleneck="vq", commitment_beta=0.0, latent_output=output,
                       latent_predictor_detach=detach).train()
    batch = tiny_batch(model)
    out = model(**batch["net_input"], target=batch["target"])
    mask = out["latent_mask"]
    F.cross_entropy(out["latent_logits"][mask], out["codes"][mask]).backward()
    grad = model.bottleneck.codebook.grad
    assert (grad is not None and grad.abs().sum().item() > 0) == reaches


def test_incremental_steps_match_the_teacher_forced_pass():
    model = tiny_model(bottleneck="ema", latent_output="codebook")
    batch = tiny_batch(model)
    with torch.no_grad():
        encoder_out, vectors, mask = teacher_forced(model, batch)
        full = model.latent_predictor(vectors, torch.ones_like(mask), encoder_out)
        cache, steps = {}, []
        for step in range(vectors.size(1)):
            steps.append(model.latent_predictor.step(vectors[:, step - 1] if step else None, step, encoder_out, cache))
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-5)


def test_a_copied_model_scores_codes_with_its_own_codebook():
    model = tiny_model(bottleneck="ema", latent_output="codebook")
    twin = copy.deepcopy(model)
    states = torch.randn(2, model.args.embed_dim)
    with torch.no_grad():
        twin.bottleneck.codebook.mul_(2.0)
        assert not torch.allclose(twin.latent_predictor.output_projection(states),
                                  model.latent_predictor.output_projection(states))


def test_the_output_layer_kind_is_checked():
    with pytest.raises(ValueError, match="--latent-output must be one of free, codebook"):
        tiny_model(latent_output="tied")


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="ONNX Runtime is not installed")
def test_onnx_steps_give_the_pytorch_logits(tmp_path):
    from vqnat.engines.onnx import use_onnxruntime

    model = tiny_model(bottleneck="ema", latent_output="codebook")
    with torch.no_grad():
        model.latent_predictor.output_projection.bias.normal_()
    exported = copy.deepcopy(model)
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"")  # the export is cached beside it
    use_onnxruntime(exported, checkpoint, "float32")
    batch = tiny_batch(model)
    with torch.no_grad():
        encoder_out, vectors, _ = teacher_forced(model, batch)
        caches = ({}, {})
        for step in range(vectors.size(1)):
            previous = vectors[:, step - 1] if step else None
            logits = [net.latent_predictor.step(previous, step, encoder_out, cache)
                      for net, cache in zip((model, exported), caches)]
            torch.testing.assert_close(logits[1], logits[0], atol=1e-4, rtol=1e-4)
