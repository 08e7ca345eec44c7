"""The FHIR and clinical packages are stage-level: they never import twin, store or cli."""

from __future__ import annotations

import ast
from pathlib import Path

import braintwin

FORBIDDEN = ("braintwin.twin", "braintwin.store", "braintwin.cli", "braintwin.api")


def test_fhir_and_clinical_do_not_import_twin_store_or_cli() -> None:
    root = Path(braintwin.__file__).parent
    for folder in ("fhir", "clinical"):
        for path in (root / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    bad = [f for f in FORBIDDEN if name == f or name.startswith(f + ".")]
                    assert not bad, f"{path.name} imports {name}"
