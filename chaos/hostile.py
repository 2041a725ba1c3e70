"""Scenario 8's ammunition: a seeded generator of malformed and hostile HTTP requests, and a raw sender.

Requests are built as bytes and sent on their own TCP connection, because the interesting ones
(duplicate or negative Content-Length, obs-folded headers, broken chunking, invalid UTF-8) cannot
be expressed through an HTTP client library that cleans them up. The kinds:

- `oversized`: a declared or actual body beyond TELEMETRY_MAX_BODY_BYTES, a chunked body that
  grows past it, more records than a batch may hold;
- `deep_json`: arrays and objects nested thousands deep, as a body or inside a payload;
- `wrong_types`: every field of a record given the wrong type or an out-of-range value, bodies
  that are not arrays, records with extra or server-only fields, duplicate keys whose last value
  (the one the parser keeps) is invalid;
- `non_finite`, `huge_numbers`: NaN / Infinity literals, 1e400, integers beyond 64 bits or
  beyond the 4,300-digit limit of Python's int parsing;
- `invalid_utf8`, `unicode_tricks`: broken byte sequences, lone surrogates, homoglyphs,
  zero-width and bidi characters, full-width letters in vehicle ids and signal names;
- `header_abuse`: missing, wrong or doubled keys, huge or thousands of headers, bad or
  conflicting Content-Length, Transfer-Encoding smuggling, malformed request lines and methods;
- `content_type`: anything but application/json, or none;
- `chunked`: bodies without a length, with malformed or unterminated chunking.

No hostile request carries a record that is valid under any reading: whatever a leniency let
through would be a *valid* record no good client sent, which the bucket check counts as foreign.
The exceptions are deliberate and tracked: `mixed` batches put valid records between invalid ones,
and `escaped` sends valid records spelled with JSON escapes (`\\u002d` for `-`); their identities
are in `HostileRequest.good` and must be acknowledged and stored like any good record.
"""

from __future__ import annotations

import contextlib
import random
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from chaos.traffic import good_record

SINGLE: Final = b"/v1/telemetry"
BATCH: Final = b"/v1/telemetry/batch"
DEFAULT_COUNT: Final = 10_000

#: How many of each kind, per 10,000 (scaled for other counts); heavy bodies are kept few.
MIX: Final = {
    "wrong_types": 2300,
    "header_abuse": 1500,
    "unicode_tricks": 1100,
    "non_finite": 700,
    "huge_numbers": 700,
    "invalid_utf8": 700,
    "deep_json": 600,
    "content_type": 600,
    "chunked": 600,
    "oversized": 600,
    "mixed": 400,
    "escaped": 200,
}


@dataclass(frozen=True, slots=True)
class HostileRequest:
    """One request as bytes; `must_answer` is False when the request is deliberately incomplete."""

    kind: str
    variant: str
    raw: bytes
    must_answer: bool = True
    good: tuple[dict[str, Any], ...] = ()  # valid records inside, at `good_indices` of the batch
    good_indices: tuple[int, ...] = ()
    batch_size: int = 0


@dataclass(frozen=True, slots=True)
class Reply:
    """What came back: a status code, or `closed` / `reset` / `timeout` when none did."""

    status: int | None
    outcome: str
    body: bytes = b""


def http(
    body: bytes,
    *,
    api_key: str | None,
    path: bytes = BATCH,
    method: bytes = b"POST",
    content_type: bytes | None = b"application/json",
    extra: list[bytes] | None = None,
    length: bytes | None = None,
    version: bytes = b"HTTP/1.1",
) -> bytes:
    """A request with `Connection: close`; `length` overrides Content-Length (b"" leaves it out)."""
    lines = [method + b" " + path + b" " + version, b"Host: 127.0.0.1", b"Connection: close"]
    if api_key is not None:
        lines.append(b"X-API-Key: " + api_key.encode())
    if content_type is not None:
        lines.append(b"Content-Type: " + content_type)
    if length is None:
        lines.append(b"Content-Length: %d" % len(body))
    elif length:
        lines.append(b"Content-Length: " + length)
    lines.extend(extra or [])
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(body: bytes, *, size: int = 7, terminate: bool = True) -> bytes:
    out = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)
    )
    return out + (b"0\r\n\r\n" if terminate else b"")


