"""docker-compose.yml, Dockerfile, .dockerignore and .env.example: valid, and what docs/scaling-out.md promises.

There is no Docker engine in CI, so the compose file is checked with `docker-compose config`
(Debian's v1 binary, which validates against the Compose specification and substitutes the
variables), and otherwise read as YAML.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
# Variables of the compose file that the caller's shell must not override in these tests.
COMPOSE_VARIABLES = (
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
    "POSTGRES_HOST",
    "POSTGRES_BIND",
    "STUDY",
    "SPACE",
    "IMAGE",
    "WITH_CUDA",
)
STORAGE_URL = re.compile(
    r"postgresql(?:\+\w+)?://(?P<user>(?:\$\{[^}]*\}|[^:@\s\"'])+):(?P<password>(?:\$\{[^}]*\}|[^@\s\"'])+)@"
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def command_args(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def option(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


# ---------------------------------------------------------------- docker-compose config


def run_compose_config(project: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARIABLES and not k.startswith("COMPOSE_")}
    return subprocess.run(
        ["docker-compose", "config"], check=False, cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The project without its virtualenv, caches, stores or a developer's own .env."""
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    copy = tmp_path / "project"
    ignore = shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", "*.db", "*.db-*", ".env"
    )
    shutil.copytree(ROOT, copy, ignore=ignore)
    return copy


