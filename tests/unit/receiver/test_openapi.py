"""docs/openapi.json is what the code generates, and it describes what the routes really do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from app.schema_cli import DEFAULT_OPENAPI_PATH, render_openapi

ROOT = Path(__file__).resolve().parents[3]


def document() -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(render_openapi())
    return parsed


def test_checked_in_document_matches_the_code() -> None:
    checked_in = (ROOT / DEFAULT_OPENAPI_PATH).read_text(encoding="utf-8")
    assert checked_in == render_openapi(), "docs/openapi.json drifted: run `make schema`"


def test_ingest_routes_declare_body_key_and_every_status() -> None:
    doc = document()
    assert doc["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    single = doc["paths"]["/v1/telemetry"]["post"]
    batch = doc["paths"]["/v1/telemetry/batch"]["post"]
    assert single["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TelemetryIn"
    }
    assert batch["requestBody"]["content"]["application/json"]["schema"]["maxItems"] == 500
    for operation in (single, batch):
        assert operation["security"] == [{"ApiKeyAuth": []}]
        assert set(operation["responses"]) == {"202", "400", "401", "413", "415", "422", "500", "503"}
        assert "Retry-After" in operation["responses"]["503"]["headers"]


def test_the_record_schema_is_the_contract_and_refuses_the_server_field() -> None:
    schema = document()["components"]["schemas"]["TelemetryIn"]
    assert set(schema["required"]) == {"timestamp", "vehicle_id", "can_id", "payload"}
    assert schema["additionalProperties"] is False
    assert "ingest_received_at" not in schema["properties"]


def test_rendering_does_not_depend_on_the_environment(monkeypatch: Any) -> None:
    before = render_openapi()
    monkeypatch.setenv("TELEMETRY_MAX_BATCH_RECORDS", "7")
    assert render_openapi() == before


def test_the_document_builder_does_not_import_the_app() -> None:
    """No import circle: the app imports the builder, the schema command renders the document."""
    probe = "import sys, app.receiver.openapi; print('app.receiver.app' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
