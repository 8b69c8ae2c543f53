"""A real OpenID Connect provider for the single sign-on tests: the Django project in provider/ on
django-oauth-toolkit, in its own process on a free port in 8810–8819, with its own SQLite file; and the
settings that point the app at it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sso.discovery import discover

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
PORTS = range(8810, 8820)
CLIENT_ID, CLIENT_SECRET = "readiness", "readiness-client-secret-for-tests"
PASSWORD = "idp-password"


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8810-8819")


@dataclass
class Provider:
    directory: Path
    env: dict
    port: int = 0
    process: subprocess.Popen | None = None
    log: Path | None = None
    extra: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    def manage(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "django", *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-3000:]

    def user(self, username: str, *groups: str) -> None:
        """The provider's user `username` with exactly these groups (created if new)."""
        self.manage("idp", "user", username, PASSWORD, *groups)

    def start(self, **env) -> Provider:
        """Run the provider (another one on the same database when env differs, e.g. token lifetime)."""
        other = Provider(self.directory, {**self.env, **env}, port=free_port())
        other.log = self.directory / f"server-{other.port}.log"
        with open(other.log, "w") as out:
            other.process = subprocess.Popen(
                [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{other.port}", "--noreload"],
                env=other.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        for _ in range(300):
            try:
                if requests.get(f"{other.issuer}/.well-known/openid-configuration", timeout=2).ok:
                    return other
            except requests.ConnectionError:
                pass
            if other.process.poll() is not None:
                break
            time.sleep(0.1)
        other.stop()
        raise RuntimeError(f"the test provider did not start: {other.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def idp_setup(tmp_path_factory):
    directory = tmp_path_factory.mktemp("idp")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(PYTHONPATH=str(PROVIDER_DIR), DJANGO_SETTINGS_MODULE="idp.settings", IDP_DIR=str(directory))
    setup = Provider(directory, env)
    setup.manage("migrate", "--noinput", "-v0")
    return setup


@pytest.fixture(scope="session")
def provider(idp_setup):
    """The provider, running; its ID tokens live 5 minutes."""
    running = idp_setup.start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def expiring_provider(idp_setup):
    """The same provider (same users and client) issuing ID tokens that expired 10 minutes ago."""
    running = idp_setup.start(IDP_ID_TOKEN_EXPIRE_SECONDS="-600")
    yield running
    running.stop()


def point_at(settings, provider: Provider, redirect_uris: list[str]) -> None:
    """Single sign-on on, against `provider`; password sign-in off except for the break-glass `root`."""
    provider.manage("idp", "client", CLIENT_ID, CLIENT_SECRET, " ".join(redirect_uris))
    found = discover(provider.issuer)
    settings.SSO_ENABLED = True
    settings.SSO_PROVIDER_NAME = "Acme ID"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_ISSUER = provider.issuer
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = found["authorization_endpoint"]
    settings.OIDC_OP_TOKEN_ENDPOINT = found["token_endpoint"]
    settings.OIDC_OP_USER_ENDPOINT = found["userinfo_endpoint"]
    settings.OIDC_OP_JWKS_ENDPOINT = found["jwks_uri"]
    settings.LOCAL_LOGIN = False
    settings.BREAK_GLASS_USERNAMES = ["root"]
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "sso.backends.CompanyBackend"]


@pytest.fixture
def sso(settings, provider):
    """For the test client (host `testserver`)."""
    point_at(settings, provider, ["http://testserver/oidc/callback/"])
    return provider


def sign_on_at_provider(client, provider: Provider, username: str, password: str = PASSWORD, tamper=None):
    """The code flow with the test client as the app's browser and requests as the provider's: start at
    /oidc/authenticate/, sign in on the provider's form, and bring its redirect back to /oidc/callback/
    (through `tamper(query) -> query` when given). Returns the app's response to the callback."""
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302, start
    browser = requests.Session()
    response = browser.get(start["Location"], allow_redirects=True, timeout=10)
    assert "/accounts/login/" in response.url, response.url
    csrf = browser.cookies["idp_csrftoken"]
    next_url = parse_qs(urlsplit(response.url).query)["next"][0]
    response = browser.post(
        response.url,
        data={"csrfmiddlewaretoken": csrf, "username": username, "password": password, "next": next_url},
        headers={"Referer": response.url},
        allow_redirects=False,
        timeout=10,
    )
    while response.status_code == 302 and not response.headers["Location"].startswith("http://testserver"):
        response = browser.get(urljoin(response.url, response.headers["Location"]), allow_redirects=False)
    callback = urlsplit(response.headers["Location"])
    assert callback.path == "/oidc/callback/", response.headers["Location"]
    query = parse_qs(callback.query)
    if tamper:
        query = tamper(query)
    return client.get(callback.path, {k: v[0] for k, v in query.items()})
