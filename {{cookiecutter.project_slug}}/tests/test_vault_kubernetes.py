"""Kubernetes auth against the real OpenBao server.

Vault checks a pod's service-account token by asking the Kubernetes API
(TokenReview). No cluster runs here, so a small HTTP server plays that one
endpoint; everything else (the auth method, the role binding, the login, the
policies of the token it returns) is OpenBao's own.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import SERVICE_NAME
from {{ cookiecutter.package_name }}.observability.redaction import SecretRegistry
from {{ cookiecutter.package_name }}.secrets import SecretConfigError
from {{ cookiecutter.package_name }}.secrets.vault import VaultSecretProvider

from tests.support import BaoDevServer, free_port
from tests.vault_support import EMAIL_KEY, SEND_EMAIL, Layout, bootstrap_layout

pytestmark = pytest.mark.integration

NAMESPACE, ACCOUNT = "agents", SERVICE_NAME
# A public test CA certificate: Vault insists on one, and never uses it over http.
TEST_CA = """-----BEGIN CERTIFICATE-----
MIIBgzCCASmgAwIBAgIUEP0ngxD8karaw6/rgSCsdC14olwwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLdGVzdC1rOHMtY2EwIBcNMjYxMTIyMDAwMjMzWhgPMjEyNjEw
MjkwMDAyMzNaMBYxFDASBgNVBAMMC3Rlc3QtazhzLWNhMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEqBdl8QtKnWQo9Vsx6qWtMjDj0mH5s6WpHcdYLEdp5RVgrVzB
1FG/u1fZ63vGVvuOzz5cyMhnLjyVPcccb8Bz+6NTMFEwHQYDVR0OBBYEFDlj5oaU
icFlRXzswzpEAQ1kI0fOMB8GA1UdIwQYMBaAFDlj5oaUicFlRXzswzpEAQ1kI0fO
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgA54i3cCP427VePMs
WLzqLyBLcJZdVtBN7WvlHyFjILYCIQDoKhiZOm5fNINyjXv80D2KZRM9xXSvr+U3
HmMGU5ld/g==
-----END CERTIFICATE-----
"""


def service_account_jwt() -> str:
    """The shape of a projected service-account token (unsigned: TokenReview vouches)."""

    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {
        "iss": "kubernetes/serviceaccount",
        "sub": f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}",
        "kubernetes.io/serviceaccount/namespace": NAMESPACE,
        "kubernetes.io/serviceaccount/service-account.name": ACCOUNT,
        "kubernetes.io/serviceaccount/service-account.uid": "uid-1",
    }
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class TokenReviewApi:
    """Answers POST /apis/authentication.k8s.io/v1/tokenreviews for one known token."""

    def __init__(self, valid_token: str) -> None:
        self.reviewed: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                token = body["spec"]["token"]
                api.reviewed.append(token)
                status: dict[str, object] = {"authenticated": token == valid_token}
                if token == valid_token:
                    status["user"] = {
                        "username": f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}",
                        "uid": "uid-1",
                    }
                data = json.dumps({"kind": "TokenReview", "status": status}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def kubernetes(layout: Layout) -> Iterator[TokenReviewApi]:
    api = TokenReviewApi(valid_token=service_account_jwt())
    root = layout.root
    if "kubernetes/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("kubernetes")
    root.write(
        "auth/kubernetes/config",
        kubernetes_host=api.url,
        kubernetes_ca_cert=TEST_CA,
        disable_local_ca_jwt=True,
        token_reviewer_jwt="reviewer-token",
    )
    root.write(
        f"auth/kubernetes/role/{SERVICE_NAME}-worker",
        bound_service_account_names=[ACCOUNT],
        bound_service_account_namespaces=[NAMESPACE],
        token_policies=[f"{SERVICE_NAME}-worker"],
        token_ttl="1h",
    )
    yield api
    api.close()


@pytest.fixture
def layout(bao_server: BaoDevServer) -> Layout:
    return bootstrap_layout(bao_server)


@pytest.fixture
def jwt_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(service_account_jwt())
    return path


async def test_kubernetes_login_works(
    layout: Layout, kubernetes: TokenReviewApi, jwt_file: Path
) -> None:
    provider = VaultSecretProvider(
        layout.settings(
            vault_auth="kubernetes",
            vault_k8s_role=f"{SERVICE_NAME}-worker",
            vault_k8s_jwt_path=jwt_file,
        ),
        registry=SecretRegistry(),
    )
    try:
        assert await provider.get(SEND_EMAIL, "tools/send_email", "api_key") == EMAIL_KEY
        assert set(provider.login_policies) == {"default", f"{SERVICE_NAME}-worker"}
        assert kubernetes.reviewed == [service_account_jwt()]
    finally:
        await provider.aclose()


async def test_a_token_kubernetes_rejects_is_a_config_error(
    layout: Layout, kubernetes: TokenReviewApi, tmp_path: Path
) -> None:
    forged = tmp_path / "forged"
    forged.write_text(service_account_jwt().replace("c2lnbmF0dXJl", "Zm9yZ2Vk"))
    provider = VaultSecretProvider(
        layout.settings(
            vault_auth="kubernetes",
            vault_k8s_role=f"{SERVICE_NAME}-worker",
            vault_k8s_jwt_path=forged,
        )
    )
    with pytest.raises(SecretConfigError, match="refused the kubernetes login"):
        await provider.ensure_token()
    assert len(kubernetes.reviewed) == 1


async def test_a_missing_service_account_token_is_named(layout: Layout, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"
    provider = VaultSecretProvider(
        layout.settings(vault_auth="kubernetes", vault_k8s_role="r", vault_k8s_jwt_path=missing)
    )
    with pytest.raises(SecretConfigError, match="AGENT_VAULT_K8S_JWT_PATH"):
        await provider.ensure_token()
