"""The chaos suite (`make chaos`): attack the running pipeline, then check that nothing was lost.

Each scenario starts the pipeline as real processes on loopback (`loadtest.stack.PipelineStack`:
moto server, `telemetry serve`, `telemetry consume`), sends good traffic whose every 202 it
records by record identity, does one kind of damage (a SIGKILL, an outage behind a fault proxy, a
poison message, a flood of hostile requests...), and then reads the bucket back. The invariant
is the same for all of them:

- every record the receiver answered 202 for is in S3 (lost = 0),
- every extra copy is counted (duplicates), and nothing is in S3 that no good client sent,
- the dead-letter queue holds exactly what the scenario put there (nothing, or its poison).

Modules:
- `proxy`: a fault-injecting TCP proxy on 127.0.0.1 between one process and one AWS service.
- `traffic`: good records, the ledger of what was acknowledged, bounded retrying clients.
- `hostile`: the seeded generator of malformed and abusive requests (scenario 8).
- `check`: reads the bucket and the queues back into one `Tally` per scenario.
- `scenarios`: the nine attacks, each returning its own verdict.
- `__main__`: runs them, prints the table, writes out/chaos.json, exits 1 on any failure.
"""
