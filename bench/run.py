"""Render the default project, install it, run bench/harness.py, write the results.

Usage: ``bench/run.sh [--runs 1000] [--concurrency 50] [--latency-ms 20] ...``
(``bench/run.sh`` prepares the template's ``.venv`` first; this script needs
cookiecutter). Writes ``bench/results/<UTC time>.json`` and ``.md`` and replaces
the results block of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
# Targets from the issue: reported, not asserted.
TARGETS = {
    "throughput_ratio": 0.9,
    "p95_ratio": 1.15,
    "single_run_ratio": 1.2,
    "approval_p50_ms": 100.0,
    "recovery_margin_seconds": 2.0,
}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def prepare(work: Path, reinstall: bool) -> tuple[Path, str, str]:
    """The rendered default project, its venv's python, the slug and the package name."""
    project_parent = work / "project"
    if project_parent.exists():
        subprocess.run(["rm", "-rf", str(project_parent)], check=True)
    log("rendering the default project")
    project = Path(cookiecutter(str(ROOT), no_input=True, output_dir=str(project_parent)))
    slug = project.name
    package = next(path.name for path in (project / "src").iterdir() if path.is_dir())
    venv = work / "venv"
    python = venv / "bin" / "python"
    if reinstall or not python.exists():
        log(f"creating {venv} and installing {slug} (pip install -e '.[dev]')")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-e",
                f"{project}[dev]",
            ],
            check=True,
        )
    else:
        log(f"reusing {venv}; installing the freshly rendered {slug}")
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "-e",
                str(project),
            ],
            check=True,
        )
    return python, slug, package


