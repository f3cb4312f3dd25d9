"""A DPoP client for curl users: one ES256 key kept in the instance folder, and fresh proofs signed with it.

``make dpop-token`` mints a token bound to this key, ``make dpop-proof`` signs the proof for one request.
Each invocation is its own process, so the key lives in a file (mode 0600, created on first use, like
the issuer's own key); anyone who can read it can use the tokens bound to it.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.jwk import ECKey

from security.dpop import access_token_hash

from .signing_key import UnusableFile, _create_exclusive

KEY_FILE = "dpop-client-key.pem"
PUBLIC_MEMBERS = ("kty", "crv", "x", "y")


def load_or_create_client_key(instance: Path) -> ECKey:
    """Raises UnusableFile (naming the file) when it cannot be created or holds no P-256 private key."""
    path = instance / KEY_FILE
    if not path.exists():
        created = ec.generate_private_key(ec.SECP256R1())
        _create_exclusive(path, created.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    try:
        pem = path.read_bytes()
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm, OSError) as error:
        raise UnusableFile(f"{path} is not a usable private key ({error.__class__.__name__}); "
                                "delete it to create a new one (tokens bound to it will stop working)") from None
    if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(private.curve, ec.SECP256R1):
        raise UnusableFile(f"{path} must hold a P-256 private key; delete it to create a new one")
    return ECKey.import_key(pem)


def public_jwk(key: ECKey) -> dict[str, str]:
    """The members a proof's ``jwk`` carries: the public key and nothing else."""
    members: dict[str, Any] = key.as_dict(private=False)  # an EC key's public members are strings
    return {name: members[name] for name in PUBLIC_MEMBERS}


def proof(key: ECKey, method: str, url: str, *, access_token: str | None = None, nonce: str | None = None) -> str:
    """A DPoP proof (RFC 9449 §4.2) for one request of ``method`` to ``url``, usable once: a new ``jti`` every
    time. ``htu`` is ``url`` without credentials, query and fragment; ``ath`` binds it to ``access_token`` when
    given."""
    parts = urlsplit(url)
    claims = {
        "jti": secrets.token_urlsafe(24),
        "htm": method.upper(),
        "htu": urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path or "/", "", "")),
        "iat": int(time.time()),
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key)}
    return jws.serialize_compact(header, json.dumps(claims, separators=(",", ":")), key, algorithms=["ES256"])
