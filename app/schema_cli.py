"""`telemetry schema`: regenerate the two checked-in documents the tests hold the code to.

- docs/schema/telemetry-record-v1.json: the JSON Schema of a stored record (contract v1);
- docs/openapi.json: the receiver's OpenAPI document, rendered from the default settings whatever
  the environment says, so the output is stable.
"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

import orjson
from pydantic import SecretStr

from app.contract import render_json_schema
from app.observability import InMemoryMetrics
from app.receiver.app import create_app
from app.settings import Settings

DEFAULT_SCHEMA_PATH = Path("docs/schema/telemetry-record-v1.json")
DEFAULT_OPENAPI_PATH = Path("docs/openapi.json")


def render_openapi() -> str:
    """The receiver's document for the default settings (a throwaway key: none is in the document)."""
    settings = Settings.model_construct(api_keys=[SecretStr(secrets.token_urlsafe(24))])
    app = create_app(settings, metrics=InMemoryMetrics(keep=False))
    return orjson.dumps(app.openapi(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_SCHEMA_PATH, help="where to write the JSON Schema"
    )
    parser.add_argument(
        "--openapi-out", type=Path, default=DEFAULT_OPENAPI_PATH, help="where to write the OpenAPI document"
    )


def run(args: argparse.Namespace) -> int:
    for path, text in ((args.out, render_json_schema()), (args.openapi_out, render_openapi())):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0
