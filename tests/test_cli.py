"""The `cxtalk` console script, run as a real process against the test database."""
import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def cxtalk(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "cxtalk"), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


async def test_create_domain_prints_one_json_line_with_a_working_admin_token(api):
    done = cxtalk("create-domain", "--name", "株式会社テスト", "--admin-name", "管理 太郎",
                  "--admin-email", "admin@test.example")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    printed = json.loads(lines[0])
    assert set(printed) == {"domainId", "adminToken"}
    viewer = await api.data("{ viewer { role domain { id name } member { name email } } }",
                            token=printed["adminToken"])
    assert viewer["viewer"] == {"role": "ADMIN", "domain": {"id": printed["domainId"], "name": "株式会社テスト"},
                                "member": {"name": "管理 太郎", "email": "admin@test.example"}}


async def test_create_domain_refuses_bad_input_clearly(api):
    done = cxtalk("create-domain", "--name", " ", "--admin-name", "A", "--admin-email", "not-an-email")
    assert done.returncode == 2
    assert "name: REQUIRED" in done.stderr and "adminEmail: INVALID" in done.stderr
    assert done.stdout == ""
    from models import Domain
    assert await Domain.all().count() == 0


async def test_operator_token_works_for_operator_mutations(api):
    done = cxtalk("create-operator-token")
    assert done.returncode == 0, done.stderr
    token = json.loads(done.stdout)["operatorToken"]
    domain = json.loads(cxtalk("create-domain", "--name", "D", "--admin-name", "A",
                               "--admin-email", "a@d.example").stdout)
    data = await api.data("""mutation($i: GrantProductInput!) { grantProduct(input: $i) { product { name } errors { code } } }""",
                          {"i": {"domainId": domain["domainId"], "name": "Std", "responderLimit": 3, "quantity": 2}},
                          token=token)
    assert data["grantProduct"] == {"product": {"name": "Std"}, "errors": []}
    # the token is stored only as a hash
    from models import ApiToken
    assert not await ApiToken.filter(token_hash=token).exists()
    assert all(len(h) == 64 and token not in h for h in await ApiToken.all().values_list("token_hash", flat=True))


def test_migrate_builds_a_fresh_sqlite_database(tmp_path):
    done = cxtalk("migrate", env={"DATA_DIR": str(tmp_path), "DATABASE_URL": ""})
    assert done.returncode == 0, done.stderr
    import sqlite3
    tables = {r[0] for r in sqlite3.connect(tmp_path / "cxtalk.sqlite3").execute(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"domains", "members", "api_tokens", "products", "window_accounts", "responders"} <= tables
    again = cxtalk("migrate", env={"DATA_DIR": str(tmp_path), "DATABASE_URL": ""})
    assert again.returncode == 0, again.stderr


def test_committed_migrations_match_the_models(tmp_path):
    done = subprocess.run([str(BIN / "tortoise"), "makemigrations"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "DATA_DIR": str(tmp_path), "DATABASE_URL": ""}, timeout=60)
    assert "No changes detected" in done.stdout + done.stderr, done.stdout + done.stderr
