"""What `make bench` and `make soak` share: a fake provider, tokens, and gunicorn run as `make serve` runs it.

Everything stays on loopback and in a temporary directory; nothing is fetched from the network.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.jwk import RSAKey

from security.dpop import access_token_hash
from security.proof_keys import b64url_encode, thumbprint

ROOT = Path(__file__).resolve().parent.parent
AUDIENCE = "https://messages-api.bench"
ROUTES = ("/api/public", "/api/private", "/api/private-scoped")


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


class Provider:
    """An OIDC provider's JWKS endpoint on loopback, counting fetches; ``mode`` is up, down or hang."""

    def __init__(self, keys: list[RSAKey]):
        self.keys = keys
        self.mode = "up"
        self.fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                provider.fetches += 1
                if provider.mode == "hang":
                    time.sleep(5)  # longer than the app's fetch timeout
                try:
                    if provider.mode != "up":
                        self.send_error(503)
                        return
                    body = json.dumps({"keys": [k.as_dict(private=False) for k in provider.keys]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the app gave up waiting (hang mode): nothing to answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self.server.server_port}/"
        self.jwks_url = self.issuer + ".well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def token(issuer: str, key: RSAKey, *, kid: str | None = None, lifetime: int = 3600, **claims) -> str:
    """An Auth0-shaped access token signed with ``key`` (``kid`` may name another key)."""
    now = int(time.time())
    body = {"iss": issuer, "sub": f"auth0|{secrets.token_hex(6)}", "aud": [AUDIENCE, issuer + "userinfo"],
            "iat": now, "exp": now + lifetime, "azp": "bench-client", "scope": "openid read:messages"}
    body.update(claims)
    return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": kid or key.kid}, body, key)


class DPoPClient:
    """A DPoP client for the benches: a P-256 key, an access token bound to it, and proofs made ahead of
    time (each request needs a proof of its own; signing one costs the client about 50 µs)."""

    def __init__(self, issuer: str, signing_key: RSAKey):
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        jwk = {"crv": "P-256", "kty": "EC", "x": b64url_encode(numbers.x.to_bytes(32, "big")),
               "y": b64url_encode(numbers.y.to_bytes(32, "big"))}
        self.token = token(issuer, signing_key, cnf={"jkt": thumbprint(jwk)})
        self.authorization = "DPoP " + self.token
        self._header = b64url_encode(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}).encode())
        self._ath = access_token_hash(self.token)
        self._prefix = secrets.token_urlsafe(8)
        self._made = 0

    def proofs(self, htu: str, count: int, method: str = "GET") -> list[str]:
        """``count`` proofs for ``method`` ``htu``, each with its own jti, issued now (good for the
        API's iat window, 300 s by default)."""
        made, now, proofs = self._made, int(time.time()), []
        for number in range(made, made + count):
            claims = {"jti": f"{self._prefix}-{number}", "htm": method, "htu": htu, "iat": now, "ath": self._ath}
            signing_input = f"{self._header}.{b64url_encode(json.dumps(claims).encode())}"
            r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
            proofs.append(f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}")
        self._made += count
        return proofs


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


FETCH_LINE = re.compile(r"\[(\d+)\] \[\w+\] security\.keys: jwks (fetched|fetch failed)")


class Gunicorn:
    """`make serve`'s gunicorn on a loopback port, against ``provider``, with ``settings`` on top."""

    def __init__(self, provider: Provider, workers: int, **settings: str | int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix="gunicorn-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH", "GUNICORN"))}
        env.update(AUTH_ISSUER=provider.issuer, AUTH_JWKS_URL=provider.jwks_url, AUTH0_AUDIENCE=AUDIENCE,
                   WEB_CONCURRENCY=str(workers), PORT=str(self.port), LOG_LEVEL="INFO")
        env.update({k: str(v) for k, v in settings.items()})
        self.stderr_path = self.workdir / "stderr.log"
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        with open(self.workdir / "stdout.log", "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen([gunicorn, "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{self.port}"],
                                            cwd=ROOT, env=env, stdout=out, stderr=err)
        self.workers = workers
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200 and len(self.worker_pids()) == self.workers:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not start:\n" + self.stderr_path.read_text())

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return sorted(int(pid) for pid in path.read_text().split()) if path.exists() else []

    @staticmethod
    def memory_kib(pid: int) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
        fields = {}
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
        return fields

    def key_fetches(self) -> Counter:
        """Key-set fetch attempts per worker pid, from the app's log lines."""
        return Counter(int(m.group(1)) for m in FETCH_LINE.finditer(self.stderr_path.read_text()))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def describe_machine() -> str:
    import importlib.metadata as metadata  # noqa: PLC0415

    versions = ", ".join(f"{name} {metadata.version(name)}" for name in
                         ("Flask", "flask-restx", "Authlib", "joserfc", "cryptography", "gunicorn", "cachetools"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}, {versions}; "
            f"load average before the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
