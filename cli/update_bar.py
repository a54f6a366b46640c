"""A progress bar over training updates, moved by the ``num_updates`` of the lines fairseq logs."""
import contextlib
import logging
import re
from typing import Iterator

from tqdm import tqdm

# train_inner lines say ``num_updates=25``; train and valid lines ``| num_updates 25``
_NUM_UPDATES = re.compile(r"num_updates[= ](\d+)")


class UpdateBar(logging.Handler):
    """Moves a tqdm bar to the update count of every fairseq metric line (one per ``--log-interval``)."""

    def __init__(self, bar: tqdm):
        super().__init__(logging.INFO)
        self.bar = bar

    def emit(self, record: logging.LogRecord) -> None:
        found = _NUM_UPDATES.search(record.getMessage())
        if found:
            self.bar.update(int(found[1]) - self.bar.n)


@contextlib.contextmanager
def update_bar(total: int, done: int = 0) -> Iterator[tqdm]:
    """A bar from ``done`` to ``total`` updates while fairseq trains inside the block; gone once it ends."""
    with tqdm(total=total, initial=done, unit="update", leave=False, dynamic_ncols=True) as bar:
        handler = UpdateBar(bar)
        logging.getLogger().addHandler(handler)
        try:
            yield bar
        finally:
            logging.getLogger().removeHandler(handler)