def machine(python: Path) -> dict[str, Any]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split("MemTotal:", 1)[1].split()[0])
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    versions = subprocess.run(
        [
            str(python),
            "-c",
            (
                "import importlib.metadata as m, platform; "
                "print(platform.python_version(), m.version('temporalio'), m.version('openai'))"
            ),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    temporal = subprocess.run(
        [str(python.parent / "temporal"), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": versions[0],
        "temporalio": versions[1],
        "openai": versions[2],
        "temporal_cli": temporal,
    }


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


BASELINES = ("bare", "http_bare")
# Settings measured on and off in the same run (each lever: the service with these set).
LEVERS = [
    "sampling off:OTEL_TRACES_SAMPLER=always_off",
    # A global LLM rate limit set (high enough not to cap): LLM calls go through the
    # separate rate-limited queue instead of eager dispatch on the run's own queue.
    "LLM rate limit set:AGENT_LLM_MAX_REQUESTS_PER_SECOND=100000",
]


def micro_lines(micro: dict[str, Any] | None) -> list[str]:
    """Per-call costs of the log chain and the converter (bench/micro.py, best of 5)."""
    if not micro:
        return []
    return [
        "**Per-call costs** (`bench/micro.py`, best of 5 batches):",
        "",
        "| what | template | plain | |",
        "|---|---|---|---|",
        (
            f"| one log line (JSON, correlation fields, redaction) | "
            f"{micro['log_line_service_chain_us']:.0f} µs | "
            f"{micro['log_line_stdlib_formatter_us']:.0f} µs | stdlib formatter |"
        ),
        (
            f"| the same with 5 registered secrets | "
            f"{micro['log_line_service_chain_5_secrets_us']:.0f} µs | | |"
        ),
        (
            f"| of which redaction: fields / rendered line | {micro['redaction_fields_us']:.1f} µs / "
            f"{micro['redaction_rendered_line_us']:.1f} µs | | |"
        ),
        (
            f"| converter round trip of the LLM step's input "
            f"({micro['llm_request_payload_bytes']} bytes) | "
            f"{micro['converter_pydantic_round_trip_us']:.0f} µs (pydantic) | "
            f"{micro['converter_default_round_trip_us']:.0f} µs | default converter, plain dicts |"
        ),
        "",
    ]


def profile_table(profile: dict[str, Any] | None) -> list[str]:
    """Where the service worker's CPU went under the throughput load (py-spy samples)."""
    if not profile:
        return []
    lines = [
        (
            f"**Profile of the service worker** under the throughput load ({profile['samples']} "
            "py-spy samples at 100 Hz): self time by library | inclusive time by template module"
        ),
        "",
        "| library (self) | share | template module (inclusive) | share |",
        "|---|---|---|---|",
    ]
    libraries, modules = profile["self_by_library"], profile["inclusive_by_module"]
    for index in range(max(len(libraries), len(modules))):
        left = libraries[index] if index < len(libraries) else ("", "")
        right = modules[index] if index < len(modules) else ("", "")
        lines.append(f"| {left[0]} | {left[1]} % | {right[0]} | {right[1]} % |")
    return [*lines, ""]


def lever_table(tp: dict[str, Any], single: dict[str, Any]) -> list[str]:
    """Each lever against the service as shipped and against HTTP-bare."""
    if not tp.get("levers"):
        return []
    conc = tp["service"]["concurrency"]
    lines = [
        "**Levers** (the service with one setting changed, same server, same loads):",
        "",
        (
            f"| service | throughput (c={conc}) | / HTTP-bare | p95 (c={conc}) | single-run p50 "
            "| / HTTP-bare | worker CPU per run (c=1) |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    rows = [("as in the tables above", tp["service"], single["service"])]
    rows += [(name, tp["levers"][name], single["levers"][name]) for name in tp["levers"]]
    for name, loaded, alone in rows:
        lines.append(
            f"| {name} | {loaded['throughput_per_second']:.2f} runs/s | "
            f"{ratio(loaded['throughput_per_second'], tp['http_bare']['throughput_per_second']):.2f} | "
            f"{loaded['p95_seconds'] * 1000:.0f} ms | {alone['p50_seconds'] * 1000:.0f} ms | "
            f"{ratio(alone['p50_seconds'], single['http_bare']['p50_seconds']):.2f} | "
            f"{alone.get('worker_cpu_ms_per_run', float('nan')):.1f} ms |"
        )
    errors = sum(tp["levers"][n]["errors"] + single["levers"][n]["errors"] for n in tp["levers"])
    lines += ["", f"Errors with levers: {errors}.", ""]
    return lines


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """Ratios against HTTP-bare (the targets: same work, no template) and sleep-bare (the limit)."""
    tp, single = raw["throughput"], raw["single_run"]
    steps = 3  # model call, tool call, model call: the bare workflows' three activities
    summary: dict[str, Any] = {
        "service_errors": tp["service"]["errors"] + single["service"]["errors"],
        "baseline_errors": sum(tp[b]["errors"] + single[b]["errors"] for b in BASELINES),
    }
    for base, suffix in (("http_bare", ""), ("bare", "_sleep")):
        summary[f"throughput_ratio{suffix}"] = ratio(
            tp["service"]["throughput_per_second"], tp[base]["throughput_per_second"]
        )
        summary[f"p95_ratio{suffix}"] = ratio(tp["service"]["p95_seconds"], tp[base]["p95_seconds"])
        summary[f"single_run_ratio{suffix}"] = ratio(
            single["service"]["p50_seconds"], single[base]["p50_seconds"]
        )
        summary[f"per_step_overhead_ms_single{suffix}"] = (
            (single["service"]["p50_seconds"] - single[base]["p50_seconds"]) / steps * 1000
        )
    if "http_bare_no_eager" in single:
        summary["single_run_ratio_no_eager"] = ratio(
            single["service"]["p50_seconds"], single["http_bare_no_eager"]["p50_seconds"]
        )
    recovery = raw.get("recovery", {})
    for kind in ("tool", "llm"):
        if kind in recovery:
            timeout = recovery[f"{kind}_heartbeat_timeout_seconds"]
            summary[f"recovery_{kind}_max_seconds"] = recovery[kind]["max_seconds"]
            summary[f"recovery_{kind}_budget_seconds"] = timeout + TARGETS["recovery_margin_seconds"]
    return summary


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


HEADER = [
    "| metric | sleep-bare | HTTP-bare | service | service / HTTP-bare | service / sleep-bare |",
    "|---|---|---|---|---|---|",
]


def table(group: dict[str, Any]) -> list[str]:
    """One row per metric: the three systems side by side and the two ratios."""

    def row(name: str, key: str, scale: float = 1.0, unit: str = "", fmt: str = ".0f") -> str:
        values = [group[system].get(key) for system in ("bare", "http_bare", "service")]
        if any(value is None for value in values):
            return (
                f"| {name} | "
                + " | ".join("-" if v is None else f"{v * scale:{fmt}} {unit}" for v in values)
                + " | | |"
            )
        bare, http, service = (value * scale for value in values)
        return (
            f"| {name} | {bare:{fmt}} {unit} | {http:{fmt}} {unit} | {service:{fmt}} {unit} | "
            f"{ratio(service, http):.2f} | {ratio(service, bare):.2f} |"
        )

    return [
        *HEADER,
        row("throughput", "throughput_per_second", unit="runs/s", fmt=".2f"),
        row("latency p50", "p50_seconds", 1000, "ms"),
        row("latency p95", "p95_seconds", 1000, "ms"),
        row("latency p99", "p99_seconds", 1000, "ms"),
        row("worker CPU per run", "worker_cpu_ms_per_run", unit="ms", fmt=".1f"),
        "| errors | "
        + " | ".join(str(group[s]["errors"]) for s in ("bare", "http_bare", "service"))
        + " | | |",
        "| cross-talk | - | "
        + " | ".join(str(group[s]["cross_talk"]) for s in ("http_bare", "service"))
        + " | | |",
    ]


def markdown(result: dict[str, Any]) -> str:
    raw, summary, info = result["raw"], result["summary"], result["machine"]
    tp, single = raw["throughput"], raw["single_run"]
    runs, conc = tp["service"]["runs"], tp["service"]["concurrency"]
    lines = [
        f"Run {result['started']} (UTC), command: `{result['command']}`",
        "",
        (
            f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, {info['os']}; "
            f"Python {info['python']}, temporalio {info['temporalio']}, openai {info['openai']}, "
            f"{info['temporal_cli'].splitlines()[0] if info['temporal_cli'] else 'temporal ?'}."
        ),
        f"Load average before / after: {result['loadavg_before']} / {result['loadavg_after']}."
        + (f" {result['note']}" if result.get("note") else ""),
        "",
        (
            f"**Throughput**: {runs} runs at concurrency {conc}, scripted model "
            f"{tp['service']['llm_latency_ms']:g} ms per reply"
        ),
        "",
        *table(tp),
        f"| retries | - | - | {tp['service']['retries']} | | |",
        "",
        f"**Single run**: {single['service']['runs']} runs one after another (concurrency 1)",
        "",
        *table(single),
    ]
    if "http_bare_no_eager" in single:
        lines.append(
            f"| latency p50, baselines without eager activity dispatch | "
            f"{single['bare_no_eager']['p50_seconds'] * 1000:.0f} ms | "
            f"{single['http_bare_no_eager']['p50_seconds'] * 1000:.0f} ms | "
            f"{single['service']['p50_seconds'] * 1000:.0f} ms | "
            f"{summary['single_run_ratio_no_eager']:.2f} | "
            f"{ratio(single['service']['p50_seconds'], single['bare_no_eager']['p50_seconds']):.2f} |"
        )
    lines += [
        "",
        (
            f"Per-step overhead at concurrency 1 (p50 difference / 3 steps): "
            f"{summary['per_step_overhead_ms_single']:.1f} ms against HTTP-bare, "
            f"{summary['per_step_overhead_ms_single_sleep']:.1f} ms against sleep-bare."
        ),
        "",
        *lever_table(tp, single),
        *profile_table(raw.get("profile")),
        *micro_lines(raw.get("micro")),
    ]
    recovery = raw.get("recovery", {})
    if "tool" in recovery:
        lines += [
            (
                "**Recovery** after SIGKILL of the worker running the step (a standby worker "
                "already polling): until the step starts again, and until the run completes:"
            ),
            "",
            (
                "| step | heartbeat timeout | kill → step restarted | max | budget (timeout + 2 s) "
                "| kill → run completed | max |"
            ),
            "|---|---|---|---|---|---|---|",
        ]
        for kind in ("tool", "llm"):
            samples = ", ".join(f"{s:.2f}" for s in recovery[kind]["samples_seconds"])
            discarded = len(recovery[kind].get("discarded", []))
            if discarded:
                samples += f" ({discarded} discarded: retried before the kill)"
            # Older result files have no completion times.
            completed = recovery[kind].get("completed_samples_seconds", [])
            completed_text = ", ".join(f"{s:.2f}" for s in completed) + " s" if completed else "-"
            completed_max = recovery[kind].get("completed_max_seconds")
            completed_max_text = f"{completed_max:.2f} s" if completed_max is not None else "-"
            lines.append(
                f"| {kind} | {recovery[f'{kind}_heartbeat_timeout_seconds']:g} s | {samples} s | "
                f"{recovery[kind]['max_seconds']:.2f} s | "
                f"{summary[f'recovery_{kind}_budget_seconds']:g} s | "
                f"{completed_text} | {completed_max_text} |"
            )
        lines.append("")
    approval = raw.get("approval") or {}
    if approval:
        lines.append(
            f"**Approval signal to resume** ({len(approval['samples_seconds'])} runs, one at a "
            "time: `approve` signal sent → the approved tool call reaches the email service): "
            f"p50 {approval['p50_seconds'] * 1000:.0f} ms, "
            f"p95 {approval['p95_seconds'] * 1000:.0f} ms."
        )
    else:
        lines.append("**Approval signal to resume**: not measured (`--approval-trials 0`).")
    lines += ["", "**Targets** (reported, not asserted):", ""]
    checks = [
        (
            f"throughput >= {TARGETS['throughput_ratio']} x HTTP-bare",
            f"{summary['throughput_ratio']:.2f}",
            summary["throughput_ratio"] >= TARGETS["throughput_ratio"],
        ),
        ("zero errors", str(summary["service_errors"]), summary["service_errors"] == 0),
        (
            f"p95 <= {TARGETS['p95_ratio']} x HTTP-bare",
            f"{summary['p95_ratio']:.2f}",
            summary["p95_ratio"] <= TARGETS["p95_ratio"],
        ),
        (
            f"single-run p50 <= {TARGETS['single_run_ratio']} x HTTP-bare",
            f"{summary['single_run_ratio']:.2f}",
            summary["single_run_ratio"] <= TARGETS["single_run_ratio"],
        ),
    ]
    for kind in ("tool", "llm"):
        if f"recovery_{kind}_max_seconds" in summary:
            worst = summary[f"recovery_{kind}_max_seconds"]
            budget = summary[f"recovery_{kind}_budget_seconds"]
            checks.append(
                (
                    f"recovery ({kind}) within heartbeat timeout + 2 s",
                    f"{worst:.2f} s",
                    worst <= budget,
                )
            )
    lines += ["| target | measured | |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {verdict(ok)} |" for name, value, ok in checks]
    if approval:
        p50_ms = approval["p50_seconds"] * 1000
        lines.append(
            f"| approval p50 < {TARGETS['approval_p50_ms']:g} ms | {p50_ms:.0f} ms | "
            f"{verdict(p50_ms < TARGETS['approval_p50_ms'])} |"
        )
    return "\n".join(lines) + "\n"


def update_doc(block: str) -> None:
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{START}\n{block}{END}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--single-runs", type=int, default=50)
    parser.add_argument("--warmup-runs", type=int, default=40)
    parser.add_argument("--recovery-trials", type=int, default=3)
    parser.add_argument("--approval-trials", type=int, default=20)
    parser.add_argument("--work", type=Path, default=ROOT / ".work" / "bench")
    parser.add_argument("--reinstall", action="store_true", help="recreate the project venv")
    parser.add_argument("--note", default="", help="context for the report (e.g. other load)")
    parser.add_argument("--no-doc", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run (20 runs at concurrency 5, 5 single runs, no recovery or approval "
        "trials); implies --no-doc; every row of the report, none of the precision",
    )
    parser.add_argument(
        "--lever",
        action="append",
        default=None,
        metavar="NAME:VAR=VALUE,...",
        help="also measure the service with these settings (its own worker, same load); "
        "repeatable; default: the levers in LEVERS; --lever none for none",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the service's worker with py-spy during the throughput load (installs py-spy)",
    )
    parser.add_argument("--results", type=Path, default=BENCH / "results", help="where results go")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.concurrency, args.single_runs, args.warmup_runs = 20, 5, 5, 5
        args.recovery_trials, args.approval_trials, args.no_doc = 0, 0, True

    args.work.mkdir(parents=True, exist_ok=True)
    python, slug, package = prepare(args.work, args.reinstall)
    started = dt.datetime.now(dt.UTC)
    before = loadavg()
    harness = [
        str(python),
        str(BENCH / "harness.py"),
        "--slug",
        slug,
        "--package",
        package,
        "--runs",
        str(args.runs),
        "--concurrency",
        str(args.concurrency),
        "--latency-ms",
        str(args.latency_ms),
        "--single-runs",
        str(args.single_runs),
        "--warmup-runs",
        str(args.warmup_runs),
        "--recovery-trials",
        str(args.recovery_trials),
        "--approval-trials",
        str(args.approval_trials),
    ]
    if args.profile:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "py-spy"], check=True)
        harness += ["--profile", str(args.work / "profile.raw")]
    levers = LEVERS if args.lever is None else [lever for lever in args.lever if lever != "none"]
    for lever in levers:
        harness += ["--lever", lever]
    done = subprocess.run(
        harness, cwd=args.work, capture_output=False, stdout=subprocess.PIPE, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"bench: the harness failed (exit {done.returncode})")
    raw = json.loads(done.stdout)
    command = "bench/run.sh " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = {
        "started": started.strftime("%Y-%m-%d %H:%M"),
        "command": command.strip(),
        "machine": machine(python),
        "loadavg_before": before,
        "loadavg_after": loadavg(),
        "note": args.note,
        "raw": raw,
    }
    result["summary"] = summarize(raw)
    report = markdown(result)
    results = args.results
    results.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    (results / f"{stamp}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (results / f"{stamp}.md").write_text(report, encoding="utf-8")
    if not args.no_doc:
        update_doc(report)
    print(report)


if __name__ == "__main__":
    main()
