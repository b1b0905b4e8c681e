"""The deployment files agree with the code: docker-compose.yml, Dockerfile, .ci/run, scripts/.

No Docker engine runs where the tests run, so these checks read the files: every command the
image runs must be a real `cxtalk` subcommand with arguments the CLI accepts, and the
compose services must share what a multi-process deployment has to share.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SHELL_SCRIPTS = [ROOT / ".ci" / "run", ROOT / "scripts" / "start-postgres.sh",
                 ROOT / "scripts" / "start-redis.sh"]
APP_SERVICES = ("migrate", "api", "worker")


# --- helpers ------------------------------------------------------------------------------

def cli_parser_and_subcommands() -> tuple[argparse.ArgumentParser, set[str]]:
    from cxtalk.cli import build_parser  # imported here: a broken CLI fails these tests only

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return parser, set(action.choices)
    pytest.fail("cxtalk.cli.build_parser() has no subcommands")


def assert_valid_cxtalk_command(argv: list[str], where: str) -> str:
    """argv must be `cxtalk <subcommand> [options]` that build_parser() accepts; returns it."""
    assert argv and argv[0] == "cxtalk", f"{where}: command {argv!r} does not run cxtalk"
    assert len(argv) >= 2, f"{where}: command {argv!r} names no subcommand"
    parser, subcommands = cli_parser_and_subcommands()
    assert argv[1] in subcommands, (
        f"{where}: `cxtalk {argv[1]}` is not a subcommand of cxtalk.cli ({sorted(subcommands)})")
    try:
        parser.parse_args(argv[1:])
    except SystemExit as exc:  # argparse reports bad options by exiting
        pytest.fail(f"{where}: cxtalk rejects the arguments {argv[1:]!r} (exit {exc.code})")
    return argv[1]


def as_argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def volume_mounts(service: dict) -> dict[str, str]:
    """Container path -> source (named volume or host path) for each of the service's mounts."""
    mounts: dict[str, str] = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            if len(parts) == 1:  # anonymous volume
                mounts[parts[0]] = ""
            else:
                mounts[parts[1]] = parts[0]
        else:
            mounts[volume["target"]] = volume.get("source", "")
    return mounts


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


# --- docker-compose.yml -------------------------------------------------------------------

def test_compose_top_level_keys_are_compose_spec(compose: dict) -> None:
    allowed = {"name", "services", "volumes", "networks", "configs", "secrets", "include"}
    unknown = {key for key in compose if key not in allowed and not key.startswith("x-")}
    assert not unknown, f"not compose-spec top-level keys: {unknown}"
    assert "version" not in compose, "`version` is obsolete in the compose spec"


