"""A fault-injecting TCP proxy on loopback, switched between modes while the pipeline runs.

One `FaultProxy` sits between one process and one AWS service: the process is started with
`AWS_ENDPOINT_URL_S3` (or `_SQS`) pointing at the proxy, which forwards to the moto server. The
scenario then switches its mode:

- `PASS`: bytes flow both ways untouched.
- `REFUSE`: every new connection is accepted and reset at once (RST), as a dead endpoint or a
  security group gone wrong looks to botocore (a connection error, retried, then raised).
- `ERROR`: every request is read and answered with an AWS-shaped 503 `ServiceUnavailable` (XML
  for S3's REST protocol, JSON for SQS's JSON protocol) and `Connection: close`, as a service in
  trouble answers.

A mode change cuts every open connection, so a pooled keep-alive connection cannot outlive the
mode it was opened under (otherwise a "down" S3 would still serve the consumer's warm connection).
The proxy runs its own asyncio loop in a daemon thread; `stop()` closes the listener, aborts the
connections and joins the thread, and the class is a context manager so a scenario cannot leave
one behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import Counter
from enum import StrEnum
from types import TracebackType
from typing import Final
from urllib.parse import urlsplit

#: Longest request head the ERROR mode reads before answering anyway.
MAX_HEAD_BYTES: Final = 64 * 1024
#: How long the ERROR mode waits for a request before giving up on the connection.
READ_TIMEOUT_SECONDS: Final = 10.0
PIPE_CHUNK: Final = 64 * 1024

_S3_ERROR: Final = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
    b"<Message>Service is unable to handle request (chaos proxy).</Message>"
    b"<RequestId>chaos</RequestId></Error>"
)
_JSON_ERROR: Final = (
    b'{"__type":"com.amazonaws.sqs#ServiceUnavailable",'
    b'"message":"Service is unable to handle request (chaos proxy)."}'
)


class Mode(StrEnum):
    PASS = "pass"  # noqa: S105 - a mode, not a password
    REFUSE = "refuse"
    ERROR = "error"


def error_response(request_head: bytes, *, status: int = 503) -> bytes:
    """The AWS-shaped error for one request: JSON when it speaks the JSON protocol, XML otherwise."""
    json_protocol = b"\r\nx-amz-target:" in request_head.lower()
    body, content_type = (
        (_JSON_ERROR, b"application/x-amz-json-1.0") if json_protocol else (_S3_ERROR, b"application/xml")
    )
    reason = b"Service Unavailable" if status == 503 else b"Internal Server Error"
    head = [
        b"HTTP/1.1 %d %s" % (status, reason),
        b"Content-Type: " + content_type,
        b"Content-Length: %d" % len(body),
        b"x-amzn-RequestId: chaos",
        b"Connection: close",
    ]
    if json_protocol:
        head.append(b"x-amzn-query-error: AWS.SimpleQueueService.ServiceUnavailable;Receiver")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            with contextlib.suppress(ValueError):
                return max(0, int(value.strip()))
    return 0


class FaultProxy:
    """Forwards 127.0.0.1:<port> to `upstream` (an http://host:port URL) in the current `Mode`."""

    def __init__(self, upstream: str, *, error_status: int = 503) -> None:
        parts = urlsplit(upstream)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream must be http://host:port, not {upstream!r}")
        self._upstream = (parts.hostname, parts.port)
        self._error_status = error_status
        self._mode = Mode.PASS
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> str:
        """Listen on a free loopback port; returns the URL to hand to the process under attack."""
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Close the listener and every connection, stop the loop, join the thread; idempotent."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- control (any thread) ----------------------------------------------------------------
    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        """Switch, and cut every connection opened so far; returns once they are cut."""
        asyncio.run_coroutine_threadsafe(self._switch(mode), self._loop).result(timeout=10)

    def counts(self) -> dict[str, int]:
        """Connections per mode they were handled in, and error answers given (for the report)."""
        with self._lock:
            return dict(self._counts)

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    # -- the loop's side ---------------------------------------------------------------------
    async def _listen(self) -> asyncio.Server:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(server.sockets[0].getsockname()[1])
        return server

    async def _switch(self, mode: Mode) -> None:
        self._mode = mode
        for writer in list(self._open):
            writer.transport.abort()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._switch(self._mode)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = self._mode
        self._count(f"connections_{mode.value}")
        if mode is Mode.REFUSE:
            _reset(writer)
            return
        self._open.add(writer)
        try:
            if mode is Mode.ERROR:
                await self._answer_error(reader, writer)
            else:
                await self._forward(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a cut or a peer that went away: exactly what this proxy is for
        except TimeoutError:
            pass
        finally:
            self._open.discard(writer)
            writer.transport.abort()

    async def _answer_error(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(READ_TIMEOUT_SECONDS):
            head = await reader.readuntil(b"\r\n\r\n")
            length = _content_length(head)
            if length:
                await reader.readexactly(length)  # read it all, so closing sends no RST over the answer
        self._count("error_responses")  # before the write: a reader of counts() may be that client
        writer.write(error_response(head, status=self._error_status))
        await writer.drain()
        writer.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._open.add(up_writer)
        try:
            pipes = [
                asyncio.ensure_future(_pipe(reader, up_writer)),
                asyncio.ensure_future(_pipe(up_reader, writer)),
            ]
            _, pending = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            self._open.discard(up_writer)
            up_writer.transport.abort()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await source.read(PIPE_CHUNK):
            sink.write(data)
            await sink.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer gets an RST, as from a port nobody listens on."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
