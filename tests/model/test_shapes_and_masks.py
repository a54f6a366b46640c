"""Compression lengths and masks; a sentence gives the same outputs alone and in a padded batch."""
import math

import pytest
import torch

from tiny_model import collate, random_sentences, tiny_model, unsort
from vqnat.models.conv_autoencoder import ConvLayer, LatentDecompressor, TargetCompressor


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_compress_decompress_lengths_for_targets_of_1_to_40(steps):
    lengths = torch.arange(1, 41)
    factor = 2**steps
    width = math.ceil(40 / factor) * factor
    mask = torch.arange(width)[None, :] < lengths[:, None]  # (40, width)
    x = torch.randn(40, width, 8)
    compressor, decompressor = TargetCompressor(8, steps, 0.0).eval(), LatentDecompressor(8, steps, 0.0).eval()

    latents, latent_mask = compressor(x, mask)
    upsampled, upsampled_mask = decompressor(latents, latent_mask)

    expected_latents = torch.tensor([math.ceil(n / factor) for n in range(1, 41)])
    assert latents.shape == (40, width // factor, 8)
    assert torch.equal(latent_mask.sum(1), expected_latents)
    assert torch.equal(latent_mask, torch.arange(width // factor)[None, :] < expected_latents[:, None])
    assert upsampled.shape == (40, width, 8)
    assert torch.equal(upsampled_mask.sum(1), expected_latents * factor)
    assert torch.all(latents[~latent_mask] == 0) and torch.all(upsampled[~upsampled_mask] == 0)


@pytest.mark.parametrize("kernel,stride,length", [(3, 1, 1), (3, 1, 7), (1, 1, 5), (2, 2, 2), (2, 2, 12)])
def test_conv_layer_computes_its_conv1d_and_trains_its_weight(kernel, stride, length):
    torch.manual_seed(0)
    layer = ConvLayer(6, 10, kernel, stride=stride, first_relu=False)
    x = torch.randn(3, length, 6, requires_grad=True)

    out = layer.convolve(x)
    expected = layer.conv(x.transpose(1, 2)).transpose(1, 2)

    assert out.shape == expected.shape == (3, length // stride, 10)
    assert torch.allclose(out, expected, atol=1e-5)
    out.sum().backward()
    assert layer.conv.weight.grad is not None and layer.conv.weight.grad.abs().sum() > 0


def test_padding_does_not_change_unpadded_outputs():
    model = tiny_model()
    dictionary = model.encoder.dictionary
    sources = random_sentences([3, 9, 6, 14], seed=1, dictionary=dictionary)
    targets = random_sentences([5, 13, 2, 11], seed=2, dictionary=dictionary)
    with torch.no_grad():
        batch = collate(sources, targets, dictionary)
        together = model(**batch["net_input"], target=batch["target"])
        encoded = model.encode(**{k: batch["net_input"][k] for k in ("src_tokens", "src_lengths")})
        source_mask = ~encoded["encoder_padding_mask"][0]
        states = unsort(batch, [encoded["encoder_out"][0][:, row][source_mask[row]] for row in range(4)])
        for i in range(4):
            single = collate(sources[i:i + 1], targets[i:i + 1], dictionary)
            alone = model(**single["net_input"], target=single["target"])
            row = batch["id"].tolist().index(i)
            n_latents, n_tokens = int(alone["latent_mask"].sum()), len(targets[i])
            alone_states = model.encode(single["net_input"]["src_tokens"], single["net_input"]["src_lengths"])
            torch.testing.assert_close(states[i], alone_states["encoder_out"][0][:, 0], atol=1e-5, rtol=1e-5)
            assert int(together["latent_mask"][row].sum()) == n_latents == math.ceil(n_tokens / 4)
            assert torch.equal(together["codes"][row, :n_latents], alone["codes"][0])
            for key, length in (("latent_logits", n_latents), ("token_logits", n_tokens)):
                torch.testing.assert_close(together[key][row, :length], alone[key][0, :length], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(together["length_logits"][row], alone["length_logits"][0], atol=1e-5,
                                       rtol=1e-5)


def test_compressor_outputs_match_alone_and_in_batch():
    torch.manual_seed(0)
    compressor = TargetCompressor(8, 2, 0.0).eval()
    lengths = [3, 9, 16, 1]
    x = torch.randn(4, 16, 8)
    mask = torch.arange(16)[None, :] < torch.tensor(lengths)[:, None]
    with torch.no_grad():
        batched, batched_mask = compressor(x * mask.unsqueeze(-1), mask)
        for i, n in enumerate(lengths):
            width = math.ceil(n / 4) * 4
            alone, _ = compressor(x[i:i + 1, :width], mask[i:i + 1, :width])
            torch.testing.assert_close(batched[i, : width // 4], alone[0], atol=1e-6, rtol=1e-6)
            assert int(batched_mask[i].sum()) == width // 4