def test_compose_has_the_deployment_services(services: dict) -> None:
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(services)
    assert str(services["postgres"]["image"]).startswith("postgres:15")
    assert str(services["redis"]["image"]).startswith("redis:7")
    for name in ("postgres", "redis", "api"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_compose_app_services_use_our_image(services: dict) -> None:
    images = set()
    for name in APP_SERVICES:
        build = services[name].get("build")
        assert build is not None, f"{name} is not built from this repository"
        context = build if isinstance(build, str) else build.get("context", ".")
        assert (ROOT / context / "Dockerfile").is_file()
        images.add(services[name].get("image"))
    assert len(images) == 1, f"app services use different images: {images}"


def test_compose_commands_are_real_cxtalk_subcommands(services: dict) -> None:
    app_image = services["api"].get("image")
    ours = [name for name, svc in services.items()
            if "build" in svc or (app_image and svc.get("image") == app_image)]
    assert set(APP_SERVICES) <= set(ours)
    subcommands = {}
    for name in ours:
        command = services[name].get("command")
        assert command, f"{name} has no command (the image's CMD would run `serve`)"
        subcommands[name] = assert_valid_cxtalk_command(as_argv(command), f"service {name}")
    assert subcommands["migrate"] == "migrate"
    assert subcommands["api"] == "serve"
    assert subcommands["worker"] == "worker"
    api = as_argv(services["api"]["command"])
    assert api[api.index("--host") + 1] == "0.0.0.0"
    assert api[api.index("--port") + 1] == "8000"


def test_compose_api_and_worker_share_data_dir_and_secret(compose: dict, services: dict) -> None:
    api, worker, migrate = (env_of(services[name]) for name in ("api", "worker", "migrate"))
    data_dir = api.get("DATA_DIR")
    assert data_dir and worker.get("DATA_DIR") == data_dir
    api_volume = volume_mounts(services["api"]).get(data_dir)
    worker_volume = volume_mounts(services["worker"]).get(data_dir)
    assert api_volume, f"api mounts no volume at DATA_DIR={data_dir}"
    assert api_volume == worker_volume, "api and worker must mount the same volume at DATA_DIR"
    assert api_volume in (compose.get("volumes") or {}), f"{api_volume} is not a named volume"

    secret = api.get("SECRET_KEY")
    assert secret and re.fullmatch(r"\$\{SECRET_KEY:\?[^}]*\}", secret), (
        "SECRET_KEY must come from the host environment and be required: ${SECRET_KEY:?...}")
    assert worker.get("SECRET_KEY") == secret and migrate.get("SECRET_KEY") == secret

    for key in ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL"):
        assert api.get(key) and worker.get(key) == api[key], f"api and worker differ on {key}"
    assert migrate.get("DATABASE_URL") == api["DATABASE_URL"]
    assert re.match(r"postgres(ql)?://[^@]+@postgres:5432/", api["DATABASE_URL"])
    assert re.match(r"redis://redis:6379/", api["REDIS_URL"])


def test_compose_migrate_gates_api_and_worker(services: dict) -> None:
    assert depends_on(services["migrate"]).get("postgres") == "service_healthy"
    assert services["migrate"].get("restart", "no") in ("no", False), "migrate is a one-shot"
    for name in ("api", "worker"):
        deps = depends_on(services[name])
        assert deps.get("migrate") == "service_completed_successfully", name
        assert deps.get("redis") == "service_healthy", name


def test_compose_api_health_and_scaling(services: dict) -> None:
    api = services["api"]
    health = " ".join(as_argv(api["healthcheck"]["test"]))
    assert "/healthz" in health and "8000" in health
    ports = [str(p) if not isinstance(p, dict) else f"{p.get('published', '')}:{p['target']}"
             for p in api.get("ports") or []]
    assert any(p.rsplit(":", 1)[-1] == "8000" for p in ports), "api does not publish port 8000"
    for port in ports:  # a fixed host port would break `--scale api=N`
        host = port.rsplit(":", 1)[0] if ":" in port else ""
        assert not host or "${" in host, f"api publishes fixed host port {port}"
    for name in ("api", "worker"):
        assert "container_name" not in services[name], f"{name}: container_name prevents scaling"


def test_compose_references_resolve(compose: dict, services: dict) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for target in depends_on(service):
            assert target in services, f"{name} depends on unknown service {target}"
        for source in volume_mounts(service).values():
            if source and not source.startswith((".", "/", "~", "$")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


# --- Dockerfile and .dockerignore ---------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    instructions, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_dockerfile_bases_on_python_311_slim() -> None:
    bases = [rest.split()[0] for keyword, rest in dockerfile_instructions() if keyword == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases), bases


def test_dockerfile_cmd_is_a_real_cxtalk_subcommand() -> None:
    stage = final_stage()
    assert not [rest for keyword, rest in stage if keyword == "ENTRYPOINT"], (
        "no ENTRYPOINT: compose `command:` must replace the whole command")
    cmds = [rest for keyword, rest in stage if keyword == "CMD"]
    assert cmds, "the final stage has no CMD"
    argv = json.loads(cmds[-1])  # exec form, so signals reach the server
    assert isinstance(argv, list)
    assert assert_valid_cxtalk_command(argv, "Dockerfile CMD") == "serve"
    assert argv[argv.index("--host") + 1] == "0.0.0.0"


def test_dockerfile_runs_as_non_root_with_data_dir() -> None:
    stage = final_stage()
    users = [rest.split(":")[0] for keyword, rest in stage if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    env: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(rest) if "=" in item)
    assert env.get("DATA_DIR") == "/data"


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    patterns = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    # var/ holds the local SQLite database and the generated secret_key.
    assert {".git", ".venv", "var"} <= patterns


# --- shell scripts ------------------------------------------------------------------------

@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_script_parses(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in script.read_text()


@pytest.mark.parametrize("script", SHELL_SCRIPTS[1:], ids=lambda p: p.name)
def test_start_script_is_executable(script: Path) -> None:
    assert script.stat().st_mode & 0o111, f"chmod +x {script.relative_to(ROOT)}"
