"""Training schedules as functions of the update number: the paper's (PAPER B.9, t2t ``common_layers``) and
the glancing ratio's."""


def inverse_linear(warmup: float, step: int) -> float:
    """invlin(T)(t) = 0.01 + 0.99 * min(t / T, 1): rises linearly from 0.01 to 1 at t = T."""
    return 0.01 + 0.99 * min(step / warmup, 1.0)


def inverse_exp(warmup: float, step: int) -> float:
    """invexp(T)(t) = 0.01 ** (max(T - t, 0) / T): rises exponentially from 0.01 to 1 at t = T."""
    return 0.01 ** (max(warmup - step, 0) / warmup)


def latent_input_prob(step: int, warmup_updates: int) -> float:
    """p_t, the share of decoder inputs taken from the latents: invlin(W) * invexp(W / 4), 1 from t = W.

    The paper's W is 50k updates (so invexp over 12.5k); ``warmup_updates`` <= 0 disables the warm-up.
    """
    if warmup_updates <= 0:
        return 1.0
    return min(max(inverse_linear(warmup_updates, step) * inverse_exp(warmup_updates / 4, step), 0.0), 1.0)


def teacher_forcing_prob(step: int, warmup_updates: int) -> float:
    """1 - p_t: the chance that a decoder input position holds the true target embedding instead."""
    return 1.0 - latent_input_prob(step, warmup_updates)


def linear_anneal(step: int, start: float, end: float, updates: int) -> float:
    """``start`` at update 0, moving linearly to ``end`` at ``updates`` and staying there (GLAT's ratio
    schedule); ``updates`` <= 0 keeps ``start``."""
    if updates <= 0:
        return start
    return start + (end - start) * min(step / updates, 1.0)
