"""Good clients record exactly what a 202 covered; the tally turns that and the bucket into the verdict."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

from chaos.check import AwsView, BucketReader, tally
from chaos.traffic import GoodClient, Ledger, good_batch, good_record
from loadtest.accepted import identity_of

KEY = "k-test-0123456789abcdef"


def test_a_503_fails_over_and_a_partial_202_acknowledges_only_what_it_did_not_reject() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == "old":
            return httpx.Response(503, headers={"Retry-After": "0"})
        return httpx.Response(202, json={"accepted": 2, "rejected": [{"index": 1, "errors": []}]})

    ledger = Ledger()
    client = GoodClient(
        ["http://old", "http://new"], api_key=KEY, ledger=ledger, transport=httpx.MockTransport(answer)
    )
    records = good_batch("t", 0, 3)
    assert client.send(records)
    assert seen == ["old", "new"]
    ids = [identity_of(r) for r in records]
    assert ledger.acked == {ids[0], ids[2]}
    assert ledger.offered == set(ids)
    assert ledger.good_refused == 1
    assert [a.outcome for a in ledger.answers] == ["503", "202"]


def test_connection_errors_are_retried_and_bounded() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    ledger = Ledger()
    client = GoodClient(
        ["http://down"], api_key=KEY, ledger=ledger, max_attempts=2, transport=httpx.MockTransport(refuse)
    )
    assert not client.send([good_record("t", 1)])
    assert ledger.outcomes == {"conn_error": 2}
    assert {a.detail for a in ledger.answers} == {"ConnectError"}
    assert not ledger.acked


def test_a_4xx_for_a_good_batch_counts_as_refused_and_is_not_retried() -> None:
    calls: list[Any] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(422, json={"error": "invalid_record"})

    ledger = Ledger()
    client = GoodClient(["http://r"], api_key=KEY, ledger=ledger, transport=httpx.MockTransport(refuse))
    assert not client.send(good_batch("t", 0, 4))
    assert len(calls) == 1 and ledger.good_refused == 4


def test_tally_counts_lost_duplicates_unacknowledged_and_foreign() -> None:
    ledger = Ledger()
    a, b, c, d = (identity_of(good_record("t", i)) for i in range(4))
    ledger.offer([a, b, c, d])
    ledger.ack([a, b, c])
    view = AwsView(
        {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # never called: the reader is filled by hand
            "AWS_REGION": "eu-central-1",
            "TELEMETRY_QUEUE_URL": "q",
            "TELEMETRY_DLQ_URL": "d",
            "TELEMETRY_BUCKET": "b",
        }
    )
    reader = BucketReader(view)
    reader.copies = Counter({a: 2, b: 1, d: 1, "not-sent": 1})
    reader.invalid_lines = 3
    reader.stored_records = 8
    reader.seen.update({"o1", "o2"})
    result = tally(reader, ledger, dlq=0, queue_left=0, seconds=1.0)
    assert (result.acknowledged, result.in_s3, result.lost) == (3, 3, 1)  # c was acknowledged, never stored
    assert result.duplicates == 1  # a twice
    assert result.unacknowledged_in_s3 == 1  # d: stored though its client never saw the 202
    assert result.foreign == 4  # 3 lines that fail the contract + 1 record nobody sent
