"""X-API-Key checked in constant time against every configured key.

Several keys are valid at once so a key can be rotated without downtime: add the new key, move
clients over, remove the old one. Each key is stored only as its SHA-256 digest and every digest is
compared with `hmac.compare_digest`, without stopping at the first match, so neither which key
matched nor how long a key is shows in the response time. Keys never reach a log line: this module
holds no plain key, and a refused request is logged only as `reason=unauthorized`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from app.errors import ConfigurationError

HEADER = b"x-api-key"  # ASGI header names arrive lower-cased


class ApiKeys:
    """The set of accepted keys; `allows` answers whether a presented key is one of them."""

    __slots__ = ("_digests",)

    def __init__(self, keys: Iterable[bytes]) -> None:
        self._digests = tuple(hashlib.sha256(key).digest() for key in keys)
        if not self._digests:
            raise ConfigurationError("the receiver needs at least one API key")

    def __repr__(self) -> str:
        return f"ApiKeys(<{len(self._digests)} keys>)"

    def allows(self, presented: bytes | None) -> bool:
        """True when `presented` equals one of the keys; time does not depend on which one."""
        if not presented:
            return False
        digest = hashlib.sha256(presented).digest()
        matched = False
        for reference in self._digests:
            matched |= hmac.compare_digest(digest, reference)
        return matched
