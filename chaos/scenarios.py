"""The nine attacks. Each starts a fresh pipeline, attacks it under load, and returns its `Verdict`.

A fresh stack per scenario (about 3 s) keeps each verdict independent: the bucket holds only this
scenario's records, the DLQ only its poison, and queue settings (visibility timeout,
maxReceiveCount) can differ where the scenario needs them. Every scenario checks the same core
invariant (`core_checks`: nothing acknowledged is lost, nothing foreign is stored, the DLQ holds
what the scenario expects, the backlog drained) plus its own named checks; `facts` carries the
figures docs/operations.md quotes. Waits are bounded everywhere; a scenario that raises is a
failed verdict, and its stack (and any proxy) is still stopped.
"""

from __future__ import annotations

import contextlib
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import orjson
from botocore.exceptions import BotoCoreError, ClientError

from app.resources import pipeline_defaults
from app.simulator.fleet import Fleet
from app.simulator.sender import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    BatchSender,
    DeliveryReport,
    batches,
)
from chaos.check import AwsView, BucketReader, Tally, settle
from chaos.hostile import Generator, HostileRequest, Reply, send_raw
from chaos.proxy import FaultProxy, Mode
from chaos.traffic import Answer, GoodClient, Ledger, Load, good_batch, good_record
from loadtest.accepted import identity_of
from loadtest.stack import DEFAULT_API_KEY, ManagedProcess, PipelineStack

#: EMF lines on stdout would only cost CPU on this machine; the log lines stay.
QUIET: Final = {"TELEMETRY_METRICS_ENABLED": "false"}
#: ECS sends SIGKILL 30 s after SIGTERM (stopTimeout): the bound for both components.
STOP_BOUND_SECONDS: Final = 30.0


@dataclass
class Verdict:
    """One scenario's result: the tally, its named checks, and the figures it measured."""

    key: str
    title: str
    tally: Tally = field(default_factory=Tally)
    checks: dict[str, bool] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.checks) and all(self.checks.values())

    def failed_checks(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.key,
            "title": self.title,
            "passed": self.passed,
            "seconds": round(self.seconds, 1),
            "tally": self.tally.as_dict(),
            "checks": self.checks,
            "facts": self.facts,
            "error": self.error,
        }


def core_checks(tally: Tally, *, expected_dlq: int = 0) -> dict[str, bool]:
    """The invariant every scenario shares (see chaos/__init__.py)."""
    return {
        "good records were acknowledged": tally.acknowledged > 0,
        "lost == 0 (every 202 is in S3)": tally.lost == 0,
        "nothing foreign in S3": tally.foreign == 0,
        f"DLQ holds exactly {expected_dlq}": tally.dlq == expected_dlq,
        "backlog drained (queue empty)": tally.queue_left == 0,
    }


@dataclass
class Context:
    """Where a scenario writes its process logs, and the API key its stack accepts."""

    out_dir: Path
    api_key: str = DEFAULT_API_KEY

    def workdir(self, key: str) -> Path:
        return self.out_dir / key


# -- shared helpers ----------------------------------------------------------------------------
def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


_FIELD = re.compile(r"(\w+)=(\S+)")


def events(log: str, event: str) -> list[dict[str, str]]:
    """The `key=value` fields of every log line of `event=<event>`."""
    marker = f"event={event} "
    return [dict(_FIELD.findall(line)) for line in log.splitlines() if marker in line + " "]


def logged(process: ManagedProcess, marker: str) -> Callable[[], bool]:
    """A condition for `wait_until`: `marker` has appeared in the process's log."""
    return lambda: marker in process.log()


def consumer_logs(workdir: Path) -> str:
    return "\n".join(path.read_text(errors="replace") for path in sorted(workdir.glob("consumer-*.log")))


def receiver_logs(workdir: Path) -> str:
    return "\n".join(path.read_text(errors="replace") for path in sorted(workdir.glob("receiver-*.log")))


def redelivered_messages(log: str) -> int:
    return sum(int(fields.get("redelivered", "0")) for fields in events(log, "write_batch"))


def worst_ingest_to_persist_s(log: str) -> float:
    """The slowest record from receiver to S3, per the consumer's batch lines (p99 of each batch)."""
    values = [float(f.get("ingest_p99_ms", "0")) for f in events(log, "write_batch")]
    return round(max(values, default=0.0) / 1000, 1)


def percentiles_ms(answers: Sequence[Answer]) -> dict[str, float]:
    values = sorted((a.answered_at - a.sent_at) * 1000 for a in answers)
    if len(values) < 2:
        return {"max": round(values[-1], 1)} if values else {}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(q[49], 1), "p95": round(q[94], 1), "max": round(values[-1], 1)}


