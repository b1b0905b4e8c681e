"""The committed SDL is the schema, and it keeps the public contract (../shared/contract)."""
import subprocess
import sys
from pathlib import Path

from schema import schema

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT.parent / "shared" / "contract" / "check.py"


def test_committed_schema_graphql_is_current():
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == schema.as_str() + "\n", "schema.graphql is stale: run `make schema` and commit it"


def test_schema_keeps_the_public_contract():
    done = subprocess.run([sys.executable, str(CHECKER), str(ROOT / "schema.graphql")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failing" in done.stdout
