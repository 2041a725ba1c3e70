"""Percentiles for the per-batch log line, and the bounded sample a batch sends as EMF value arrays.

The log line's percentiles are exact over every record of the batch. CloudWatch takes at most 100
values per metric per EMF event, and a 2,000-record batch would otherwise cost 20 events per
metric in log volume, so each batch sends 100 order statistics at evenly spaced ranks (the minimum
and the maximum always among them): the batch's distribution at 1 % resolution. Across batches
each batch then weighs the same; under steady load batches are of similar size, and the docs say so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from app.observability import MAX_VALUES_PER_METRIC

#: Values per metric per batch in the EMF event (the CloudWatch limit per event).
SAMPLE_SIZE: Final = MAX_VALUES_PER_METRIC


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values; 0.0 for no values."""
    if not sorted_values:
        return 0.0
    rank = math.ceil(q / 100.0 * len(sorted_values))
    return float(sorted_values[min(max(rank, 1), len(sorted_values)) - 1])


def rank_sample(sorted_values: Sequence[float], size: int = SAMPLE_SIZE) -> list[float]:
    """At most `size` values at evenly spaced ranks of sorted values, first and last included."""
    n = len(sorted_values)
    if n <= size:
        return [float(v) for v in sorted_values]
    step = (n - 1) / (size - 1)
    return [float(sorted_values[round(i * step)]) for i in range(size)]
