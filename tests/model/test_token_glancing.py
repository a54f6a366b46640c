"""Decoder glancing: which target tokens the decoder reads, and what the token loss then covers."""
import pytest
import torch
import torch.nn.functional as F

from test_criterion import make_criterion, tiny_batch
from tiny_model import tiny_model
from vqnat.models.glancing import glanced_positions

PARALLEL = dict(latent_predictor="parallel", compress=0, decoder_bidirectional=True, bottleneck="vq")


def test_glanced_positions_are_that_share_of_each_rows_mistakes_among_its_real_positions():
    mask = torch.tensor([[True] * 6 + [False] * 2, [True] * 8, [True] * 3 + [False] * 5])
    mistakes = torch.tensor([[1, 1, 1, 1, 0, 0, 1, 1], [1] * 8, [0] * 8], dtype=torch.bool)
    for seed in range(20):
        revealed = glanced_positions(mistakes, mask, 0.5, torch.Generator().manual_seed(seed))
        # row 0 counts 4 mistakes (those on padding do not count), row 1 8, row 2 none
        assert revealed.sum(1).tolist() == [2, 4, 0]
        assert not (revealed & ~mask).any()
    drawn = sum(glanced_positions(mistakes, mask, 0.5, torch.Generator().manual_seed(seed))[1].float()
                for seed in range(400))
    assert drawn.min() > 150 and drawn.max() < 250  # uniform over the row's positions: 200 each expected


def decoder_inputs(model):
    batch = tiny_batch(model)
    encoder_out = model.encode(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
    target, _, quantized, latent_mask = model.quantize_target(batch["target"])
    decoder_input, mask = model.decoder_input(quantized, latent_mask, encoder_out)
    return decoder_input, mask, encoder_out, target


@pytest.mark.parametrize("ratio", [0.0, 0.5, 1.0])
def test_decoder_glancing_reveals_that_share_of_the_first_passs_token_mistakes(ratio):
    model = tiny_model(**PARALLEL)
    decoder_input, mask, encoder_out, target = decoder_inputs(model)
    with torch.no_grad():
        first = model.decode(decoder_input, mask, encoder_out).argmax(-1)
        new_input, revealed = model.glance_tokens(decoder_input, mask, encoder_out, target, ratio)
    real = target.ne(model.pad)
    mistakes = ((first != target) & real).sum(1)
    assert mistakes.sum() > 0
    assert revealed.sum(1).tolist() == torch.floor(mistakes * ratio).long().tolist()
    assert not (revealed & ~real).any()
    embedded = model.embed_scale * model.embed_tokens(target)
    assert new_input[revealed].equal(embedded[revealed])
    assert new_input[~revealed].equal(decoder_input[~revealed])


def test_token_loss_is_the_mean_over_the_tokens_glancing_left_out_and_generation_glances_at_nothing():
    model = tiny_model(**PARALLEL).train()
    batch = tiny_batch(model)
    torch.manual_seed(0)
    with torch.no_grad():
        out = model(**batch["net_input"], target=batch["target"], token_glance_ratio=1.0)
    real, loss_mask = out["target"].ne(model.pad), out["token_loss_mask"]
    assert (loss_mask & ~real).sum() == 0 and 0 < loss_mask.sum() < real.sum()
    nll = F.cross_entropy(out["token_logits"][loss_mask], out["target"][loss_mask])
    criterion = make_criterion(model, token_glance_ratio=1.0)
    torch.manual_seed(0)
    with torch.no_grad():
        _, _, log = criterion(model, batch)
    torch.testing.assert_close(log["nll_loss"], nll * real.sum())
    assert log["token_glance_ratio"] == 1.0
    model.eval()
    with torch.no_grad():
        out = model(**batch["net_input"], target=batch["target"], token_glance_ratio=1.0)
    assert out["token_loss_mask"].equal(out["target"].ne(model.pad))


def test_decoder_glancing_anneals_with_the_latent_ratio_and_needs_a_bidirectional_decoder():
    model = tiny_model(**PARALLEL).train()
    model.set_num_updates(50)
    criterion = make_criterion(model, token_glance_ratio=0.5, token_glance_ratio_end=0.3, glance_anneal_updates=100)
    _, _, log = criterion(model, tiny_batch(model))
    assert log["token_glance_ratio"] == pytest.approx(0.4)
    causal = tiny_model(bottleneck="vq").train()
    with pytest.raises(ValueError, match="add --decoder-bidirectional"):
        make_criterion(causal, token_glance_ratio=0.5)(causal, tiny_batch(causal))
    with pytest.raises(ValueError, match="--token-glance-ratio must be in"):
        make_criterion(model, token_glance_ratio=1.5)
