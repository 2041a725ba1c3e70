"""app/errors.py is the one place an exception class of the package is defined, and its tree names each."""

from __future__ import annotations

import ast
from pathlib import Path

import app.errors

APP = Path(app.errors.__file__).parent


def _exception_classes() -> dict[str, str]:
    """Every class in app/ whose bases name an exception (ours or the builtins), by name -> module."""
    found: dict[str, str] = {}
    ours = {"Exception", "ValueError", "RuntimeError", "TelemetryError"}
    for path in sorted(APP.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if bases & ours or any(base.endswith("Error") for base in bases):
                    found[node.name] = str(path.relative_to(APP.parent))
    return found


def test_every_exception_class_lives_in_app_errors() -> None:
    elsewhere = {name: where for name, where in _exception_classes().items() if where != "app/errors.py"}
    assert elsewhere == {}, "define exception classes in app/errors.py, under TelemetryError"


def test_the_tree_in_the_docstring_names_every_class_and_every_class_is_ours() -> None:
    tree = {line.strip("│├└─ ").split(" ")[0] for line in (app.errors.__doc__ or "").splitlines()}
    classes = {name for name, where in _exception_classes().items() if where == "app/errors.py"}
    assert classes == {name for name in dir(app.errors) if isinstance(getattr(app.errors, name), type)} - {
        "Any",
        "Mapping",
    }
    for name in classes:
        assert name in tree, f"{name} is missing from the tree in app/errors.py's docstring"
        assert issubclass(getattr(app.errors, name), app.errors.TelemetryError)
