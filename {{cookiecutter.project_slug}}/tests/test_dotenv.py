""".env and the environment behave the same, also for the variables libraries read.

temporalio's envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE, TEMPORAL_TLS_*) reads only the process
environment by itself; the service hands it ``.env`` merged under the environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from {{ cookiecutter.package_name }}.config import Settings, load_settings
from {{ cookiecutter.package_name }}.runtime.client import connect_config

from tests.support import CONFIG_PREFIXES, run_cli
from tests.test_telemetry import SPAN_SCRIPT, _OtlpReceiver

PRODUCTION = {
    "AGENT_ENV": "production",
    "AGENT_SECRETS_BACKEND": "env",
    "AGENT_PAYLOAD_ENCRYPTION": "false",
    "OPENAI_API_KEY": "sk-test-not-a-placeholder",
}


def _write_env(directory: Path, values: dict[str, str]) -> None:
    (directory / ".env").write_text("".join(f"{key}={value}\n" for key, value in values.items()))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in list(os.environ):
        if key.startswith(CONFIG_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.integration
@pytest.mark.parametrize("source", [".env", "environment"])
def test_temporal_connection_from_dotenv_or_environment(
    tmp_path: Path, temporal_address: str, source: str
) -> None:
    def run(values: dict[str, str]) -> subprocess.CompletedProcess[str]:
        if source == ".env":
            _write_env(tmp_path, values)
            return run_cli("pending", "--json", cwd=tmp_path)
        (tmp_path / ".env").unlink(missing_ok=True)
        return run_cli("pending", "--json", env=values, cwd=tmp_path)

    found = run({"TEMPORAL_ADDRESS": temporal_address, "TEMPORAL_NAMESPACE": "default"})
    assert found.returncode == 0, found.stderr
    # The namespace is read from the same place: a missing one is named.
    missing = run({"TEMPORAL_ADDRESS": temporal_address, "TEMPORAL_NAMESPACE": "no-such-ns"})
    assert missing.returncode == 1, missing.stdout
    assert "no-such-ns" in missing.stderr
    assert "Traceback" not in missing.stderr
    # Production accepts the address from either place, and connects with it.
    production = run({**PRODUCTION, "TEMPORAL_ADDRESS": temporal_address})
    assert production.returncode == 0, production.stderr


def test_production_accepts_temporal_address_from_dotenv(clean_env: Path) -> None:
    _write_env(clean_env, {**PRODUCTION, "TEMPORAL_ADDRESS": "temporal.internal:7233"})
    assert load_settings().env.value == "production"
    _write_env(clean_env, PRODUCTION)
    with pytest.raises(Exception, match="TEMPORAL_ADDRESS is required"):
        load_settings()


def test_api_key_and_tls_from_dotenv(clean_env: Path) -> None:
    _write_env(
        clean_env,
        {
            "TEMPORAL_ADDRESS": "my-ns.a1b2c.tmprl.cloud:7233",
            "TEMPORAL_NAMESPACE": "my-ns.a1b2c",
            "TEMPORAL_API_KEY": "key-from-dotenv",
            "TEMPORAL_TLS_SERVER_NAME": "my-ns.a1b2c.tmprl.cloud",
        },
    )
    config = connect_config(Settings())
    assert config["target_host"] == "my-ns.a1b2c.tmprl.cloud:7233"
    assert config["namespace"] == "my-ns.a1b2c"
    assert config["api_key"] == "key-from-dotenv"
    assert config["tls"].domain == "my-ns.a1b2c.tmprl.cloud"


def test_profile_and_config_file_from_dotenv(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = clean_env / "temporal.toml"
    profiles.write_text(
        '[profile.staging]\naddress = "staging.internal:7233"\nnamespace = "staging"\n'
    )
    _write_env(clean_env, {"TEMPORAL_CONFIG_FILE": str(profiles), "TEMPORAL_PROFILE": "staging"})
    config = connect_config(Settings())
    assert (config["target_host"], config["namespace"]) == ("staging.internal:7233", "staging")
    # The real environment still wins over .env.
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "from-environment")
    assert connect_config(Settings())["namespace"] == "from-environment"


def _export_one_span(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = cwd / "span.py"
    script.write_text(SPAN_SCRIPT.format(package="{{ cookiecutter.package_name }}"))
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**child_env, **env},
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_otlp_endpoint_and_service_name_from_dotenv(tmp_path: Path) -> None:
    receiver = _OtlpReceiver()
    try:
        _write_env(
            tmp_path,
            {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "from-dotenv"},
        )
        result = _export_one_span(tmp_path, {})
        assert result.returncode == 0, result.stderr
        [(path, _, body)] = receiver.requests
    finally:
        receiver.server.shutdown()
    assert path == "/v1/traces"
    [resource_spans] = ExportTraceServiceRequest.FromString(body).resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "from-dotenv"


def test_the_traces_specific_endpoint_still_wins(tmp_path: Path) -> None:
    receiver = _OtlpReceiver()
    try:
        _write_env(tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
        traces = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url + "/custom/traces"}
        result = _export_one_span(tmp_path, traces)
        assert result.returncode == 0, result.stderr
        assert [path for path, _, _ in receiver.requests] == ["/custom/traces"]
    finally:
        receiver.server.shutdown()