@dataclass
class Generator:
    """Builds `count` hostile requests from `seed`; the same seed gives the same requests."""

    api_key: str
    seed: int = 8
    max_body_bytes: int = 1_048_576
    max_batch_records: int = 500
    rng: random.Random = field(init=False)
    _seq: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def generate(self, count: int = DEFAULT_COUNT) -> list[HostileRequest]:
        total = sum(MIX.values())
        plan = [kind for kind, n in MIX.items() for _ in range(max(1, round(n * count / total)))]
        plan = plan[:count] + ["wrong_types"] * (count - len(plan))
        self.rng.shuffle(plan)
        builders: dict[str, Callable[[], HostileRequest]] = {
            "wrong_types": self.wrong_types,
            "header_abuse": self.header_abuse,
            "unicode_tricks": self.unicode_tricks,
            "non_finite": self.non_finite,
            "huge_numbers": self.huge_numbers,
            "invalid_utf8": self.invalid_utf8,
            "deep_json": self.deep_json,
            "content_type": self.content_type,
            "chunked": self.chunked,
            "oversized": self.oversized,
            "mixed": self.mixed,
            "escaped": self.escaped,
        }
        return [builders[kind]() for kind in plan]

    # -- building blocks ---------------------------------------------------------------------
    def _record(self) -> dict[str, Any]:
        self._seq += 1
        return good_record("s8x", self._seq)

    def _broken(self) -> tuple[str, dict[str, Any]]:
        """A record with one field made invalid; returns what was broken and the record."""
        record = self._record()
        now = datetime.now(UTC)
        breakers: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
            ("timestamp_number", lambda r: r.update(timestamp=1_700_000_000)),
            # Epoch numbers for now: the contract (and its JSON Schema) says an ISO 8601 string.
            ("timestamp_epoch_seconds", lambda r: r.update(timestamp=round(time.time(), 3))),
            ("timestamp_epoch_ms", lambda r: r.update(timestamp=int(time.time() * 1000))),
            ("timestamp_epoch_text", lambda r: r.update(timestamp=str(int(time.time())))),
            ("timestamp_year_1", lambda r: r.update(timestamp="0001-01-01T00:30:00+01:00")),
            ("timestamp_year_9999", lambda r: r.update(timestamp="9999-12-31T23:59:59-01:00")),
            ("timestamp_nanoseconds_future", lambda r: r.update(timestamp="2999-01-01T00:00:00.123456789Z")),
            ("timestamp_null", lambda r: r.update(timestamp=None)),
            ("timestamp_text", lambda r: r.update(timestamp="yesterday")),
            ("timestamp_naive", lambda r: r.update(timestamp="2025-10-19T12:34:56")),
            ("timestamp_month13", lambda r: r.update(timestamp="2025-13-45T12:34:56Z")),
            ("timestamp_future", lambda r: r.update(timestamp=(now + timedelta(hours=2)).isoformat())),
            ("timestamp_ancient", lambda r: r.update(timestamp="1970-01-01T00:00:00Z")),
            ("vehicle_number", lambda r: r.update(vehicle_id=12345)),
            ("vehicle_empty", lambda r: r.update(vehicle_id="")),
            ("vehicle_long", lambda r: r.update(vehicle_id="v" * 65)),
            ("vehicle_space", lambda r: r.update(vehicle_id="veh 001")),
            ("vehicle_newline", lambda r: r.update(vehicle_id="veh\n001")),
            ("vehicle_slash", lambda r: r.update(vehicle_id="../../etc/passwd")),
            ("vehicle_leading_dash", lambda r: r.update(vehicle_id="-veh")),
            ("vehicle_list", lambda r: r.update(vehicle_id=["veh-001"])),
            ("can_int", lambda r: r.update(can_id=496)),
            ("can_no_prefix", lambda r: r.update(can_id="1F0")),
            ("can_empty_hex", lambda r: r.update(can_id="0x")),
            ("can_too_big", lambda r: r.update(can_id="0x3FFFFFFF")),
            ("can_nine_digits", lambda r: r.update(can_id="0x000000001")),
            ("can_negative", lambda r: r.update(can_id="-0x1")),
            ("payload_list", lambda r: r.update(payload=[1, 2])),
            ("payload_text", lambda r: r.update(payload="battery_soc=50")),
            ("payload_empty", lambda r: r.update(payload={})),
            ("payload_null", lambda r: r.update(payload=None)),
            ("signal_text", lambda r: r["payload"].update(battery_soc="85.5")),
            ("signal_null", lambda r: r["payload"].update(battery_soc=None)),
            ("signal_list", lambda r: r["payload"].update(battery_soc=[85.5])),
            ("signal_object", lambda r: r["payload"].update(battery_soc={"v": 85.5})),
            ("signal_upper", lambda r: r["payload"].update(Battery_SOC=1)),
            ("signal_dash", lambda r: r["payload"].update(**{"battery-soc": 1})),
            ("signal_empty_name", lambda r: r["payload"].update(**{"": 1})),
            ("signal_long_name", lambda r: r["payload"].update(**{"s" * 65: 1})),
            ("too_many_signals", lambda r: r["payload"].update({f"s{i}": i for i in range(70)})),
            ("extra_field", lambda r: r.update(firmware="1.2.3")),
            ("server_field", lambda r: r.update(ingest_received_at=now.isoformat())),
            ("missing_timestamp", lambda r: r.pop("timestamp")),
            ("missing_payload", lambda r: r.pop("payload")),
            ("missing_vehicle", lambda r: r.pop("vehicle_id")),
        ]
        name, breaker = self.rng.choice(breakers)
        breaker(record)
        return name, record

    def _body_of(self, records: list[Any], *, single: bool) -> tuple[bytes, bytes]:
        if single:
            return SINGLE, orjson.dumps(records[0], option=orjson.OPT_NON_STR_KEYS)
        return BATCH, orjson.dumps(records, option=orjson.OPT_NON_STR_KEYS)

    def _post(
        self, kind: str, variant: str, body: bytes, path: bytes | None = None, **kw: Any
    ) -> HostileRequest:
        path = path if path is not None else self.rng.choice([SINGLE, BATCH])
        return HostileRequest(kind, variant, http(body, api_key=self.api_key, path=path, **kw))

    def _text_record(self, *, field_name: str, raw_value: bytes) -> bytes:
        """A record as JSON text with one field's value spliced in raw (for what orjson will not write)."""
        record = self._record()
        placeholder = "__RAW__"
        if field_name in record["payload"] or field_name == "signal":
            record["payload"]["battery_soc"] = placeholder
        else:
            record[field_name] = placeholder
        return orjson.dumps(record).replace(b'"' + placeholder.encode() + b'"', raw_value)

    # -- the kinds -----------------------------------------------------------------------------
    def wrong_types(self) -> HostileRequest:
        rng = self.rng
        shape = rng.random()
        if shape < 0.12:
            variant, body = rng.choice(
                [
                    ("batch_object", b'{"records": []}'),
                    ("batch_number", b"42"),
                    ("batch_string", b'"[]"'),
                    ("batch_null", b"null"),
                    ("batch_empty", b"[]"),
                    ("batch_of_numbers", b"[1, 2, 3]"),
                    ("batch_of_lists", b"[[], [[]]]"),
                    ("batch_of_nulls", b"[null, null]"),
                    ("empty_body", b""),
                    ("whitespace_body", b" \t\r\n "),
                    ("trailing_garbage", b'[{"a": 1}] trailing'),
                    ("two_documents", b"{}{}"),
                    ("truncated", b'[{"timestamp": "2025-'),
                    ("comment", b"[/* no comments */]"),
                    ("single_quotes", b"[{'vehicle_id': 'veh'}]"),
                    ("bom", b"\xef\xbb\xbf[]"),
                ]
            )
            return self._post("wrong_types", variant, body, path=BATCH)
        if shape < 0.22:
            record = self._record()
            variant = "duplicate_key_last_invalid"
            text = orjson.dumps(record)
            body = text[:-1] + b', "vehicle_id": 42}'
            single = rng.random() < 0.5
            return self._post(
                "wrong_types",
                variant,
                body if single else b"[" + body + b"]",
                path=SINGLE if single else BATCH,
            )
        count = 1 if rng.random() < 0.5 else rng.randint(2, 20)
        broken = [self._broken() for _ in range(count)]
        path, body = self._body_of([record for _, record in broken], single=count == 1 and rng.random() < 0.7)
        return self._post("wrong_types", broken[0][0], body, path=path)

    def non_finite(self) -> HostileRequest:
        literal = self.rng.choice(
            [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"1E999", b"nan", b"inf"]
        )
        body = self._text_record(field_name="signal", raw_value=literal)
        single = self.rng.random() < 0.5
        return self._post(
            "non_finite",
            literal.decode(),
            body if single else b"[" + body + b"]",
            path=SINGLE if single else BATCH,
        )

    def huge_numbers(self) -> HostileRequest:
        literal = self.rng.choice(
            [
                b"9223372036854775808",  # 2**63
                b"-9223372036854775809",  # -2**63 - 1
                b"18446744073709551616",  # 2**64
                b"123456789012345678901234567890",
                b"1" + b"0" * 4400,  # beyond Python's 4,300-digit int parsing limit
                b"-" + b"9" * 400,
                b"1" + b"0" * 400 + b".5",
                b"0." + b"0" * 400 + b"1e99999",
            ]
        )
        where = self.rng.choice(["signal", "timestamp", "vehicle_id"])
        body = self._text_record(field_name=where, raw_value=literal)
        variant = f"{where}_{len(literal)}digits"
        return self._post("huge_numbers", variant, b"[" + body + b"]", path=BATCH)

    def invalid_utf8(self) -> HostileRequest:
        variant, raw = self.rng.choice(
            [
                ("ff_byte", b'"veh-\xff"'),
                ("overlong_slash", b'"veh-\xc0\xaf"'),
                ("encoded_surrogate", b'"veh-\xed\xa0\x80"'),
                ("truncated_sequence", b'"veh-\xe2\x82"'),
                ("lone_surrogate_escape", b'"veh-\\ud800"'),
                ("reversed_surrogates", b'"veh-\\udc00\\ud800"'),
                ("nul_escape", b'"veh-\\u0000"'),
                ("raw_control", b'"veh-\x01"'),
                ("latin1", b'"v\xe9h"'),
            ]
        )
        where = self.rng.choice(["vehicle_id", "can_id", "timestamp"])
        body = self._text_record(field_name=where, raw_value=raw)
        if self.rng.random() < 0.2:
            body = b"\xfe\xff" + body  # UTF-16 BOM before UTF-8 text
            variant += "_utf16_bom"
        return self._post("invalid_utf8", f"{where}_{variant}", b"[" + body + b"]", path=BATCH)

    def unicode_tricks(self) -> HostileRequest:
        # Each is spliced into an otherwise valid vehicle id, signal name or CAN id.
        tricks = [
            ("cyrillic_o", "\u041e"),
            ("cyrillic_e", "\u0435"),
            ("greek_omicron", "\u03bf"),
            ("zero_width_space", "\u200b"),
            ("zero_width_joiner", "\u200d"),
            ("bidi_override", "\u202e"),
            ("fullwidth", "\uff56\uff45\uff48"),
            ("fullwidth_digits", "\uff11\uff12"),
            ("combining_acute", "\u0301"),
            ("nbsp", "\u00a0"),
            ("ideographic_space", "\u3000"),
            ("arabic_digits", "\u0661\u0662\u0663"),
            ("emoji", "\U0001f697"),
            ("soft_hyphen", "\u00ad"),
            ("bom_inside", "\ufeff"),
            ("ligature", "\ufb01"),
            ("turkish_dotless", "\u0131"),
            ("kelvin_sign", "\u212a"),
        ]
        variant, special = self.rng.choice(tricks)
        record = self._record()
        where = self.rng.choice(["vehicle_id", "signal_name", "can_id"])
        if where == "vehicle_id":
            record["vehicle_id"] = "veh-" + special + "00123"
        elif where == "signal_name":
            record["payload"] = {"battery" + special + "_soc": 1.0}
        else:
            record["can_id"] = "0x1" + special + "F0"
        escape = self.rng.random() < 0.5  # the same text as raw UTF-8 or as \\u escapes
        body = orjson.dumps([record])
        if escape:
            body = body.decode().encode("ascii", "backslashreplace").replace(b"\\x", b"\\u00")
        return self._post(
            "unicode_tricks", f"{where}_{variant}{'_escaped' if escape else ''}", body, path=BATCH
        )

    def deep_json(self) -> HostileRequest:
        depth = self.rng.choice([300, 1_000, 10_000, 100_000])
        variant = self.rng.choice(["arrays", "objects", "in_payload", "in_batch"])
        if variant == "arrays":
            body = b"[" * depth + b"]" * depth
        elif variant == "objects":
            body = b'{"a":' * depth + b"1" + b"}" * depth
        else:
            nested = b"[" * depth + b"1" + b"]" * depth
            text = (
                self._text_record(field_name="signal", raw_value=nested)
                if variant == "in_payload"
                else orjson.dumps(self._broken()[1])
            )
            body = b"[" + text + b"," + nested + b"]" if variant == "in_batch" else b"[" + text + b"]"
        return self._post("deep_json", f"{variant}_{depth}", body)

    def content_type(self) -> HostileRequest:
        _, record = self._broken()
        body = orjson.dumps([record])
        variant, ctype = self.rng.choice(
            [
                ("text_plain", b"text/plain"),
                ("form", b"application/x-www-form-urlencoded"),
                ("multipart", b"multipart/form-data; boundary=xyz"),
                ("json_patch", b"application/json-patch+json"),
                ("ndjson", b"application/x-ndjson"),
                ("uppercase_json", b"APPLICATION/JSON"),
                ("json_semicolons", b"application/json;;;charset=utf-8"),
                ("json_latin1", b"application/json; charset=latin-1"),
                ("empty", b""),
                ("none", None),
                ("garbage", b"\x00\x01\x02"),
                ("very_long", b"application/json; x=" + b"a" * 8000),
            ]
        )
        return self._post("content_type", variant, body, path=BATCH, content_type=ctype)

    def chunked(self) -> HostileRequest:
        _, record = self._broken()
        payload = orjson.dumps([record])
        te = [b"Transfer-Encoding: chunked"]
        variant = self.rng.choice(
            ["valid_framing", "bad_size", "huge_size", "extension", "trailer", "unterminated", "too_short"]
        )
        must_answer = True
        if variant == "valid_framing":
            body = chunked(payload, size=self.rng.randint(1, 64))
        elif variant == "bad_size":
            body = b"zz\r\n" + payload + b"\r\n0\r\n\r\n"
        elif variant == "huge_size":
            body = b"ffffffffffffffffffff\r\n" + payload[:10] + b"\r\n"
        elif variant == "extension":
            body = b"%x;name=value;" % len(payload) + b"a" * 4000 + b"\r\n" + payload + b"\r\n0\r\n\r\n"
        elif variant == "trailer":
            body = chunked(payload)[:-2] + b"X-Trailer: evil\r\n\r\n"
        elif variant == "unterminated":
            body, must_answer = chunked(payload, terminate=False), False  # a slow client: no end
        else:
            body = b"%x\r\n" % (len(payload) + 50) + payload + b"\r\n0\r\n\r\n"
            must_answer = False  # the declared chunk swallows the terminator: still waiting
        raw = http(body, api_key=self.api_key, length=b"", extra=te)
        return HostileRequest("chunked", variant, raw, must_answer=must_answer)

    def oversized(self) -> HostileRequest:
        limit = self.max_body_bytes
        roll = self.rng.random()
        if roll < 0.05:  # real bytes beyond the limit: a few, they are heavy
            one = orjson.dumps(self._broken()[1])
            filler = b"[" + b",".join([one] * (limit // len(one) + 10)) + b"]"
            if self.rng.random() < 0.5:
                raw = http(
                    filler,
                    api_key=self.api_key,
                    path=BATCH,
                    length=b"",
                    extra=[b"Transfer-Encoding: chunked"],
                )
                raw = raw[: raw.index(b"\r\n\r\n") + 4] + chunked(filler, size=65_536)
                return HostileRequest("oversized", "chunked_stream", raw, must_answer=False)
            return HostileRequest(
                "oversized", "actual_body", http(filler, api_key=self.api_key), must_answer=False
            )
        if roll < 0.25:
            _, record = self._broken()
            records = [record] * (self.max_batch_records + self.rng.randint(1, 500))
            return self._post("oversized", "too_many_records", orjson.dumps(records), path=BATCH)
        declared = self.rng.choice([limit + 1, 10 * limit, 2**31, 2**63, 10**30])
        raw = http(b'[{"vehicle_id": ', api_key=self.api_key, length=str(declared).encode())
        return HostileRequest("oversized", f"declared_{declared}", raw, must_answer=False)

    def header_abuse(self) -> HostileRequest:
        _, record = self._broken()
        body = orjson.dumps([record])
        key = self.api_key.encode()
        cases: list[tuple[str, Callable[[], bytes], bool]] = [
            ("no_key", lambda: http(body, api_key=None), True),
            ("wrong_key", lambda: http(body, api_key="k-wrong-0123456789abcdef"), True),
            ("key_trailing_space", lambda: http(body, api_key=self.api_key + " "), True),
            ("key_lowercase_name", lambda: http(body, api_key=None, extra=[b"x-api-key: " + key]), True),
            (
                "wrong_key_first",
                lambda: http(body, api_key="k-wrong-0123456789abcdef", extra=[b"X-API-Key: " + key]),
                True,
            ),
            ("key_huge", lambda: http(body, api_key="k" * 60_000), True),
            (
                "many_headers",
                lambda: http(
                    body, api_key=self.api_key, extra=[b"X-Pad-%d: %d" % (i, i) for i in range(2000)]
                ),
                True,
            ),
            (
                "header_huge",
                lambda: http(body, api_key=self.api_key, extra=[b"X-Pad: " + b"a" * 100_000]),
                True,
            ),
            ("length_negative", lambda: http(body, api_key=self.api_key, length=b"-1"), True),
            ("length_text", lambda: http(body, api_key=self.api_key, length=b"abc"), True),
            (
                "length_list",
                lambda: http(body, api_key=self.api_key, length=b"%d, %d" % (len(body), len(body))),
                True,
            ),
            (
                "length_twice_different",
                lambda: http(body, api_key=self.api_key, extra=[b"Content-Length: 3"]),
                True,
            ),
            ("length_hex", lambda: http(body, api_key=self.api_key, length=b"0x%x" % len(body)), True),
            ("length_short", lambda: http(body, api_key=self.api_key, length=b"%d" % (len(body) // 2)), True),
            (
                "smuggle_te_cl",
                lambda: http(chunked(body), api_key=self.api_key, extra=[b"Transfer-Encoding: chunked"]),
                True,
            ),
            (
                "te_gzip",
                lambda: http(body, api_key=self.api_key, extra=[b"Transfer-Encoding: gzip"], length=b""),
                True,
            ),
            (
                "te_chunked_twice",
                lambda: http(
                    chunked(body),
                    api_key=self.api_key,
                    length=b"",
                    extra=[b"Transfer-Encoding: chunked, chunked"],
                ),
                True,
            ),
            (
                "content_encoding_gzip",
                lambda: http(body, api_key=self.api_key, extra=[b"Content-Encoding: gzip"]),
                True,
            ),
            ("obs_fold", lambda: http(body, api_key=self.api_key, extra=[b"X-Folded: a", b" b"]), True),
            ("nul_in_header", lambda: http(body, api_key=self.api_key, extra=[b"X-Nul: a\x00b"]), True),
            ("space_in_name", lambda: http(body, api_key=self.api_key, extra=[b"X Bad: 1"]), True),
            ("no_colon", lambda: http(body, api_key=self.api_key, extra=[b"NoColonHere"]), True),
            ("no_host", lambda: http(body, api_key=self.api_key).replace(b"Host: 127.0.0.1\r\n", b""), True),
            (
                "expect_continue",
                lambda: http(body, api_key=self.api_key, extra=[b"Expect: 100-continue"]),
                True,
            ),
            ("method_get", lambda: http(b"", api_key=self.api_key, method=b"GET"), True),
            ("method_put", lambda: http(body, api_key=self.api_key, method=b"PUT"), True),
            ("method_trace", lambda: http(b"", api_key=self.api_key, method=b"TRACE"), True),
            ("method_lowercase", lambda: http(body, api_key=self.api_key, method=b"post"), True),
            ("method_garbage", lambda: http(body, api_key=self.api_key, method=b"P\x00ST"), True),
            (
                "path_long",
                lambda: http(body, api_key=self.api_key, path=b"/v1/telemetry/" + b"a" * 60_000),
                True,
            ),
            (
                "path_traversal",
                lambda: http(body, api_key=self.api_key, path=b"/v1/telemetry/../telemetry/batch"),
                True,
            ),
            ("path_encoded", lambda: http(body, api_key=self.api_key, path=b"/v1/telemetry%2Fbatch"), True),
            (
                "path_query",
                lambda: http(body, api_key=self.api_key, path=BATCH + b"?x=" + b"%00" * 100),
                True,
            ),
            (
                "absolute_uri",
                lambda: http(body, api_key=self.api_key, path=b"http://evil.example" + BATCH),
                True,
            ),
            ("http10", lambda: http(body, api_key=self.api_key, version=b"HTTP/1.0"), True),
            ("http99", lambda: http(body, api_key=self.api_key, version=b"HTTP/9.9"), True),
            (
                "request_line_garbage",
                lambda: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
                True,
            ),
            ("bare_lf", lambda: http(body, api_key=self.api_key).replace(b"\r\n", b"\n"), True),
        ]
        variant, build, must_answer = self.rng.choice(cases)
        return HostileRequest("header_abuse", variant, build(), must_answer=must_answer)

    def mixed(self) -> HostileRequest:
        """A batch of valid records with invalid ones between them: only the valid ones may be stored."""
        size = self.rng.randint(2, 40)
        records: list[dict[str, Any]] = []
        good: list[dict[str, Any]] = []
        indices: list[int] = []
        for i in range(size):
            if self.rng.random() < 0.5:
                record = self._record()
                good.append(record)
                indices.append(i)
                records.append(record)
            else:
                records.append(self._broken()[1])
        raw = http(orjson.dumps(records), api_key=self.api_key, path=BATCH)
        return HostileRequest(
            "mixed",
            f"{len(good)}_of_{size}",
            raw,
            good=tuple(good),
            good_indices=tuple(indices),
            batch_size=size,
        )

    def escaped(self) -> HostileRequest:
        """Valid records spelled with \\u escapes: the same records, so they must be stored as such."""
        record = self._record()
        text = orjson.dumps([record]).replace(b"-", b"\\u002d").replace(b"v", b"\\u0076")
        raw = http(text, api_key=self.api_key, path=BATCH)
        return HostileRequest("escaped", "u_escapes", raw, good=(record,), good_indices=(0,), batch_size=1)


def send_raw(port: int, raw: bytes, *, timeout: float) -> Reply:
    """Send one request on a fresh connection; read the status line and the body (bounded)."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as exc:
        return Reply(None, f"connect_failed:{type(exc).__name__}")
    with sock:
        with contextlib.suppress(OSError):  # a server that answers early and closes cuts our send
            sock.sendall(raw)
        data = bytearray()
        try:
            for chunk in _recv(sock):
                data += chunk
                if len(data) > 1_000_000:
                    break
        except TimeoutError:
            if not data:
                return Reply(None, "timeout")
        except OSError:
            if not data:
                return Reply(None, "reset")
    return _parse(bytes(data))


def _recv(sock: socket.socket) -> Iterator[bytes]:
    while chunk := sock.recv(65_536):
        yield chunk


def _parse(data: bytes) -> Reply:
    while data.startswith(b"HTTP/1.1 1"):  # an interim 100 Continue before the real answer
        data = data.partition(b"\r\n\r\n")[2]
    if not data:
        return Reply(None, "closed")
    line = data.split(b"\r\n", 1)[0].split(b" ")
    try:
        status = int(line[1])
    except (IndexError, ValueError):
        return Reply(None, "garbled")
    body = data.partition(b"\r\n\r\n")[2]
    return Reply(status, str(status), body)
