"""The Vault provider against a real OpenBao dev server: scoping, auth, errors, renewal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import hvac
import pytest
import requests

from {{ cookiecutter.package_name }} import SERVICE_NAME
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.observability.redaction import SecretRegistry
from {{ cookiecutter.package_name }}.runtime.health_checks import check_secrets
from {{ cookiecutter.package_name }}.secrets import (
    LLM_SCOPE,
    SecretAccessDeniedError,
    SecretConfigError,
    SecretNotFoundError,
    SecretUnavailableError,
    create_provider,
)
from {{ cookiecutter.package_name }}.secrets.vault import VaultSecretProvider
from {{ cookiecutter.package_name }}.secrets.vault_admin import approle_credentials
from {{ cookiecutter.package_name }}.secrets.vault_errors import VaultSealedError
from {{ cookiecutter.package_name }}.secrets.vault_server import (
    DEV_ROOT_TOKEN,
    configured_token,
)

from tests.support import BaoDevServer, free_port
from tests.vault_support import (
    EMAIL_KEY,
    LLM_KEY,
    REPORTS,
    SEARCH_DOCS,
    SEARCH_KEY,
    SEND_EMAIL,
    Layout,
    bootstrap_layout,
    vault_settings,
)

pytestmark = pytest.mark.integration

SEND_EMAIL_API_PATH = f"secret/data/{SERVICE_NAME}/tools/send_email"


def raw_get(url: str, token: str) -> requests.Response:
    return requests.get(url, headers={"X-Vault-Token": token}, timeout=5)


@pytest.fixture
def layout(bao_server: BaoDevServer) -> Layout:
    return bootstrap_layout(bao_server)


@pytest.fixture
async def provider(layout: Layout) -> AsyncIterator[VaultSecretProvider]:
    provider = VaultSecretProvider(layout.settings(), registry=SecretRegistry())
    yield provider
    await provider.aclose()


async def test_a_tool_reads_its_own_secret(provider: VaultSecretProvider) -> None:
    assert await provider.get(SEARCH_DOCS, "tools/search_docs", "api_key") == SEARCH_KEY
    email_secret = {"api_key": EMAIL_KEY}
    assert await provider.read_scope(SEND_EMAIL) == {"tools/send_email": email_secret}
    assert await provider.get(LLM_SCOPE, "llm", "api_key") == LLM_KEY


async def test_a_tools_token_is_refused_another_tools_path_by_the_server(
    layout: Layout, provider: VaultSecretProvider
) -> None:
    token = await provider.child_token(SEARCH_DOCS)
    url = f"{layout.server.address}/v1/secret/data/{SERVICE_NAME}/tools"
    own, other = await asyncio.gather(
        asyncio.to_thread(raw_get, f"{url}/search_docs", token),
        asyncio.to_thread(raw_get, f"{url}/send_email", token),
    )
    assert own.status_code == 200
    assert own.json()["data"]["data"] == {"api_key": SEARCH_KEY}
    assert other.status_code == 403  # Vault's answer, not a check in our code
    assert "permission denied" in other.text


async def test_reading_another_tools_path_is_a_precise_non_retryable_error(
    layout: Layout, provider: VaultSecretProvider
) -> None:
    with pytest.raises(SecretAccessDeniedError) as caught:
        await provider.read(SEARCH_DOCS, "tools/send_email")
    message = str(caught.value)
    assert layout.server.address in message
    assert SEND_EMAIL_API_PATH in message
    assert f"policy {SERVICE_NAME}-tool-search_docs" in message
    assert "403" in message
    assert not caught.value.retryable


async def test_child_tokens_are_short_lived_and_carry_one_policy(
    layout: Layout, provider: VaultSecretProvider
) -> None:
    token = await provider.child_token(SEND_EMAIL)
    info = layout.root.auth.token.lookup(token)["data"]
    assert set(info["policies"]) == {"default", f"{SERVICE_NAME}-tool-send_email"}
    assert 0 < info["ttl"] <= 120
    assert not info["renewable"]
    assert await provider.child_token(SEND_EMAIL) == token  # reused while fresh


async def test_the_worker_token_reads_no_secret_itself(layout: Layout) -> None:
    worker = hvac.Client(url=layout.server.address, token=layout.worker_token)
    with pytest.raises(hvac.exceptions.Forbidden):
        worker.secrets.kv.v2.read_secret_version(
            path=f"{SERVICE_NAME}/tools/send_email", raise_on_deleted_version=True
        )
    # ...and cannot mint a child carrying its own (minting) policy.
    with pytest.raises(hvac.exceptions.InvalidRequest, match="allowed policies"):
        worker.auth.token.create(
            role_name=f"{SERVICE_NAME}-scoped", policies=[f"{SERVICE_NAME}-worker"]
        )


async def test_missing_path_names_path_address_and_policy(
    layout: Layout, provider: VaultSecretProvider
) -> None:
    with pytest.raises(SecretNotFoundError) as caught:
        await provider.read(REPORTS, "tools/reports")
    message = str(caught.value)
    assert f"secret/data/{SERVICE_NAME}/tools/reports" in message
    assert layout.server.address in message
    assert f"policy {SERVICE_NAME}-tool-reports" in message
    assert not caught.value.retryable


async def test_missing_key_names_it(provider: VaultSecretProvider) -> None:
    with pytest.raises(SecretNotFoundError, match="has no key 'password'"):
        await provider.get(SEND_EMAIL, "tools/send_email", "password")


async def test_unreachable_vault_is_retryable_and_named(bao_server: BaoDevServer) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    provider = VaultSecretProvider(
        vault_settings(bao_server, VAULT_ADDR=closed, vault_timeout_seconds=1)
    )
    with pytest.raises(SecretUnavailableError) as caught:
        await provider.read(SEND_EMAIL, "tools/send_email")
    message = str(caught.value)
    assert message.startswith(f"Vault unreachable at {closed}")
    assert SEND_EMAIL_API_PATH in message
    assert caught.value.retryable
    status = await check_secrets(provider._settings)
    assert not status.healthy
    assert status.name == "vault"
    assert status.detail.startswith(f"Vault unreachable at {closed}")


async def test_a_wrong_token_is_a_config_error_naming_vault_token(layout: Layout) -> None:
    provider = VaultSecretProvider(layout.settings(VAULT_TOKEN="s.not-a-real-token"))
    with pytest.raises(SecretConfigError) as caught:
        await provider.read(SEND_EMAIL, "tools/send_email")
    assert "refused the token login" in str(caught.value)
    assert "VAULT_TOKEN" in str(caught.value)
    assert "s.not-a-real-token" not in str(caught.value)


async def test_placeholder_token_is_refused_outside_development(layout: Layout) -> None:
    provider = VaultSecretProvider(layout.settings(VAULT_TOKEN="changeme", env="production"))
    with pytest.raises(SecretConfigError, match="VAULT_TOKEN is missing or a placeholder"):
        await provider.ensure_token()


@pytest.mark.parametrize("token", [None, "changeme"])
def test_development_falls_back_to_the_dev_servers_token(token: str | None) -> None:
    assert configured_token(Settings.model_validate({"VAULT_TOKEN": token})) == DEV_ROOT_TOKEN
    assert configured_token(Settings.model_validate({"VAULT_TOKEN": "s.real"})) == "s.real"


async def test_approle_login_works(layout: Layout) -> None:
    role_id, secret_id = approle_credentials(layout.root, layout.settings())
    provider = VaultSecretProvider(
        layout.settings(
            VAULT_TOKEN=None, vault_auth="approle", vault_role_id=role_id, vault_secret_id=secret_id
        )
    )
    try:
        assert await provider.get(SEND_EMAIL, "tools/send_email", "api_key") == EMAIL_KEY
        assert set(provider.login_policies) == {"default", f"{SERVICE_NAME}-worker"}
    finally:
        await provider.aclose()


async def test_wrong_approle_secret_id_is_a_config_error(layout: Layout) -> None:
    role_id, _ = approle_credentials(layout.root, layout.settings())
    provider = VaultSecretProvider(
        layout.settings(vault_auth="approle", vault_role_id=role_id, vault_secret_id="wrong-id")
    )
    with pytest.raises(SecretConfigError, match="refused the approle login") as caught:
        await provider.ensure_token()
    assert "AGENT_VAULT_SECRET_ID" in str(caught.value)


async def test_token_is_renewed_before_it_expires(layout: Layout) -> None:
    now = [1000.0]
    role_id, secret_id = approle_credentials(layout.root, layout.settings())
    provider = VaultSecretProvider(
        layout.settings(vault_auth="approle", vault_role_id=role_id, vault_secret_id=secret_id),
        clock=lambda: now[0],
    )
    await provider.ensure_token()
    accessor = provider.accessor
    assert "last_renewal_time" not in layout.root.auth.token.lookup_accessor(accessor)["data"]
    now[0] += 3600 * 0.7  # 70 % of the 1 h TTL: time to renew
    await provider.ensure_token()
    assert provider.accessor == accessor  # same token, renewed rather than replaced
    assert layout.root.auth.token.lookup_accessor(accessor)["data"]["last_renewal_time"]
    await provider.aclose()


async def test_a_revoked_login_is_replaced_by_a_fresh_one(layout: Layout) -> None:
    role_id, secret_id = approle_credentials(layout.root, layout.settings())
    provider = VaultSecretProvider(
        layout.settings(vault_auth="approle", vault_role_id=role_id, vault_secret_id=secret_id)
    )
    assert await provider.get(SEND_EMAIL, "tools/send_email", "api_key") == EMAIL_KEY
    first = provider.accessor
    layout.root.auth.token.revoke_accessor(first)  # children die with it
    assert await provider.get(SEND_EMAIL, "tools/send_email", "api_key") == EMAIL_KEY
    assert provider.accessor != first
    await provider.aclose()


async def test_a_cached_child_token_vault_forgot_is_replaced_not_a_denial(
    layout: Layout, provider: VaultSecretProvider
) -> None:
    # A restarted dev Vault forgets every child token while the login token (the
    # dev root token) still works: the stale child's 403 is not a real denial.
    assert await provider.get(SEND_EMAIL, "tools/send_email", "api_key") == EMAIL_KEY
    stale = await provider.child_token(SEND_EMAIL)
    layout.root.auth.token.revoke(stale)
    assert await provider.get(SEND_EMAIL, "tools/send_email", "api_key") == EMAIL_KEY
    assert await provider.child_token(SEND_EMAIL) != stale


async def test_a_real_denial_stays_a_denial_after_the_fresh_token_retry(
    layout: Layout, provider: VaultSecretProvider
) -> None:
    await provider.read(SEARCH_DOCS, "tools/search_docs")  # caches the scope's token
    with pytest.raises(SecretAccessDeniedError) as caught:
        await provider.read(SEARCH_DOCS, "tools/send_email")
    assert "403" in str(caught.value)
    assert not caught.value.retryable


async def test_child_tokens_are_reused_for_half_the_ttl_vault_granted(
    layout: Layout, caplog: pytest.LogCaptureFixture
) -> None:
    # `secrets bootstrap` capped the role at 120 s; a worker asking for 600 s gets
    # 120 s tokens. It must reuse them (not mint one per read) and say so once.
    now = [0.0]
    provider = VaultSecretProvider(
        layout.settings(vault_child_token_ttl_seconds=600), clock=lambda: now[0]
    )
    try:
        with caplog.at_level("WARNING"):
            first = await provider.child_token(SEND_EMAIL)
            now[0] += 50
            assert await provider.child_token(SEND_EMAIL) == first
            now[0] += 20  # 70 s: past half of the granted 120 s
            assert await provider.child_token(SEND_EMAIL) != first
        capped = [r for r in caplog.records if "AGENT_VAULT_CHILD_TOKEN_TTL_SECONDS" in r.message]
        assert len(capped) == 1
        assert "600" in capped[0].message
        assert f"{SERVICE_NAME}-scoped" in capped[0].message
    finally:
        await provider.aclose()


async def test_reads_are_cached_until_the_ttl_or_invalidation(layout: Layout) -> None:
    now = [0.0]
    provider = VaultSecretProvider(
        layout.settings(secrets_cache_ttl_seconds=30), clock=lambda: now[0]
    )
    assert await provider.get(LLM_SCOPE, "llm", "api_key") == LLM_KEY
    layout.root.secrets.kv.v2.create_or_update_secret(
        path=f"{SERVICE_NAME}/llm", secret={"api_key": "sk-rotated"}
    )
    try:
        assert await provider.get(LLM_SCOPE, "llm", "api_key") == LLM_KEY  # cached
        now[0] += 31
        assert await provider.get(LLM_SCOPE, "llm", "api_key") == "sk-rotated"
        layout.root.secrets.kv.v2.create_or_update_secret(
            path=f"{SERVICE_NAME}/llm", secret={"api_key": "sk-rotated-again"}
        )
        provider.invalidate(LLM_SCOPE)
        assert await provider.get(LLM_SCOPE, "llm", "api_key") == "sk-rotated-again"
    finally:
        layout.root.secrets.kv.v2.create_or_update_secret(
            path=f"{SERVICE_NAME}/llm", secret={"api_key": LLM_KEY}
        )


async def test_values_handed_out_are_registered_for_redaction(layout: Layout) -> None:
    registry = SecretRegistry()
    provider = VaultSecretProvider(layout.settings(), registry=registry)
    await provider.read(SEND_EMAIL, "tools/send_email")
    assert EMAIL_KEY in registry
    assert layout.worker_token in registry  # its own tokens too
    assert registry.scrub(f"key={EMAIL_KEY}") == "key=[REDACTED]"


async def test_calls_do_not_block_the_event_loop(layout: Layout) -> None:
    provider = VaultSecretProvider(layout.settings(), registry=SecretRegistry())
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(provider.read(s, s.paths[0]) for s in (SEARCH_DOCS, SEND_EMAIL)))
    task.cancel()
    assert ticks > 5  # the loop kept running while hvac waited on the network


async def test_readiness_reports_vault(layout: Layout, provider: VaultSecretProvider) -> None:
    status = await check_secrets(layout.settings(), provider)
    assert status.healthy, status.detail
    assert status.detail.startswith(f"serving at {layout.server.address}")


def test_factory_picks_the_vault_backend(layout: Layout) -> None:
    assert isinstance(create_provider(layout.settings()), VaultSecretProvider)


async def test_sealed_vault_is_retryable_named_and_unready(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = BaoDevServer(log_path=tmp_path_factory.mktemp("sealed") / "bao.log")
    server.start()
    try:
        layout = bootstrap_layout(server)
        provider = VaultSecretProvider(layout.settings(), registry=SecretRegistry())
        await provider.ensure_token()
        server.seal()
        with pytest.raises(VaultSealedError) as caught:
            await provider.read(SEND_EMAIL, "tools/send_email")
        assert f"Vault at {server.address} is sealed" in str(caught.value)
        assert caught.value.retryable
        status = await check_secrets(layout.settings(), provider)
        assert not status.healthy
        assert status.detail == f"Vault at {server.address} is sealed"
        server.unseal()
        assert await provider.get(SEND_EMAIL, "tools/send_email", "api_key") == EMAIL_KEY
    finally:
        server.stop()


async def test_maintain_logs_in_and_stops_promptly(layout: Layout) -> None:
    provider = VaultSecretProvider(layout.settings(), registry=SecretRegistry())
    stop = asyncio.Event()
    task = asyncio.create_task(provider.maintain(stop))
    deadline = asyncio.get_running_loop().time() + 10
    while not provider.accessor:
        assert asyncio.get_running_loop().time() < deadline, "maintain never logged in"
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert provider.login_policies == [f"{SERVICE_NAME}-worker"]