@contextlib.contextmanager
def pipeline(
    ctx: Context, key: str, env: dict[str, str] | None = None
) -> Iterator[tuple[PipelineStack, AwsView]]:
    """A fresh stack (embedded AWS started) for one scenario; stopped whatever happens."""
    with PipelineStack(ctx.workdir(key), api_key=ctx.api_key, env={**QUIET, **(env or {})}) as stack:
        view = AwsView(stack.start_aws())
        yield stack, view


def start_consumer(stack: PipelineStack, **env: str) -> ManagedProcess:
    consumer = stack.start_consumer(**env)
    if not wait_until(lambda: "event=consumer_started" in consumer.log(), timeout=30):
        raise RuntimeError(f"consumer did not start; log:\n{consumer.log()[-2000:]}")
    return consumer


class QueueWatch:
    """Samples the queue depth twice a second in the background (peak backlog for the report)."""

    def __init__(self, view: AwsView) -> None:
        self._view = view
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._run, name="queue-watch", daemon=True)

    def __enter__(self) -> QueueWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            with contextlib.suppress(BotoCoreError, ClientError):  # a lost sample is only a sample
                self.peak = max(self.peak, self._view.queue_depth())


# -- 1. consumer SIGKILL -------------------------------------------------------------------------
def consumer_sigkill(ctx: Context) -> Verdict:
    """SIGKILL the consumer three times while records stream in; a new one starts each time."""
    verdict = Verdict("1-consumer-sigkill", "Consumer SIGKILL x3 under load, restarted")
    env = {"TELEMETRY_VISIBILITY_TIMEOUT_SECONDS": "10"}
    ledger = Ledger()
    with pipeline(ctx, verdict.key, env) as (stack, view):
        url = stack.start_receiver()
        consumer = start_consumer(stack)
        load = Load(
            [url],
            api_key=ctx.api_key,
            ledger=ledger,
            tag="s1",
            records=30_000,
            batch_size=250,
            seconds=30,
            workers=4,
        ).start()
        kills = []
        for _ in range(3):
            wrote = wait_until(logged(consumer, "event=write_batch"), timeout=30)
            time.sleep(1.5)  # mid-stream: batches in the buffer and in the writers
            kills.append({"wrote_before_kill": wrote, "load_running": not load.join(0)})
            consumer.kill()
            consumer = start_consumer(stack)
        load.join(150)
        verdict.tally = settle(view, ledger, timeout=150)
        log = consumer_logs(ctx.workdir(verdict.key))
    verdict.checks = core_checks(verdict.tally)
    verdict.checks["each kill landed mid-stream"] = all(
        k["wrote_before_kill"] and k["load_running"] for k in kills
    )
    verdict.facts = {
        "kills": len(kills),
        "visibility_timeout_s": 10,
        "redelivered_messages": redelivered_messages(log),
        "worst_ingest_to_persist_s": worst_ingest_to_persist_s(log),
        "client_outcomes": dict(ledger.outcomes),
    }
    return verdict


# -- 2. S3 unavailable ---------------------------------------------------------------------------
def s3_outage(ctx: Context) -> Verdict:
    """S3 behind a proxy: 10 s refused connections, then 10 s of 503s, then back; default visibility."""
    verdict = Verdict("2-s3-outage", "S3 unavailable 20 s (refuse 10 s, 503 10 s)")
    ledger = Ledger()
    with pipeline(ctx, verdict.key) as (stack, view), FaultProxy(stack.aws_env["AWS_ENDPOINT_URL"]) as proxy:
        url = stack.start_receiver()
        start_consumer(stack, AWS_ENDPOINT_URL_S3=proxy.url)
        load = Load(
            [url],
            api_key=ctx.api_key,
            ledger=ledger,
            tag="s2",
            records=12_000,
            batch_size=100,
            seconds=35,
            workers=3,
        ).start()
        time.sleep(5)
        proxy.set_mode(Mode.REFUSE)
        time.sleep(10)
        proxy.set_mode(Mode.ERROR)
        time.sleep(10)
        proxy.set_mode(Mode.PASS)
        back_at = time.monotonic()
        load.join(120)
        verdict.tally = settle(view, ledger, timeout=180)
        recovered_s = time.monotonic() - back_at  # until settle finished: all in S3, queue empty
        log = consumer_logs(ctx.workdir(verdict.key))
        counts = proxy.counts()
    failed = events(log, "persist_failed")
    verdict.checks = core_checks(verdict.tally)
    verdict.checks["the outage hit the consumer (PUTs failed)"] = len(failed) > 0
    verdict.checks["no 5xx to clients (the receiver never depended on S3)"] = not any(
        o.startswith("5") for o in ledger.outcomes
    )
    verdict.facts = {
        "visibility_timeout_s": pipeline_defaults().queue.visibility_timeout_seconds,
        "persist_failed": len(failed),
        "records_in_failed_objects": sum(int(f.get("records", "0")) for f in failed),
        "put_retries": len(events(log, "put_retry")),
        "redelivered_messages": redelivered_messages(log),
        "recovered_after_s": round(recovered_s, 1),
        "worst_ingest_to_persist_s": worst_ingest_to_persist_s(log),
        "proxy": counts,
    }
    return verdict


