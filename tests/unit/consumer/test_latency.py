"""Percentiles of the log line and the EMF sample."""

from __future__ import annotations

from app.consumer.latency import SAMPLE_SIZE, percentile, rank_sample


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 95) == 0.0


def test_sample_keeps_every_value_up_to_the_limit() -> None:
    values = [float(v) for v in range(SAMPLE_SIZE)]
    assert rank_sample(values) == values


def test_sample_of_a_large_batch_is_evenly_spaced_ranks_with_min_and_max() -> None:
    values = [float(v) for v in range(2_500)]
    sample = rank_sample(values)
    assert len(sample) == SAMPLE_SIZE
    assert sample[0] == 0.0 and sample[-1] == 2_499.0
    assert sample == sorted(sample)
    assert abs(percentile(sample, 95) - percentile(values, 95)) <= 2_500 / SAMPLE_SIZE
