"""--local-codes: each latent is compressed from its own 2^n_c target tokens and nothing around them."""
import torch

from tiny_model import tiny_model


def latents_before_and_after_changing_token(model, position: int):
    target = torch.randint(4, 24, (1, 16), generator=torch.Generator().manual_seed(0))
    changed = target.clone()
    changed[0, position] = 4 + (int(target[0, position]) - 3) % 20
    with torch.no_grad():
        return [model.compress_target(t)[1][0] for t in (target, changed)]


def test_a_token_moves_only_its_own_latent_when_codes_are_local():
    local, contextual = tiny_model(local_codes=True), tiny_model()  # n_c = 2: latent 2 covers tokens 8-11
    for model, own_only in ((local, True), (contextual, False)):
        before, after = latents_before_and_after_changing_token(model, position=9)
        changed = ((before - after).abs().amax(-1) > 1e-6).nonzero().flatten().tolist()
        assert 2 in changed
        assert (changed == [2]) == own_only


def test_local_latents_do_not_depend_on_where_their_tokens_stand():
    model = tiny_model(local_codes=True)
    tokens = torch.randint(4, 24, (1, 4), generator=torch.Generator().manual_seed(1))
    other = torch.randint(4, 24, (1, 8), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        alone = model.compress_target(tokens)[1][0, 0]
        later = model.compress_target(torch.cat([other, tokens], 1))[1][0, 2]
    torch.testing.assert_close(later, alone)
