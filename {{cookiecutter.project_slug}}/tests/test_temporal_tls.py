"""Connecting to a Temporal cluster over TLS (mutual TLS) and to Temporal Cloud (API key).

The dev server speaks plain gRPC only, so a small TLS terminator stands in front
of it with a certificate authority made here (``openssl``): the service connects
through its own client config (temporalio's envconfig variables), the
terminator requires and checks the client certificate, as a cluster with mTLS does.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from {{ cookiecutter.package_name }}.config import Environment, Settings
from {{ cookiecutter.package_name }}.runtime.client import (
    TemporalUnavailableError,
    connect,
    connect_config,
)

pytestmark = pytest.mark.integration


def make_certificates(folder: Path) -> None:
    """A throwaway CA, a server certificate for localhost and a client certificate."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make the test certificates (apt-get install openssl)")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True)

    # Key usage and key identifiers: Python 3.13's default context verifies strictly.
    ca_usage = ["-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    run(
        "req", "-x509", *ec, *ca_usage, "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "1", "-subj", "/CN=ca",
    )  # fmt: skip
    uses = {
        "server": "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        "client": "extendedKeyUsage=clientAuth\n",
    }
    for name, extensions in uses.items():
        strict = "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
        (folder / f"{name}.ext").write_text("basicConstraints=CA:FALSE\n" + strict + extensions)
        run("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        run(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext",
        )  # fmt: skip


class TlsTerminator:
    """TLS (client certificate required, HTTP/2) in front, plain TCP to the dev server behind."""

    def __init__(self, folder: Path, upstream: str) -> None:
        self.host, port = upstream.rsplit(":", 1)
        self.upstream_port = int(port)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(folder / "server.pem", folder / "server.key")
        self.context.load_verify_locations(folder / "ca.pem")
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.set_alpn_protocols(["h2"])
        self.verified_clients: list[str] = []
        self.connections: list[asyncio.StreamWriter] = []

    def close_connections(self) -> None:
        # The client under test stays connected; cut it so the server can stop.
        for writer in self.connections:
            writer.transport.abort()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        self.verified_clients.append(str(dict(pair[0] for pair in peer.get("subject", ()))))
        up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        self.connections += [writer, up_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
async def tls_address(
    tmp_path: Path, temporal_address: str
) -> AsyncIterator[tuple[str, Path, TlsTerminator]]:
    make_certificates(tmp_path)
    terminator = TlsTerminator(tmp_path, temporal_address)
    server = await asyncio.start_server(terminator.handle, "127.0.0.1", 0, ssl=terminator.context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"localhost:{port}", tmp_path, terminator
    finally:
        server.close()
        terminator.close_connections()
        await asyncio.wait_for(server.wait_closed(), 10)


async def test_the_service_connects_with_mutual_tls(
    tls_address: tuple[str, Path, TlsTerminator], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, certs, terminator = tls_address
    monkeypatch.setenv("TEMPORAL_ADDRESS", address)
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(certs / "ca.pem"))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(certs / "client.pem"))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(certs / "client.key"))
    settings = Settings(env=Environment.PRODUCTION, secrets_backend="env")
    client = await connect(settings)
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert info.server_version
    assert terminator.verified_clients, "the call did not go through the TLS terminator"
    assert "client" in terminator.verified_clients[0]  # the certificate's CN


async def test_without_the_client_certificate_the_cluster_refuses(
    tls_address: tuple[str, Path, TlsTerminator], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, certs, _ = tls_address
    monkeypatch.setenv("TEMPORAL_ADDRESS", address)
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(certs / "ca.pem"))
    settings = Settings(
        env=Environment.PRODUCTION, secrets_backend="env", temporal_connect_timeout_seconds=3
    )
    with pytest.raises(TemporalUnavailableError, match=address):
        await connect(settings)


def test_temporal_cloud_with_an_api_key_gets_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "my-ns.a1b2c.tmprl.cloud:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "my-ns.a1b2c")
    monkeypatch.setenv("TEMPORAL_API_KEY", "test-api-key")
    config = connect_config(Settings(env=Environment.PRODUCTION))
    assert config["target_host"] == "my-ns.a1b2c.tmprl.cloud:7233"
    assert config["namespace"] == "my-ns.a1b2c"
    assert config["api_key"] == "test-api-key"
    assert config["tls"] is True  # an API key implies TLS
