"""Test helpers shared by more than one test layer (unit, integration, e2e), one module per seam.

- `records`   records and SQS bodies in the receiver's format, and readers of stored objects
- `consumer`  an in-memory `MessageQueue` with SQS's visibility rules, and `wait_until`
- `storage`   an in-memory `ObjectStore` (the S3 seam) with fault injection
- `receiver`  an in-process server, a recording publisher, a fake SQS client and a stepping clock
"""
