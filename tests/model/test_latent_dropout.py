"""--latent-dropout: the latent predictor's own dropout, apart from the rest of the model's."""
import pytest
import torch
from fairseq.modules import FairseqDropout

from tiny_model import tiny_model


def dropout_rates(module: torch.nn.Module) -> set:
    return {round(child.p, 6) for child in module.modules() if isinstance(child, FairseqDropout)}


def test_the_latent_predictor_takes_its_own_rate_and_the_rest_keep_theirs():
    model = tiny_model(latent_dropout=0.3)  # the tiny model's --dropout: 0
    assert dropout_rates(model.latent_predictor) == {0.3, 0.0}  # attention and activation dropout: their own
    assert dropout_rates(model.decoder) | dropout_rates(model.encoder) == {0.0}
    assert dropout_rates(tiny_model().latent_predictor) == {0.0}  # negative default: --dropout's


def test_a_rate_of_one_or_more_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"--latent-dropout must be < 1"):
        tiny_model(latent_dropout=1.0)