# -- 3. SQS unavailable for the receiver -----------------------------------------------------------
class RecordingTransport(httpx.BaseTransport):
    """Wraps the simulator's HTTP transport to note, by identity, which records each 202 acknowledged.

    The simulator's `BatchSender` counts accepted records but keeps no list of them; its client is
    passed in (its test seam), so the ledger is filled here without touching the simulator.
    """

    def __init__(self, ledger: Ledger) -> None:
        self._inner = httpx.HTTPTransport()
        self._ledger = ledger

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        records = orjson.loads(request.read())
        identities = [identity_of(record) for record in records]
        self._ledger.offer(identities)
        sent_at = time.monotonic()
        url = str(request.url)
        try:
            response = self._inner.handle_request(request)
            content = response.read()
        except httpx.HTTPError as exc:
            self._ledger.answer(
                Answer(
                    sent_at,
                    time.monotonic(),
                    "timeout" if isinstance(exc, httpx.TimeoutException) else "conn_error",
                    url,
                )
            )
            raise
        self._ledger.answer(Answer(sent_at, time.monotonic(), str(response.status_code), url))
        if response.status_code == 202:
            rejected = {int(r["index"]) for r in orjson.loads(content).get("rejected") or []}
            self._ledger.ack(identities[i] for i in range(len(records)) if i not in rejected)
            self._ledger.refused(len(rejected))
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )

    def close(self) -> None:
        self._inner.close()


class Observer:
    """While an outage runs: one single-record probe every 0.5 s (one attempt, no retry: what the
    receiver answers right now) and a /readyz poll, each on its own threads so that neither can
    delay the scenario's clock."""

    def __init__(self, url: str, api_key: str) -> None:
        self._url = url
        self._api_key = api_key
        self.probes = Ledger()
        self.ready: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=40, thread_name_prefix="probe")
        self._threads = [
            threading.Thread(target=self._probe_loop, name="probes", daemon=True),
            threading.Thread(target=self._ready_loop, name="readyz", daemon=True),
        ]

    def __enter__(self) -> Observer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        self._pool.shutdown(wait=True)  # each probe is bounded by its 15 s timeout

    def _probe(self, seq: int) -> None:
        client = GoodClient(
            [self._url], api_key=self._api_key, ledger=self.probes, max_attempts=1, timeout_seconds=15
        )
        try:
            client.send([good_record("s3p", seq)])
        finally:
            client.close()

    def _probe_loop(self) -> None:
        seq = 0
        while not self._stop.wait(0.5):
            self._pool.submit(self._probe, seq)
            seq += 1

    def _ready_loop(self) -> None:
        with httpx.Client(timeout=3) as client:
            while not self._stop.wait(1.0):
                with contextlib.suppress(httpx.HTTPError):
                    self.ready.append((time.monotonic(), client.get(self._url + "/readyz").status_code))


