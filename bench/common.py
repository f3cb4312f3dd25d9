"""What `make bench` and `make soak` share: gunicorn run as `make serve` runs it, and a token shape.

The fake provider, the token builder and the server launcher are the tests' own (tests/support/).
Everything stays on loopback and in a temporary directory; nothing is fetched from the network.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import tempfile
import time
import timeit
from collections import Counter
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from security.dpop import access_token_hash
from security.proof_keys import b64url_decode, b64url_encode, import_proof_key, thumbprint
from tests.support.issuers import Provider
from tests.support.processes import ServerProcess, free_port
from tests.support.tokens import AUDIENCE, Tokens, rsa_key

__all__ = ["AUDIENCE", "ROUTES", "DPoPClient", "Gunicorn", "Provider", "describe_machine", "machine_busy_seconds",
           "median", "rsa_key", "token"]

ROOT = Path(__file__).resolve().parent.parent
ROUTES = ("/api/public", "/api/private", "/api/private-scoped")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def token(issuer: str, key, *, kid: str | None = None, lifetime: int = 3600, scope: str = "openid read:messages",
          **claims) -> str:
    """An Auth0-shaped access token signed with ``key`` (``kid`` may name another key), each for a subject of
    its own: tokens made in the same second still differ."""
    return Tokens(issuer, key).make(header={"kid": kid} if kid else None, sub=f"auth0|{secrets.token_hex(6)}",
                                    azp="bench-client", scope=scope, exp=int(time.time()) + lifetime, **claims)


class DPoPClient:
    """A DPoP client for the benches: a P-256 key, an access token bound to it, and proofs made ahead of
    time (each request needs a proof of its own; signing one costs the client about 50 µs)."""

    def __init__(self, issuer: str, signing_key):
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        jwk = {"crv": "P-256", "kty": "EC", "x": b64url_encode(numbers.x.to_bytes(32, "big")),
               "y": b64url_encode(numbers.y.to_bytes(32, "big"))}
        self.token = token(issuer, signing_key, jkt=thumbprint(jwk))
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

    def verification(self) -> Callable[[], None]:
        """One check of one of these proofs' ES256 signature, as the API makes it (security.proof_keys: the raw
        signature made DER, then cryptography's verify), to time alone."""
        header, payload, signature = self.proofs("https://api.example/", 1)[0].split(".")
        key = import_proof_key(json.loads(b64url_decode(header))["jwk"], "ES256")
        data, raw = f"{header}.{payload}".encode(), b64url_decode(signature)
        return lambda: key.verify(raw, data)

    def verification_us(self, rounds: int = 5, number: int = 200) -> float:
        """What that check costs, in µs: the best of ``rounds`` runs of ``number``."""
        return min(timeit.repeat(self.verification(), number=number, repeat=rounds)) / number * 1e6


FETCH_LINE = re.compile(r"\[(\d+)\] \[\w+\] security\.keys: jwks (fetched|fetch failed)")


class Gunicorn(ServerProcess):
    """`make serve`'s gunicorn on a loopback port, against ``provider``, with ``settings`` on top (by default
    its SQLite database is a new one in its temporary directory).

    ``args`` are extra gunicorn flags (e.g. another worker class, for comparisons)."""

    def __init__(self, provider: Provider, workers: int, args: tuple[str, ...] = (), **settings: str | int):
        port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="gunicorn-"))
        env = {"AUTH_ISSUER": provider.issuer, "AUTH_JWKS_URL": provider.jwks_url, "AUTH0_AUDIENCE": AUDIENCE,
               "WEB_CONCURRENCY": str(workers), "LOG_LEVEL": "INFO",
               "DATABASE_URL": f"sqlite:///{self.workdir / 'messages.db'}", **{k: str(v) for k, v in settings.items()}}
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        super().__init__([gunicorn, "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}", *args], port=port,
                         env=env, cwd=ROOT, logs=self.workdir)
        self.workers = workers
        self.wait_until_serving(lambda: len(self.worker_pids()) == workers, seconds=30)

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return sorted(int(pid) for pid in path.read_text().split()) if path.exists() else []

    def cpu_seconds(self) -> float:
        """The CPU time (user and system) the workers have used so far, together."""
        return sum(process_cpu_seconds(pid) for pid in self.worker_pids())

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


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (/proc/<pid>/stat fields 14 and 15); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time every core of the machine spent on anything but idling and waiting for I/O."""
    user, nice, system, idle, iowait, *rest = map(int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:])
    return (user + nice + system + sum(rest[:3])) / CLOCK_TICKS  # + irq, softirq, steal


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def describe_machine() -> str:
    import importlib.metadata as metadata  # noqa: PLC0415

    versions = ", ".join(f"{name} {metadata.version(name)}" for name in
                         ("Flask", "flask-restx", "Authlib", "joserfc", "cryptography", "gunicorn", "gevent",
                          "cachetools"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}, {versions}; "
            f"load average before the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
