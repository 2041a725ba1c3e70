"""The batch consumer: SQS messages in, time-partitioned JSON Lines objects in S3 out.

decode.py     one SQS body (JSON Lines of contract-v1 records) into records, or a ContractError
batching.py   the buffer, its flush rules (count, bytes, age) and the objects a flush writes
latency.py    percentiles for the per-batch log line and the sample sent as EMF value arrays
ports.py      the queue seam: `MessageQueue` (SQS), real and swappable; S3 is app/object_store.py
service.py    `Consumer`: pollers, writers and a ticker (age flush, visibility extension)
main.py       `telemetry consume`: builds everything from Settings, handles SIGTERM
redrive.py    `telemetry redrive`: DLQ back to the queue (StartMessageMoveTask or a plain copy)
"""
