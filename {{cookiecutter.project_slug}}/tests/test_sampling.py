"""Trace sampling follows OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, from .env too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import opentelemetry.trace
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from {{ cookiecutter.package_name }}.config import ConfigError, Settings, load_settings
from {{ cookiecutter.package_name }}.observability.tracing import configure_tracing


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()
    configure_tracing(Settings())  # back to every trace for the other tests


def traces_recorded(settings: Settings, exporter: InMemorySpanExporter, count: int) -> int:
    configure_tracing(settings, processors=[SimpleSpanProcessor(exporter)])
    exporter.clear()
    tracer = opentelemetry.trace.get_tracer(__name__)
    for _ in range(count):
        with tracer.start_as_current_span("root"), tracer.start_as_current_span("child"):
            pass
    roots = [span for span in exporter.get_finished_spans() if span.name == "root"]
    children = [span for span in exporter.get_finished_spans() if span.name == "child"]
    assert len(children) == len(roots)  # parent-based: a trace is whole or absent
    return len(roots)


def test_every_trace_is_recorded_by_default(exporter: InMemorySpanExporter) -> None:
    assert traces_recorded(Settings(), exporter, 20) == 20


def test_the_sampler_comes_from_dot_env(
    exporter: InMemorySpanExporter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "OTEL_TRACES_SAMPLER=parentbased_traceidratio\nOTEL_TRACES_SAMPLER_ARG=0.25\n"
    )
    settings = load_settings()
    assert settings.otel_traces_sampler == "parentbased_traceidratio"
    recorded = traces_recorded(settings, exporter, 400)
    assert 40 < recorded < 160, recorded  # about a quarter (trace ids are random)


def test_always_off_records_nothing(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    assert traces_recorded(load_settings(), exporter, 10) == 0


def test_an_unknown_sampler_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "sometimes")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "OTEL_TRACES_SAMPLER" in str(raised.value)
