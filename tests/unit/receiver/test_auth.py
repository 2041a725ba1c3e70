"""Every configured key opens the door, nothing else does, and no plain key is kept around."""

from __future__ import annotations

import pytest

from app.errors import ConfigurationError
from app.receiver.auth import ApiKeys
from tests.conftest import OTHER_KEY, VALID_KEY


def keys() -> ApiKeys:
    return ApiKeys([VALID_KEY.encode(), OTHER_KEY.encode()])


@pytest.mark.parametrize("presented", [VALID_KEY, OTHER_KEY])
def test_each_configured_key_is_allowed_so_keys_rotate_without_downtime(presented: str) -> None:
    assert keys().allows(presented.encode())


@pytest.mark.parametrize(
    "presented",
    [
        None,
        b"",
        VALID_KEY[:-1].encode(),
        (VALID_KEY + "x").encode(),
        VALID_KEY.upper().encode(),
        b"\xff" * 32,
    ],
)
def test_anything_else_is_refused(presented: bytes | None) -> None:
    assert not keys().allows(presented)


def test_no_key_at_all_refuses_to_build() -> None:
    with pytest.raises(ConfigurationError):
        ApiKeys([])


def test_neither_repr_nor_state_holds_a_plain_key() -> None:
    checker = keys()
    assert VALID_KEY not in repr(checker)
    assert all(VALID_KEY.encode() not in digest for digest in checker._digests)
