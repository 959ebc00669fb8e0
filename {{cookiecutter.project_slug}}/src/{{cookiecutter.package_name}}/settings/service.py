"""Where the service runs: environment, task queue, listening addresses, connections."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from .. import SERVICE_NAME
from ..config_types import Environment


class ServiceSettings(BaseModel):
    """The service itself and the well-known connection variables."""

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