def sqs_outage(ctx: Context) -> Verdict:
    """SQS unreachable for the receiver for 10 s (5 s refused, 5 s 503) while simulators post."""
    verdict = Verdict("3-sqs-outage", "SQS unavailable 10 s for the receiver")
    ledger = Ledger()
    reports: list[DeliveryReport] = []
    with pipeline(ctx, verdict.key) as (stack, view), FaultProxy(stack.aws_env["AWS_ENDPOINT_URL"]) as proxy:
        url = stack.start_receiver(AWS_ENDPOINT_URL_SQS=proxy.url)
        start_consumer(stack)
        simulators = [
            threading.Thread(target=_simulate, args=(i, url, ctx.api_key, ledger, reports), daemon=True)
            for i in range(3)
        ]
        for thread in simulators:
            thread.start()
        with Observer(url, ctx.api_key) as observer:
            time.sleep(5)
            proxy.set_mode(Mode.REFUSE)
            start = time.monotonic()  # from here every connection to SQS is cut
            time.sleep(5)
            proxy.set_mode(Mode.ERROR)
            time.sleep(max(0.0, start + 10 - time.monotonic()))
            end = time.monotonic()  # until here no SendMessageBatch can have succeeded
            proxy.set_mode(Mode.PASS)
            time.sleep(7)
        for thread in simulators:
            thread.join(150)
        probes = observer.probes
        ledger.ack(probes.acked)
        ledger.offer(probes.offered)
        verdict.tally = settle(view, ledger, timeout=120)
        counts = proxy.counts()
    # Sent once SQS was cut off: its records cannot be in SQS before the outage ends, so a 202
    # before then would be a lie. Answered later: the 503 of the publish timeout, or a 202 once
    # a retry inside the receiver got through after SQS came back.
    sent_during = [
        a for a in probes.snapshot_answers() + ledger.snapshot_answers() if start <= a.sent_at <= end
    ]
    lies = [a for a in sent_during if a.outcome == "202" and a.answered_at <= end]
    ready_during = [code for at, code in observer.ready if start + 3 <= at <= end]
    verdict.checks = core_checks(verdict.tally)
    verdict.checks["no 202 while SQS was unreachable"] = not lies
    verdict.checks["clients got 503 for requests made during the outage"] = any(
        a.outcome == "503" for a in sent_during
    )
    verdict.checks["every answer was 202 or 503 (or a client timeout)"] = set(probes.outcomes) | set(
        ledger.outcomes
    ) <= {"202", "503", "timeout"}
    verdict.checks["/readyz said 503 during the outage"] = 503 in ready_during
    verdict.checks["/readyz back to 200 afterwards"] = bool(observer.ready) and observer.ready[-1][1] == 200
    verdict.checks["the simulators' retries delivered everything"] = len(reports) == 3 and all(
        r.ok and not r.stopped_early for r in reports
    )
    verdict.facts = {
        "outcomes_of_requests_sent_during_outage": dict(Counter(a.outcome for a in sent_during)),
        "answered_202_before_sqs_was_back": len(lies),
        "probe_outcomes": dict(probes.outcomes),
        "probe_latency_ms_by_outcome": {
            outcome: percentiles_ms([a for a in sent_during if a.outcome == outcome])
            for outcome in sorted({a.outcome for a in sent_during})
        },
        "simulator_reports": [r.summary() for r in reports],
        "readyz_during_outage": dict(Counter(ready_during)),
        "proxy": counts,
    }
    return verdict


def _simulate(index: int, url: str, api_key: str, ledger: Ledger, reports: list[DeliveryReport]) -> None:
    """One `telemetry simulate --realtime --target` in a thread: 20 vehicles for 25 s, the CLI's sender."""
    fleet = Fleet(20, seed=index, first_index=index * 20 + 1, wall_clock=True)
    timeout = httpx.Timeout(DEFAULT_TIMEOUT_S, connect=DEFAULT_CONNECT_TIMEOUT_S)
    with httpx.Client(transport=RecordingTransport(ledger), timeout=timeout) as client:
        sender = BatchSender(client, target=url, api_key=api_key)
        reports.append(sender.send_all(batches(fleet.ticks(25, realtime=True), 500, per_tick=True)))


