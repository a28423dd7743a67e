"""Training progress: a bar on a terminal, plain periodic log lines in container logs."""

import logging
import sys
from collections.abc import Callable, Iterator

from tqdm import tqdm

from . import stopping

log = logging.getLogger(__name__)

MetricsSink = Callable[[dict[str, float], int], None]


class Progress:
    """Iterates over epochs and receives each epoch's metrics (for the log and the tracker)."""

    def __init__(
        self, on_metrics: MetricsSink | None = None, log_lines: int = 10, quiet: bool = False
    ) -> None:
        self._on_metrics = on_metrics
        self._log_lines = log_lines
        self._quiet = quiet  # no bar and no log lines (ranks other than 0 under torchrun)
        self._total = 0
        self._bar: tqdm | None = None

    def epochs(self, total: int, start: int = 0) -> Iterator[int]:
        self._total = total
        if self._quiet or not sys.stderr.isatty():
            for epoch in range(start, total):
                stopping.check()
                yield epoch
            return
        with tqdm(total=total, initial=start, desc="training", unit="epoch") as self._bar:
            for epoch in range(start, total):
                stopping.check()
                yield epoch
                self._bar.update()
        self._bar = None

    def record(self, epoch: int, **metrics: float) -> None:
        if self._on_metrics:
            self._on_metrics(metrics, epoch)
        if self._bar is not None:
            self._bar.set_postfix(metrics)
            return
        if self._quiet:
            return
        done = epoch + 1
        if done % max(1, self._total // self._log_lines) == 0 or done == self._total:
            values = ", ".join(f"{name}={value:.4f}" for name, value in metrics.items())
            log.info("Epoch %d/%d: %s", done, self._total, values)
