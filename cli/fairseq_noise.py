"""Drop what fairseq, hydra and torch print that is not a vqnat user's business, where vqnat runs fairseq.

Only these known messages go, and only inside ``fairseq_noise_dropped()``: fairseq's metric lines, its
other log lines and every other warning still get through.
"""
import logging
import re
import sys
import warnings
from contextlib import contextmanager
from typing import Iterator

#: (category, start of the message) of warnings raised inside fairseq, hydra and torch on this stack.
NOISY_WARNINGS = (
    (UserWarning, r"'pin_memory' argument is set as true but no accelerator"),
    (UserWarning, r"Support for mismatched key_padding_mask and attn_mask is deprecated"),
    (FutureWarning, r"`torch\.cuda\.amp\.\w+\(args\.\.\.\)` is deprecated"),
    (UserWarning, r"hydra\.experimental\.\w+\(\) is no longer experimental"),
    (UserWarning, r"\s*The version_base parameter is not specified"),
    (UserWarning, r"In '\w+': Usage of deprecated keyword in package header"),
    (UserWarning, r"\s*'\w+' is validated against ConfigStore schema"),
    (UserWarning, r"\s*The strict flag in the compose API is deprecated"),
)

#: The fairseq loggers that emit the records ``FairseqNoise`` drops.
NOISY_LOGGERS = ("fairseq_cli.train", "fairseq.trainer", "fairseq.tasks.text_to_speech")

# fairseq's trainer catalogues parameters by identity, so every absent bias (None) looks shared with the first
_SHARED_NONE_BIAS = re.compile(r"detected shared parameter: \S+\.bias <- \S+\.bias$")


class FairseqNoise(logging.Filter):
    """Drops fairseq's model print, its "shared" absent biases and its advice to install tensorboardX."""

    def filter(self, record: logging.LogRecord) -> bool:
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(record.msg, torch.nn.Module):
            return False
        message = record.getMessage()
        return not (_SHARED_NONE_BIAS.match(message) or message.startswith("Please install tensorboardX"))


@contextmanager
def fairseq_noise_dropped() -> Iterator[None]:
    """Inside the block, the known warnings are ignored and the noisy fairseq loggers filtered."""
    noise = FairseqNoise()
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    with warnings.catch_warnings():
        for category, message in NOISY_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category)
        for logger in loggers:
            logger.addFilter(noise)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeFilter(noise)