# -- 4. receiver SIGTERM (rolling deploy) ----------------------------------------------------------
def receiver_sigterm(ctx: Context) -> Verdict:
    """Two receivers; the one taking traffic gets SIGTERM mid-load, clients fail over to the other."""
    verdict = Verdict("4-receiver-sigterm", "Receiver SIGTERM under load (rolling deploy)")
    ledger = Ledger()
    with pipeline(ctx, verdict.key) as (stack, view):
        old_url = stack.start_receiver()
        new_url = stack.start_receiver()
        old = stack.receivers()[0]
        start_consumer(stack)
        load = Load(
            [old_url, new_url],
            api_key=ctx.api_key,
            ledger=ledger,
            tag="s4",
            records=10_000,
            batch_size=50,
            seconds=16,
            workers=6,
        ).start()
        time.sleep(6)
        # A volley of concurrent batches right before the signal, so requests are in flight when it lands.
        ready = threading.Barrier(VOLLEY + 1, timeout=30)
        volley = [
            threading.Thread(
                target=_post_once, args=([old_url, new_url], ctx.api_key, ledger, i, ready), daemon=True
            )
            for i in range(VOLLEY)
        ]
        for thread in volley:
            thread.start()
        ready.wait()  # every volley client is connected, its body built: they post now
        time.sleep(0.01)
        signalled = time.monotonic()
        old.send(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            old.popen.wait(timeout=STOP_BOUND_SECONDS)
        exit_code = old.popen.poll()
        stopped_s = time.monotonic() - signalled
        for thread in volley:
            thread.join(60)
        load.join(120)
        verdict.tally = settle(view, ledger, timeout=120)
        old_log = old.log()
    answers = ledger.snapshot_answers()
    in_flight = [a for a in answers if a.url == old_url and a.sent_at < signalled < a.answered_at]
    after = [a for a in answers if a.url == old_url and a.sent_at >= signalled]
    verdict.checks = core_checks(verdict.tally)
    verdict.checks["old receiver exited 0 within 30 s"] = exit_code == 0 and stopped_s < STOP_BOUND_SECONDS
    verdict.checks["old receiver drained (receiver_drained logged)"] = "event=receiver_drained" in old_log
    verdict.checks["every answer was 202, 503 or a refused connection"] = set(ledger.outcomes) <= {
        "202",
        "503",
        "conn_error",
    }
    # A request the old receiver had not yet read when it closed is cut (the client retries on the
    # new one); one it had read must finish. Neither may hang or end in a 5xx.
    verdict.checks["requests in flight at SIGTERM: 202 or a clean cut"] = all(
        a.outcome in {"202", "conn_error"} for a in in_flight
    )
    verdict.checks["every batch was delivered (failover worked)"] = load.batches_failed == 0
    verdict.facts = {
        "old_receiver_exit_code": exit_code,
        "old_receiver_stopped_s": round(stopped_s, 1),
        "in_flight_at_sigterm": dict(Counter(_described(a) for a in in_flight)),
        "sent_to_old_after_sigterm": dict(Counter(_described(a) for a in after)),
        "client_outcomes": dict(ledger.outcomes),
    }
    return verdict


VOLLEY: Final = 24


def _described(answer: Answer) -> str:
    return f"{answer.outcome}:{answer.detail}" if answer.detail else answer.outcome


def _post_once(urls: list[str], api_key: str, ledger: Ledger, index: int, ready: threading.Barrier) -> None:
    """One batch of the volley: connection open and body built before the barrier, posted after it."""
    client = GoodClient(urls, api_key=api_key, ledger=ledger)
    try:
        client.warm()
        client.send(good_batch("s4v", index * 100, 100), ready=ready)
    finally:
        client.close()


# -- 5. consumer SIGTERM -------------------------------------------------------------------------
def consumer_sigterm(ctx: Context) -> Verdict:
    """SIGTERM the consumer under load, then an idle one; both must exit 0 within 30 s.

    Production timings (20 s long polls, 25 s shutdown budget, 60 s visibility), except that the
    record-count flush rule is raised to 1,000 so the age rule (2 s) decides, as it does at low
    traffic: the buffer then holds records when the signal lands, and the last flush must write them.
    """
    verdict = Verdict("5-consumer-sigterm", "Consumer SIGTERM: flush and exit within 30 s")
    ledger = Ledger()
    with pipeline(ctx, verdict.key) as (stack, view):
        url = stack.start_receiver()
        first = start_consumer(stack, TELEMETRY_FLUSH_MAX_RECORDS="1000")
        load = Load(
            [url],
            api_key=ctx.api_key,
            ledger=ledger,
            tag="s5",
            records=4_000,
            batch_size=10,
            seconds=14,
            workers=4,
        ).start()
        wait_until(logged(first, "event=write_batch"), timeout=30)
        time.sleep(3)
        signalled = time.monotonic()
        first.send(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            first.popen.wait(timeout=STOP_BOUND_SECONDS + 5)
        busy_exit = first.popen.poll()
        busy_s = time.monotonic() - signalled
        left_in_flight = view.sqs.get_queue_attributes(
            QueueUrl=view.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]["ApproximateNumberOfMessagesNotVisible"]
        second = start_consumer(stack)
        load.join(120)
        verdict.tally = settle(view, ledger, timeout=120)
        time.sleep(2)  # the pollers are now in their 20 s long polls on an empty queue
        signalled = time.monotonic()
        idle_exit = second.stop(timeout=STOP_BOUND_SECONDS + 5)
        idle_s = time.monotonic() - signalled
        first_log = first.log()
    stopped = events(first_log, "consumer_stopped")
    verdict.checks = core_checks(verdict.tally)
    verdict.checks["busy consumer exited 0 within 30 s"] = busy_exit == 0 and busy_s < STOP_BOUND_SECONDS
    verdict.checks["busy consumer stored everything it held (clean=True)"] = (
        bool(stopped) and stopped[-1].get("clean") == "True"
    )
    verdict.checks["the buffered records were written at shutdown"] = (
        bool(stopped)
        and int(stopped[-1].get("last_batch_records", "0")) > 0
        and "reason=shutdown" in first_log
    )
    verdict.checks["no message left in flight to time out"] = int(left_in_flight) == 0
    verdict.checks["idle consumer exited 0 within 30 s"] = idle_exit == 0 and idle_s < STOP_BOUND_SECONDS
    verdict.facts = {
        "busy_stop_s": round(busy_s, 1),
        "idle_stop_s": round(idle_s, 1),
        "last_batch_records": stopped[-1].get("last_batch_records") if stopped else None,
        "released_after_shutdown": len(events(first_log, "released_after_shutdown")),
        "in_flight_after_exit": int(left_in_flight),
    }
    return verdict


# -- 6. poison message, DLQ, redrive -------------------------------------------------------------
def poison_and_redrive(ctx: Context) -> Verdict:
    """Poison goes to the DLQ after maxReceiveCount while good traffic flows; a good message that
    reached the DLQ during an S3 failure comes through after `telemetry redrive`."""
    verdict = Verdict("6-poison-redrive", "Poison message to DLQ; redrive of a good message")
    max_receives = 3
    env = {"TELEMETRY_VISIBILITY_TIMEOUT_SECONDS": "5", "TELEMETRY_MAX_RECEIVE_COUNT": str(max_receives)}
    ledger = Ledger()
    poison = [
        "this is not JSON \u0000 at all",
        # valid lines around one that breaks the contract: the whole message is poison, none is stored
        "\n".join(
            [
                orjson.dumps(
                    {**good_record("s6p", 1), "ingest_received_at": "2025-10-19T12:34:56.200Z"}
                ).decode(),
                orjson.dumps(
                    {
                        **good_record("s6p", 2),
                        "payload": {"battery_soc": "high"},
                        "ingest_received_at": "2025-10-19T12:34:56.200Z",
                    }
                ).decode(),
            ]
        ),
    ]
    with (
        pipeline(ctx, verdict.key, env) as (stack, view),
        FaultProxy(stack.aws_env["AWS_ENDPOINT_URL"]) as proxy,
    ):
        url = stack.start_receiver()
        # Two attempts per PUT (not 5) so a failing S3 sends a message to the DLQ in seconds.
        start_consumer(stack, AWS_ENDPOINT_URL_S3=proxy.url, TELEMETRY_AWS_MAX_ATTEMPTS="2")
        poison_ids = [view.send(body) for body in poison]
        load = Load(
            [url],
            api_key=ctx.api_key,
            ledger=ledger,
            tag="s6",
            records=3_000,
            batch_size=100,
            seconds=6,
            workers=2,
        ).start()
        load.join(60)
        flowed = wait_until(lambda: ledger.acked <= _stored(view), timeout=60)
        poisoned = wait_until(lambda: view.dlq_depth() == len(poison), timeout=60)
        # Phase 2: S3 fails; one good batch is acknowledged and its message ends in the DLQ.
        proxy.set_mode(Mode.ERROR)
        client = GoodClient([url], api_key=ctx.api_key, ledger=ledger)
        rescued = good_batch("s6r", 0, 100)
        client.send(rescued)
        client.close()
        dead = wait_until(lambda: view.dlq_depth() == len(poison) + 1, timeout=90, interval=0.5)
        proxy.set_mode(Mode.PASS)
        redrive = subprocess.run(
            [sys.executable, "-m", "app.cli", "redrive"],
            env={**stack.child_env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        verdict.tally = settle(view, ledger, timeout=120)
        # the redriven poison needs maxReceiveCount more receives to be back in the DLQ
        back = wait_until(lambda: view.dlq_depth() == len(poison), timeout=60, interval=0.5)
        verdict.tally.dlq = view.dlq_depth()
        dlq_bodies = sorted(view.dlq_bodies())
        log = consumer_logs(ctx.workdir(verdict.key))
    receives = Counter(f["message_id"] for f in events(log, "poison_message"))
    rescued_ids = {identity_of(r) for r in rescued}
    verdict.checks = core_checks(verdict.tally, expected_dlq=len(poison))
    verdict.checks["good traffic flowed past the poison"] = flowed
    verdict.checks[f"poison reached the DLQ after {max_receives} receives"] = poisoned and all(
        receives[mid] >= max_receives for mid in poison_ids
    )
    verdict.checks["a good message reached the DLQ while S3 failed"] = dead
    verdict.checks["redrive moved all 3 DLQ messages"] = (
        redrive.returncode == 0 and f"moved {len(poison) + 1} messages" in redrive.stdout
    )
    verdict.checks["the redriven good records are in S3"] = (
        rescued_ids <= ledger.acked and verdict.tally.lost == 0
    )
    verdict.checks["the DLQ holds exactly the poison"] = back and dlq_bodies == sorted(poison)
    verdict.facts = {
        "visibility_timeout_s": 5,
        "max_receive_count": max_receives,
        "poison_receives_logged": dict(receives),
        "redrive_output": redrive.stdout.strip(),
        "persist_failed": len(events(log, "persist_failed")),
    }
    return verdict


def _stored(view: AwsView) -> set[str]:
    reader = BucketReader(view)
    reader.poll()
    return set(reader.copies)


# -- 7. burst ------------------------------------------------------------------------------------
def burst(ctx: Context) -> Verdict:
    """20,000 records offered within 10 s (40 batches of 500 from 4 clients); the backlog drains."""
    verdict = Verdict("7-burst", "Burst: 20,000 records offered in 10 s")
    ledger = Ledger()
    with pipeline(ctx, verdict.key) as (stack, view):
        url = stack.start_receiver()
        start_consumer(stack)
        with QueueWatch(view) as watch:
            load = Load(
                [url],
                api_key=ctx.api_key,
                ledger=ledger,
                tag="s7",
                records=20_000,
                batch_size=500,
                seconds=10,
                workers=4,
            ).start()
            load.join(150)
            offered_s = time.monotonic() - load.started_at
            verdict.tally = settle(view, ledger, timeout=180)
            peak = watch.peak
    answers = ledger.snapshot_answers()
    verdict.checks = core_checks(verdict.tally)
    verdict.checks["all 20,000 acknowledged"] = verdict.tally.acknowledged == 20_000
    verdict.checks["no 5xx other than 503 back-pressure"] = all(
        not o.startswith("5") or o == "503" for o in ledger.outcomes
    )
    verdict.facts = {
        "acknowledged_within_s": round(offered_s, 1),
        "drain_after_last_202_s": verdict.tally.settle_seconds,
        "peak_queue_messages": peak,
        "request_latency_ms": percentiles_ms([a for a in answers if a.outcome == "202"]),
        "client_outcomes": dict(ledger.outcomes),
    }
    return verdict


# -- 8. hostile input at volume ------------------------------------------------------------------
def hostile_input(ctx: Context) -> Verdict:
    """10,000 malformed or hostile requests mixed with good traffic: no 5xx, nothing bad stored."""
    verdict = Verdict("8-hostile-input", "Bad input at volume: 10,000 hostile requests")
    ledger = Ledger()
    requests = Generator(api_key=ctx.api_key, seed=8).generate(10_000)
    replies: list[tuple[HostileRequest, Reply]] = []
    with pipeline(ctx, verdict.key) as (stack, view):
        url = stack.start_receiver()
        port = int(url.rsplit(":", 1)[1])
        start_consumer(stack)
        load = Load(
            [url],
            api_key=ctx.api_key,
            ledger=ledger,
            tag="s8",
            records=5_000,
            batch_size=50,
            seconds=25,
            workers=2,
        ).start()
        started = time.monotonic()

        def fire(request: HostileRequest) -> tuple[HostileRequest, Reply]:
            return request, send_raw(port, request.raw, timeout=5.0 if request.must_answer else 0.5)

        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="hostile") as pool:
            replies = list(pool.map(fire, requests))
        hostile_s = time.monotonic() - started
        for request, reply in replies:
            if request.good:
                ids = [identity_of(r) for r in request.good]
                ledger.offer(ids)
                if reply.status == 202:
                    accepted = _accepted_indices(reply, request.batch_size)
                    ledger.ack(
                        i for i, index in zip(ids, request.good_indices, strict=True) if index in accepted
                    )
        load.join(120)
        verdict.tally = settle(view, ledger, timeout=120)
        receiver_log = receiver_logs(ctx.workdir(verdict.key))
    statuses = Counter(reply.outcome for _, reply in replies)
    by_kind: dict[str, Counter[str]] = {}
    for request, reply in replies:
        by_kind.setdefault(request.kind, Counter())[reply.outcome] += 1
    # Closing a connection that does not speak HTTP is an answer; keeping it waiting is not.
    unanswered = [
        (r.kind, r.variant, p.outcome) for r, p in replies if r.must_answer and p.outcome == "timeout"
    ]
    five = [(r.kind, r.variant, p.outcome) for r, p in replies if p.status is not None and p.status >= 500]
    smuggled = [
        (r.kind, r.variant)
        for r, p in replies
        if p.status == 202 and not _accepted_indices(p, r.batch_size) <= set(r.good_indices)
    ]
    good_dropped = [(r.kind, r.variant) for r, p in replies if r.good and p.status != 202]
    verdict.checks = core_checks(verdict.tally)
    verdict.checks["no 5xx to hostile requests"] = not five
    verdict.checks["no 5xx to good clients"] = not any(o.startswith("5") for o in ledger.outcomes)
    verdict.checks["no complete request left hanging"] = not unanswered
    verdict.checks["no invalid record acknowledged"] = not smuggled
    verdict.checks["valid records beside invalid ones acknowledged"] = not good_dropped
    verdict.checks["no traceback in the receiver log"] = "Traceback" not in receiver_log
    verdict.facts = {
        "hostile_requests": len(replies),
        "hostile_seconds": round(hostile_s, 1),
        "hostile_statuses": dict(statuses),
        "by_kind": {kind: dict(counter) for kind, counter in sorted(by_kind.items())},
        "header_and_framing_abuse": {
            variant: dict(counter)
            for variant, counter in sorted(_by_variant(replies, {"header_abuse", "chunked"}).items())
        },
        "five_xx": five[:20],
        "unanswered": unanswered[:20],
        "smuggled": smuggled[:20],
        "good_dropped": good_dropped[:20],
    }
    return verdict


def _by_variant(replies: Sequence[tuple[HostileRequest, Reply]], kinds: set[str]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for request, reply in replies:
        if request.kind in kinds:
            out.setdefault(request.variant, Counter())[reply.outcome] += 1
    return out


def _accepted_indices(reply: Reply, size: int) -> set[int]:
    try:
        body = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return set(range(size))
    rejected = {int(item["index"]) for item in body.get("rejected") or [] if isinstance(item, dict)}
    return set(range(max(size, 1))) - rejected


# -- 9. slow clients -----------------------------------------------------------------------------
def slow_clients(ctx: Context) -> Verdict:
    """500 connections held open doing nothing (or half a request) while good clients post."""
    verdict = Verdict("9-slow-clients", "500 idle / slow connections vs good clients")
    idle_count = 500
    _raise_open_files(idle_count * 2 + 512)
    ledger = Ledger()
    sockets: list[socket.socket] = []
    with pipeline(ctx, verdict.key) as (stack, view):
        url = stack.start_receiver()
        port = int(url.rsplit(":", 1)[1])
        start_consumer(stack)
        try:
            for i in range(idle_count):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                if i % 2:  # slowloris: half a request head, never finished
                    sock.sendall(b"POST /v1/telemetry/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ")
                sockets.append(sock)
            opened = time.monotonic()
            load = Load(
                [url],
                api_key=ctx.api_key,
                ledger=ledger,
                tag="s9",
                records=5_000,
                batch_size=100,
                seconds=10,
                workers=4,
            ).start()
            load.join(120)
            held_s = time.monotonic() - opened
            closed_by_server = sum(1 for sock in sockets if _closed(sock))
        finally:
            for sock in sockets:
                sock.close()
        verdict.tally = settle(view, ledger, timeout=120)
    answers = ledger.snapshot_answers()
    verdict.checks = core_checks(verdict.tally)
    verdict.checks["all 5,000 good records acknowledged"] = verdict.tally.acknowledged == 5_000
    verdict.checks["good clients never timed out or saw 5xx"] = set(ledger.outcomes) <= {"202"}
    verdict.facts = {
        "idle_connections": idle_count,
        "held_s": round(held_s, 1),
        "closed_by_server_while_held": closed_by_server,
        "good_request_latency_ms": percentiles_ms(answers),
        "client_outcomes": dict(ledger.outcomes),
    }
    return verdict


def _raise_open_files(needed: int) -> None:
    """Raise this process's soft open-file limit to `needed` if the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _closed(sock: socket.socket) -> bool:
    """True when the server has ended this connection (an answer, EOF or a reset is waiting)."""
    sock.setblocking(False)
    try:
        sock.recv(1)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


SCENARIOS: Final[list[Callable[[Context], Verdict]]] = [
    consumer_sigkill,
    s3_outage,
    sqs_outage,
    receiver_sigterm,
    consumer_sigterm,
    poison_and_redrive,
    burst,
    hostile_input,
    slow_clients,
]
