"""The local issuer's secrets on disk: its RSA signing key and its client secret.

Both live in Flask's instance folder (gitignored), are created on first start with mode 0600 and
reused afterwards, so tokens minted before a restart stay valid. A file that does not hold what it
should raises UnusableFile, which the app reports as its one-line configuration error naming the file,
rather than silently minting a new identity.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

KEY_FILE = "local-issuer-key.pem"
SECRET_FILE = "local-client-secret"
KEY_BITS = 2048


class UnusableFile(Exception):
    """A key or secret file that cannot be created or read; the one-line message names it and says what to do."""


def _create_exclusive(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, unless another process got there first."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise UnusableFile(f"cannot create {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.link(temporary, path)  # atomic, and fails when the file already exists
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)


def load_or_create_key(instance: Path) -> RSAKey:
    """The signing key, with ``kid`` = its RFC 7638 thumbprint, ``use`` = sig and ``alg`` = RS256."""
    path = instance / KEY_FILE
    if not path.exists():
        created = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        pem = created.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _create_exclusive(path, pem)
    try:
        pem = path.read_bytes()
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm, OSError) as error:
        raise UnusableFile(
            f"{path} is not a usable RSA private key ({error.__class__.__name__}); "
            "delete it to create a new one (tokens signed with it will stop working)"
        ) from None
    if not isinstance(private, rsa.RSAPrivateKey) or private.key_size < KEY_BITS:
        raise UnusableFile(
            f"{path} must hold an RSA private key of at least {KEY_BITS} bits; delete it to create a new one"
        )
    # From the key already loaded: each parse of the PEM checks the RSA key again (a fifth of a second).
    key = RSAKey.import_key(private)
    return RSAKey.import_key(private, parameters={"kid": key.thumbprint(), "use": "sig", "alg": "RS256"})


def load_or_create_secret(instance: Path) -> str:
    """The local client's secret, kept beside the key."""
    path = instance / SECRET_FILE
    if not path.exists():
        _create_exclusive(path, secrets.token_urlsafe(32).encode())
    secret = path.read_text(encoding="ascii", errors="replace").strip()
    if len(secret) < 16 or not secret.isprintable() or " " in secret:
        raise UnusableFile(f"{path} does not hold a usable client secret; delete it to create a new one")
    return secret
