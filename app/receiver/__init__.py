"""The receiver: HTTP in, SQS out (`telemetry serve`, FastAPI on uvicorn). Contract: docs/receiver.md.

Modules, in the order a request meets them:

- `auth`       X-API-Key checked in constant time against every configured key (rotation).
- `intake`     content type, body size, JSON parsing and contract-v1 validation; plain functions.
- `routes`     the handlers, read like the HTTP contract; `errors`/`responses` shape every answer.
- `publisher`  shares SQS messages across concurrent requests (linger) and answers each request only
               once SQS acknowledged every message holding its records.
- `packing`    records -> SQS messages (JSON Lines, size-capped) -> SendMessageBatch calls.
- `stats`      counts and samples aggregated per interval into EMF events (not one per request).
- `app`        `create_app(settings, *, publisher=None)`: routes, lifespan, error handlers.
- `openapi`    the OpenAPI document (docs/openapi.json) with the response models of `schemas`.
- `main`       the entry point: Settings from the environment, uvicorn, graceful drain on SIGTERM.
"""
