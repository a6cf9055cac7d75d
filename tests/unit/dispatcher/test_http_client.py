"""The dispatcher's HTTP session against real local servers: how failures are classed,
and which certificates it trusts."""

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import certifi
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from veil.dispatcher.app import http_client, tls_context
from veil.dispatcher.config import DispatcherSettings
from veil.dispatcher.dispatch import TRANSPORT_ERRORS, failure_kind
from veil.launcher.supervisor import free_port


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.json_response({})


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, str, Path]]:
    """(http url, https url, the self-signed certificate the https one presents)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)

    app = web.Application()
    app.router.add_get("/slow", slow)
    app.router.add_get("/hello", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    http_port, https_port = free_port(), free_port()
    await web.TCPSite(runner, "127.0.0.1", http_port).start()
    await web.TCPSite(runner, "127.0.0.1", https_port, ssl_context=server_tls).start()
    yield f"http://127.0.0.1:{http_port}", f"https://localhost:{https_port}", cert_file
    await runner.cleanup()


async def failure(session: aiohttp.ClientSession, url: str, **kwargs) -> BaseException:
    with pytest.raises(TRANSPORT_ERRORS) as caught:
        async with session.get(url, **kwargs) as response:
            await response.read()
    return caught.value


async def test_a_refused_connection_is_a_connection_error_not_a_timeout():
    async with http_client(DispatcherSettings()) as session:
        exc = await failure(session, f"http://127.0.0.1:{free_port()}/v1")
    assert failure_kind(exc) == "connection_error"


async def test_a_silent_upstream_is_a_timeout(server):
    url = f"{server[0]}/slow"
    async with http_client(DispatcherSettings()) as session:
        exc = await failure(session, url, timeout=aiohttp.ClientTimeout(sock_read=0.2))
    assert failure_kind(exc) == "timeout"


async def test_an_untrusted_certificate_is_refused_and_a_trusted_one_accepted(server, monkeypatch):
    _, https_url, cert_file = server
    async with http_client(DispatcherSettings()) as session:
        exc = await failure(session, f"{https_url}/hello")
    assert isinstance(exc, aiohttp.ClientConnectorCertificateError)
    assert failure_kind(exc) == "connection_error"

    # An operator's own CA, named the standard OpenSSL way, is trusted.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    async with (
        http_client(DispatcherSettings()) as session,
        session.get(f"{https_url}/hello") as response,
    ):
        assert await response.json() == {"ok": True}


def test_certifis_roots_are_trusted_as_httpx_trusted_them():
    context = tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    bundle = Path(certifi.where()).read_text()
    assert context.cert_store_stats()["x509_ca"] >= bundle.count("BEGIN CERTIFICATE")
