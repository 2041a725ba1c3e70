"""`telemetry schema`: regenerate the checked-in JSON Schema of contract v1 (tests catch drift)."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.contract import render_json_schema

DEFAULT_SCHEMA_PATH = Path("docs/schema/telemetry-record-v1.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=DEFAULT_SCHEMA_PATH, help="where to write the schema")


def run(args: argparse.Namespace) -> int:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_json_schema(), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0
