"""Service configuration: one settings class, read from the environment and ``.env``.

Its fields come in groups, one module each under ``settings/`` (the service,
the model and tools, approvals, conversations, operations, Vault); ``Settings``
inherits them all, so there is still one class and one set of variables.

Our own variables start with ``AGENT_``; well-known ones keep their usual names
(``OPENAI_API_KEY``, ``VAULT_ADDR``, ``TEMPORAL_ADDRESS``...). ``load_settings``
turns every problem into a ``ConfigError`` that names the variable, so the CLI
can print one clear line per problem instead of a traceback.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .config_types import ENV_PREFIX as ENV_PREFIX
from .config_types import PLACEHOLDER_VALUES as PLACEHOLDER_VALUES
from .config_types import ConfigError as ConfigError
from .config_types import Environment as Environment
from .config_types import ModelPrice as ModelPrice
from .environment import merged_environment
from .mcp_config import McpConfigError, McpServerConfig, parse_servers
from .models import LLM_MAX_ATTEMPTS
from .settings.approvals import ApprovalSettings
from .settings.conversations import ConversationSettings
from .settings.llm import LlmSettings
from .settings.operations import GateSettings, OperationsSettings
from .settings.service import ServiceSettings
from .settings.vault import VaultSettings


# Bases in reverse order of their fields: pydantic lists a later base's fields first.
class Settings(
    VaultSettings,
    OperationsSettings,
    GateSettings,
    ConversationSettings,
    ApprovalSettings,
    LlmSettings,
    ServiceSettings,
    BaseSettings,
):
    """Every setting (the groups in ``settings/``), read from the environment and ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

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