def test_docker_compose_config_accepts_the_file_with_the_example_env(project_copy: Path) -> None:
    shutil.copy(ENV_EXAMPLE, project_copy / ".env")
    result = run_compose_config(project_copy)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    url = "postgresql+psycopg2://fmnist:change-me@postgres:5432/fmnist"
    assert command_args(resolved["services"]["worker"]) == [
        "fmnist-search",
        "worker",
        "--study",
        "cnn",
        "--storage",
        url,
    ]
    assert url in command_args(resolved["services"]["dashboard"])
    assert resolved["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == "change-me"  # from env_file


def test_docker_compose_config_takes_study_and_host_from_env(project_copy: Path) -> None:
    env_text = ENV_EXAMPLE.read_text().replace("STUDY=cnn", "STUDY=dense-wide") + "POSTGRES_HOST=10.0.0.5\n"
    (project_copy / ".env").write_text(env_text)
    result = run_compose_config(project_copy)
    assert result.returncode == 0, result.stderr
    args = command_args(yaml.safe_load(result.stdout)["services"]["worker"])
    assert option(args, "--study") == "dense-wide"
    assert option(args, "--storage") == "postgresql+psycopg2://fmnist:change-me@10.0.0.5:5432/fmnist"


def test_docker_compose_config_refuses_a_missing_password(project_copy: Path) -> None:
    env_text = "\n".join(
        line for line in ENV_EXAMPLE.read_text().splitlines() if not line.startswith("POSTGRES_PASSWORD=")
    )
    (project_copy / ".env").write_text(env_text + "\n")
    result = run_compose_config(project_copy)
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


# ---------------------------------------------------------------- the compose file as YAML


def test_services(services: dict[str, Any]) -> None:
    assert {"postgres", "dashboard", "worker"} <= set(services)


def test_postgres_has_healthcheck_named_volume_and_env_file(compose: dict[str, Any], services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    test = postgres["healthcheck"]["test"]
    text = test if isinstance(test, str) else " ".join(test)
    assert "pg_isready" in text and "POSTGRES_USER" in text and "POSTGRES_DB" in text
    sources = [volume.split(":")[0] if isinstance(volume, str) else volume["source"] for volume in postgres["volumes"]]
    assert any(source in (compose.get("volumes") or {}) for source in sources), f"no named volume in {sources}"
    env_files = postgres["env_file"] if isinstance(postgres["env_file"], list) else [postgres["env_file"]]
    assert ".env" in env_files
    assert "POSTGRES_PASSWORD" not in (postgres.get("environment") or {})


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in strings(key) + strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [node] if isinstance(node, str) else []


def test_no_literal_password_in_compose_file(compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text()
    assert env_example()["POSTGRES_PASSWORD"] not in text
    assert not re.search(r"(?<![{\w])POSTGRES_PASSWORD(?:\s*:\s+|\s*=\s*)(?!\$)\S", text)  # a key with a value
    urls = [url for value in strings(compose) for url in STORAGE_URL.finditer(value)]
    assert urls, "no storage URL in docker-compose.yml"
    for url in urls:
        # Only variables, and the password's without a default value:
        # ${POSTGRES_PASSWORD} or ${POSTGRES_PASSWORD:?message}
        assert re.fullmatch(r"\$\{\w+(:?[-?][^}]*)?\}", url["user"]), url.group(0)
        assert re.fullmatch(r"\$\{POSTGRES_PASSWORD(:?\?[^}]*)?\}", url["password"]), url.group(0)


def test_published_ports_are_on_loopback_by_default(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and re.match(r"(127\.0\.0\.1|\$\{\w+:-127\.0\.0\.1\}):", port), (
                f"{name}: {port}"
            )


def test_the_cpu_worker_reserves_no_device_and_can_be_scaled(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert worker["profiles"] == ["cpu"] and "deploy" not in worker  # runs on any host
    assert "container_name" not in worker
    assert not worker.get("ports")
    assert str(worker["restart"]).startswith("on-failure")


@pytest.mark.parametrize("name", ["worker", "dashboard"])
def test_dashboard_and_workers_have_healthchecks(services: dict[str, Any], name: str) -> None:
    check = services[name]["healthcheck"]
    text = " ".join(check["test"])
    assert check["test"][0] in ("CMD", "CMD-SHELL") and check["interval"] and check["retries"] >= 1
    if name == "dashboard":
        assert "http://127.0.0.1:8080/dashboard" in text  # the page itself answers
    else:
        assert "fmnist-search status --study" in text and "FMNIST_STORAGE" in text  # the store and the study answer


# ---------------------------------------------------------------- one worker per GPU, generated


def generate_gpu_workers(project: Path, argument: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(project / "scripts" / "compose_gpus.py"), argument],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_one_worker_service_per_gpu_each_with_its_own_device(project_copy: Path) -> None:
    shutil.copy(ENV_EXAMPLE, project_copy / ".env")
    generated = generate_gpu_workers(project_copy, "3")
    assert generated.returncode == 0, generated.stderr
    (project_copy / "docker-compose.gpus.yml").write_text(generated.stdout)
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARIABLES and not k.startswith("COMPOSE_")}
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "-f", "docker-compose.gpus.yml", "config"],
        check=False, cwd=project_copy, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    gpu_workers = {name: service for name, service in resolved.items() if name.startswith("worker-gpu-")}
    assert sorted(gpu_workers) == ["worker-gpu-0", "worker-gpu-1", "worker-gpu-2"]
    for name, service in gpu_workers.items():
        [device] = service["deploy"]["resources"]["reservations"]["devices"]
        assert device["device_ids"] == [name.removeprefix("worker-gpu-")] and "count" not in device  # this GPU alone
        assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
        assert "profiles" not in service and service["healthcheck"] == resolved["worker"]["healthcheck"]
        assert command_args(service) == command_args(resolved["worker"])  # the same worker, on its own GPU
    assert generate_gpu_workers(project_copy, "0,2").stdout.count("worker-gpu-") == 2


@pytest.mark.parametrize("argument", ["0", "x", "1,1", "-1"])
def test_bad_gpu_counts_are_one_line(argument: str) -> None:
    result = generate_gpu_workers(ROOT, argument)
    assert result.returncode == 1 and result.stdout == "" and len(result.stderr.strip().splitlines()) == 1


def test_the_cpu_profile_validates_without_any_device(project_copy: Path) -> None:
    shutil.copy(ENV_EXAMPLE, project_copy / ".env")
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARIABLES and not k.startswith("COMPOSE_")}
    result = subprocess.run(["docker-compose", "--profile", "cpu", "config"], check=False, cwd=project_copy, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert "worker" in services and all("deploy" not in service for service in services.values())


def test_worker_command_joins_the_study(services: dict[str, Any]) -> None:
    args = command_args(services["worker"])
    assert args[:2] == ["fmnist-search", "worker"]
    assert option(args, "--study") == "${STUDY:-cnn}"
    assert option(args, "--storage").startswith("postgresql+psycopg2://")


def test_dashboard_serves_the_same_store(services: dict[str, Any]) -> None:
    args = command_args(services["dashboard"])
    assert args[:2] == ["fmnist-search", "dashboard"]
    assert option(args, "--host") == "0.0.0.0" and option(args, "--port") == "8080"
    assert option(command_args(services["worker"]), "--storage") in args
    assert services["dashboard"]["ports"] == ["127.0.0.1:8080:8080"]


@pytest.mark.parametrize("name", ["worker", "dashboard"])
def test_depends_on_a_healthy_postgres(services: dict[str, Any], name: str) -> None:
    assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_worker_and_dashboard_run_the_project_image(services: dict[str, Any]) -> None:
    for name in ("worker", "dashboard"):
        assert services[name]["image"] == services["worker"]["image"]
        assert services[name]["build"]["context"] == "."


def test_worker_keeps_the_data_in_a_shared_volume(compose: dict[str, Any], services: dict[str, Any]) -> None:
    mounts = [volume.split(":") for volume in services["worker"]["volumes"]]
    assert any(source in compose["volumes"] and target.endswith("fmnist-search") for source, target, *_ in mounts)


def test_every_required_variable_is_in_env_example() -> None:
    # $${VAR} is the container shell's variable, not Compose's: not required in .env.
    required = set(re.findall(r"(?<!\$)\$\{(\w+)(?::?\?[^}]*)?\}", COMPOSE_FILE.read_text()))
    defined = set(env_example())
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "STUDY", "SPACE"} <= defined
    assert required <= defined, required - defined


# ---------------------------------------------------------------- Dockerfile and .dockerignore


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_basics() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    env = " ".join(args for op, args in instructions if op == "ENV")
    assert "KERAS_BACKEND=tensorflow" in env and "TF_CPP_MIN_LOG_LEVEL=" in env
    assert any(op == "RUN" and "pip install" in args for op, args in instructions)
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(op == "VOLUME" and "fmnist-search" in args for op, args in instructions)


def test_dockerfile_copies_every_package_and_dockerignore_keeps_them() -> None:
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {
        pattern.removesuffix("*") for pattern in found["include"]
    }  # search*, ...: each folder with its subpackages
    copied = set()
    for op, args in dockerfile_instructions():
        if op == "COPY":
            copied.update(Path(source).name for source in args.split()[:-1] if not source.startswith("--"))
    assert {"pyproject.toml", "README.md", *packages} <= copied
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".venv", ".git", "*.db"} <= set(patterns)
    for name in copied:
        assert not any(fnmatch.fnmatch(name, pattern) for pattern in patterns), f".dockerignore drops {name}"


def test_workers_and_dashboard_share_the_trial_files_through_the_store(services: dict[str, Any]) -> None:
    # Trial files live in the PostgreSQL store (storage/db_artifacts.py): nothing else to share.
    for name in ("worker", "dashboard"):
        assert "FMNIST_ARTIFACTS" not in (services[name].get("environment") or {})
        assert not any("artifacts" in str(volume) for volume in services[name].get("volumes") or [])
