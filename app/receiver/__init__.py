"""The receiver: HTTP in, SQS out (`telemetry serve`, FastAPI on uvicorn).

Modules, in the order a request meets them:

- `auth`       X-API-Key checked in constant time against every configured key (rotation).
- `intake`     content type, body size, JSON parsing and contract-v1 validation; plain functions.
- `packing`    records -> SQS messages (JSON Lines, size-capped, one hour each) -> SendMessageBatch calls.
- `publisher`  shares messages across concurrent requests (linger) and answers each request only
               once SQS acknowledged every message holding its records.
- `stats`      counts and samples aggregated per interval into one EMF event (not one per request).
- `responses`  the JSON bodies of every answer, and the exception handlers that keep errors 4xx/503.
- `app`        `create_app(settings, *, publisher=None)`: the routes, read like the HTTP contract.
- `main`       the entry point: Settings from the environment, uvicorn, graceful drain on SIGTERM.
"""
