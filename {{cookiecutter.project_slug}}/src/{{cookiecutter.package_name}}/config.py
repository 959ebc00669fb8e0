"""Service configuration: one settings class, read from the environment and ``.env``.

Our own variables start with ``AGENT_``; well-known ones keep their usual names
(``OPENAI_API_KEY``, ``VAULT_ADDR``, ``TEMPORAL_ADDRESS``...). ``load_settings``
turns every problem into a ``ConfigError`` that names the variable, so the CLI
can print one clear line per problem instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import SERVICE_NAME
from .config_types import ENV_PREFIX as ENV_PREFIX
from .config_types import PLACEHOLDER_VALUES as PLACEHOLDER_VALUES
from .config_types import ConfigError as ConfigError
from .config_types import Environment as Environment
from .config_types import ModelPrice as ModelPrice
from .environment import merged_environment
from .mcp_config import McpConfigError, McpServerConfig, parse_servers
from .models import LLM_MAX_ATTEMPTS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    env: Environment = Environment.DEVELOPMENT
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    task_queue: str = Field(default=SERVICE_NAME, min_length=1)

    # Temporal connection settings are read by temporalio's envconfig
    # (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
    # TEMPORAL_PROFILE); this is the fallback used in development only.
    temporal_dev_address: str = "localhost:7233"
    temporal_connect_timeout_seconds: float = Field(default=5.0, gt=0)

    # Loopback by default: nothing is exposed on a laptop. Container images and
    # manifests set the hosts to 0.0.0.0 (Dockerfile, docker-compose.yml, deploy/k8s).
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=8080, ge=1, le=65535)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)

    secrets_backend: Literal["vault", "env"] = "{{ cookiecutter.secrets_backend }}"
    vault_addr: str | None = Field(default=None, validation_alias="VAULT_ADDR")
    vault_token: SecretStr | None = Field(default=None, validation_alias="VAULT_TOKEN")

    openai_base_url: str = Field(
        default="http://127.0.0.1:8100/v1", validation_alias="OPENAI_BASE_URL"
    )
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")

    # --- agent loop: LLM, tools, rate limits -----------------------------------
    llm_model: str = Field(default="gpt-4o-mini", min_length=1)
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # Live events: stream the model's text to followers (run --follow, SSE, the page).
    # Off: plain calls, no text events (step, tool, approval and run events remain).
    streaming: bool = True
    # Later batches of text at most this often (see activities/events.py).
    stream_batch_seconds: float = Field(default=0.5, gt=0)
    # The first batch waits this long after the first token: a reply complete by then
    # costs no signal (its text comes with the step's result); adds up to this to TTFT.
    stream_first_flush_seconds: float = Field(default=0.05, ge=0)
    # 0 (default): no global limit; LLM calls run on the run's own task queue, where
    # the worker takes them eagerly (no round trip through the server's matching).
    # Above 0: enforced by the Temporal server across all workers on the LLM queue.
    llm_max_requests_per_second: float = Field(default=0.0, ge=0)
    # After this many failed attempts with retryable errors, the fallback answers; after
    # as many in a row across steps, the primary's breaker opens: every call goes to the
    # fallback for the cooling-off period, then one call probes the primary (llm_breaker.py).
    llm_fallback_model: str | None = None
    llm_fallback_base_url: str | None = None
    llm_fallback_after_attempts: int = Field(default=2, ge=1)
    llm_fallback_cooldown_seconds: float = Field(default=60.0, gt=0)
    # USD per million tokens, by model name; "*" prices any model not listed.
    llm_prices: dict[str, ModelPrice] = Field(
        default_factory=lambda: {
            "gpt-4o-mini": ModelPrice(input_per_mtok=0.15, output_per_mtok=0.60),
            "gpt-4o": ModelPrice(input_per_mtok=2.50, output_per_mtok=10.0),
            # The local scripted model (`dev`, `demo`, tests) costs nothing, but is priced
            # like gpt-4o-mini so cost, budgets and the cost metric show real numbers.
            "scripted": ModelPrice(input_per_mtok=0.15, output_per_mtok=0.60),
        }
    )
    email_endpoint_url: str | None = None
    tool_http_timeout_seconds: float = Field(default=30.0, gt=0)
    docs_dir: Path | None = None
    # MCP servers whose tools the agent may call (JSON list; see the README's MCP section).
    mcp_servers: list[dict[str, Any]] = Field(default_factory=list)
    # How long a server's tool list is reused before call_llm lists it again.
    mcp_tools_cache_seconds: float = Field(default=30.0, ge=0)
    fake_llm_port: int = Field(default=8100, ge=1, le=65535)

    # --- approvals: policy, gate, HTTP API ---------------------------------------
    # Per-tool override of the tool's `requires_approval` flag: {"send_email": false}.
    approval_tools: dict[str, bool] = Field(default_factory=dict)
    # Who may approve or reject. Empty: anyone in development, nobody elsewhere (fail closed).
    approvers: list[str] = Field(default_factory=list)
    approval_timeout_seconds: float = Field(default=86_400.0, gt=0)
    # On timeout: reject the call (the model is told) or end the run.
    approval_on_timeout: Literal["reject", "end_run"] = "reject"
    # On rejection: tell the model ("rejected by X: reason") or end the run.
    approval_on_reject: Literal["continue", "end_run"] = "continue"
    # HTTP API: approver identity -> bearer token (secrets: never logged or shown).
    api_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    api_cors_origins: list[str] = Field(default_factory=list)
    api_docs: bool = False
    # The approval page's login cookie is sent over HTTPS only (turn off for plain-HTTP dev).
    api_secure_cookies: bool = True

    # --- conversations: limits fixed when a conversation starts -------------------
    conversation_max_message_chars: int = Field(default=8_000, ge=1)
    # Messages waiting while a turn runs; past this a message is refused (send it again later).
    conversation_max_queued_messages: int = Field(default=10, ge=1)
    conversation_max_turns: int = Field(default=1_000_000, ge=1)
    conversation_token_budget: int = Field(default=10_000_000, ge=1)
    conversation_cost_budget_usd: float = Field(default=100.0, ge=0)
    # Continue-as-new (between turns) past this many history events, or when Temporal suggests.
    conversation_history_event_limit: int = Field(default=10_000, ge=20)
    # Past this estimated size the older turns are summarised; the last N stay verbatim.
    conversation_context_tokens: int = Field(default=60_000, ge=100)
    conversation_keep_recent_turns: int = Field(default=4, ge=1)
    # No message for this long closes the conversation (reason "idle").
    conversation_idle_timeout_seconds: float = Field(default=604_800.0, gt=0)
    # How long `say`, `chat` and the HTTP API wait for a turn before "still running".
    conversation_reply_wait_seconds: float = Field(default=120.0, gt=0)

    # --- resilience: load test, prompt cases and the readiness gate ---------------
    evals_file: Path = Path("evals/cases.yaml")
    # `gate` runs a load test of this size on an embedded stack with the scripted model...
    gate_runs: int = Field(default=20, ge=1)
    gate_concurrency: int = Field(default=5, ge=1)
    gate_llm_latency_ms: float = Field(default=20.0, ge=0)
    # ...and fails when the p95 latency or the error rate crosses these.
    gate_max_p95_seconds: float = Field(default=10.0, gt=0)
    gate_max_error_rate: float = Field(default=0.0, ge=0, le=1)

    def price_of(self, model: str) -> ModelPrice:
        return self.llm_prices.get(model) or self.llm_prices.get("*") or ModelPrice()

    # --- observability, health and deployment -----------------------------------
    # auto: readable lines in development, JSON everywhere else.
    log_format: Literal["auto", "json", "console"] = "auto"
    # Traces go to OTLP/HTTP when this is set (the exporter reads the OTEL_* variables).
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    trace_console: bool = False  # print spans to stderr (debugging)
    # Which traces are recorded: the standard OpenTelemetry variables, read from .env too.
    # Default: all of them; e.g. parentbased_traceidratio with 0.1 keeps one run in ten.
    otel_traces_sampler: Literal[
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ] = Field(default="parentbased_always_on", validation_alias="OTEL_TRACES_SAMPLER")
    otel_traces_sampler_arg: float = Field(
        default=1.0, ge=0, le=1, validation_alias="OTEL_TRACES_SAMPLER_ARG"
    )
    # The SDK's Prometheus endpoint (plus the service's own metrics); 0 turns it off.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    health_cache_seconds: float = Field(default=5.0, ge=0)
    health_check_timeout_seconds: float = Field(default=3.0, gt=0)
    # The event loop must tick at least this often for /health/live to pass.
    liveness_max_stall_seconds: float = Field(default=10.0, gt=0)
    # On SIGTERM in-flight activities get this long to finish before they are cancelled.
    graceful_shutdown_seconds: float = Field(default=30.0, ge=0)
    # Worker slots (unset: the SDK's defaults, 100 activities and 100 workflow tasks), or
    # the SDK's resource-based tuner, which hands out slots while the process stays under
    # this CPU and memory use (0-1, e.g. 0.8); the tuner replaces the fixed slot counts.
    worker_max_concurrent_activities: int | None = Field(default=None, ge=1)
    worker_max_concurrent_workflow_tasks: int | None = Field(default=None, ge=2)
    worker_tuner_target_cpu: float | None = Field(default=None, gt=0, le=1)
    worker_tuner_target_memory: float = Field(default=0.8, gt=0, le=1)
    # Worker deployment versioning: on when a build id is set (APP_VERSION, or the
    # variable the Temporal worker controller injects).
    build_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("APP_VERSION", "TEMPORAL_WORKER_BUILD_ID"),
    )
    deployment_name: str = Field(
        default=SERVICE_NAME,
        min_length=1,
        validation_alias=AliasChoices("TEMPORAL_DEPLOYMENT_NAME", "AGENT_DEPLOYMENT_NAME"),
    )
    versioning_behavior: Literal["pinned", "auto_upgrade"] = "auto_upgrade"

    # --- Secrets: Vault auth, layout, caching (see deploy/vault/README.md) ---
    vault_namespace: str | None = Field(default=None, validation_alias="VAULT_NAMESPACE")
    vault_auth: Literal["token", "approle", "kubernetes"] = "token"
    vault_role_id: str | None = None
    vault_secret_id: SecretStr | None = None
    vault_approle_mount: str = "approle"
    vault_k8s_role: str | None = None
    vault_k8s_mount: str = "kubernetes"
    vault_k8s_jwt_path: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    vault_kv_mount: str = Field(default="secret", pattern=r"^[A-Za-z0-9_-]+$")
    # Every secret of this service lives under <kv_mount>/<vault_prefix>/ and
    # every policy is named <vault_prefix>-...
    vault_prefix: str = Field(default=SERVICE_NAME, pattern=r"^[A-Za-z0-9_-]+$")
    vault_timeout_seconds: float = Field(default=5.0, gt=0)
    vault_child_token_ttl_seconds: int = Field(default=120, ge=10, le=3600)
    secrets_cache_ttl_seconds: float = Field(default=30.0, ge=0)

    # --- Payload encryption: AES-GCM codec, keys in Vault KV, codec endpoint ---
    payload_encryption: bool = {{ "True" if cookiecutter.payload_encryption else "False" }}
    codec_host: str = "127.0.0.1"
    codec_port: int = Field(default=8081, ge=1, le=65535)
    # Origins allowed to call the codec endpoint from a browser (the Web UI).
    codec_cors_origins: tuple[str, ...] = ("http://localhost:8233", "http://127.0.0.1:8233")

    def mcp_server_configs(self) -> list[McpServerConfig]:
        """The declared MCP servers, checked (``McpConfigError`` names server and field)."""
        return parse_servers(self.mcp_servers)

    def mcp_problems(self) -> list[str]:
        try:
            self.mcp_server_configs()
        except McpConfigError as error:
            return error.problems
        return []

    def secrets_problems(self) -> list[str]:
        """Settings the chosen Vault auth method cannot work without."""
        if self.secrets_backend != "vault":
            return []
        problems: list[str] = []
        if self.vault_auth == "approle":
            for field in ("vault_role_id", "vault_secret_id"):
                if getattr(self, field) is None:
                    problems.append(
                        f"{env_var_name(field)} is required when {ENV_PREFIX}VAULT_AUTH=approle"
                    )
        if self.vault_auth == "kubernetes" and not self.vault_k8s_role:
            problems.append(
                f"{env_var_name('vault_k8s_role')} is required when "
                f"{ENV_PREFIX}VAULT_AUTH=kubernetes (the Vault role bound to the service account)"
            )
        # A missing or placeholder VAULT_TOKEN is reported by the provider at
        # login (and by readiness), where it can name the Vault address too.
        return problems

    def deployment_problems(self) -> list[str]:
        """Rules that depend on the environment rather than on one value."""
        if self.env is Environment.DEVELOPMENT:
            return []
        problems: list[str] = []
        environment = merged_environment()  # .env counts, as for every other setting
        if "TEMPORAL_ADDRESS" not in environment and "TEMPORAL_PROFILE" not in environment:
            problems.append(
                f"TEMPORAL_ADDRESS is required when {ENV_PREFIX}ENV={self.env.value} "
                "(or set TEMPORAL_PROFILE to use a profile from the Temporal config file)"
            )
        if self.secrets_backend == "vault" and not self.vault_addr:
            problems.append(
                f"VAULT_ADDR is required when {ENV_PREFIX}ENV={self.env.value} "
                "and AGENT_SECRETS_BACKEND=vault (e.g. https://vault.internal:8200)"
            )
        if self.secrets_backend == "env":
            key = self.openai_api_key.get_secret_value() if self.openai_api_key else ""
            if key.strip().lower() in PLACEHOLDER_VALUES:
                problems.append(
                    f"OPENAI_API_KEY is missing or a placeholder; set a real key when "
                    f"{ENV_PREFIX}ENV={self.env.value}"
                )
        return problems


def env_var_name(field_name: str) -> str:
    """The environment variable that feeds a settings field."""
    field = Settings.model_fields.get(field_name)
    if field is not None and isinstance(field.validation_alias, str):
        return field.validation_alias
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        return " or ".join(str(choice) for choice in field.validation_alias.choices)
    return f"{ENV_PREFIX}{field_name.upper()}"


def _is_secret(field_name: str) -> bool:
    field = Settings.model_fields.get(field_name)
    # Also containers of secrets, e.g. dict[str, SecretStr] (the API tokens).
    return field is not None and "SecretStr" in str(field.annotation)


def _describe(error: ValidationError) -> list[str]:
    problems = []
    for detail in error.errors():
        field_name = str(detail["loc"][0]) if detail["loc"] else ""
        # An alias (OPENAI_BASE_URL, APP_VERSION...) is reported as the variable it is.
        if not field_name:
            name = "configuration"
        elif field_name.isupper():
            name = field_name
        else:
            name = env_var_name(field_name.lower())
        shown = "" if _is_secret(field_name.lower()) else f"={detail.get('input')!r}"
        problems.append(f"{name}{shown} is invalid: {detail['msg']}")
    return problems


def fallback_problems(settings: Settings) -> list[str]:
    """A fallback that can never answer: the step gives up before its turn comes."""
    limit = LLM_MAX_ATTEMPTS
    after = settings.llm_fallback_after_attempts
    if not (settings.llm_fallback_model or settings.llm_fallback_base_url) or after < limit:
        return []
    return [
        f"{ENV_PREFIX}LLM_FALLBACK_AFTER_ATTEMPTS={after} switches the fallback off: an LLM "
        f"step gives up after {limit} attempts (the LLM retry limit, "
        f"policies.LLM_RETRY.maximum_attempts); set it below {limit}"
    ]


def load_settings() -> Settings:
    """Read and check the settings, or raise ``ConfigError`` naming each bad variable."""
    try:
        settings = Settings()
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    problems = (
        settings.deployment_problems()
        + settings.secrets_problems()
        + fallback_problems(settings)
        + settings.mcp_problems()
    )
    if problems:
        raise ConfigError(problems)
    return settings
