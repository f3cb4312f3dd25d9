"""A DPoP proof's own key (its ``jwk`` header): import, signature check and RFC 7638 thumbprint.

Built on ``cryptography`` directly rather than joserfc's JWS registry: a proof is checked on every
request, and this does only what a proof needs. It also sidesteps three joserfc defaults that do
not fit proofs (PS256 and EdDSA left out unless named, headers over 512 bytes refused while an RSA
proof's header is larger, and a SecurityWarning for "EdDSA").

Strict on purpose: public keys only, the key type and curve the ``alg`` needs, canonical base64url
members (one key, one thumbprint), RSA moduli of 2048 to 4096 bits with a small exponent (a bigger
key would make every refused proof expensive to check).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

B64URL = re.compile(r"[A-Za-z0-9_-]*")
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
RSA_BITS = (2048, 4096)
RSA_MAX_EXPONENT = 2**32
EC_CURVES = {"P-256": (ec.SECP256R1, 32), "P-384": (ec.SECP384R1, 48), "P-521": (ec.SECP521R1, 66)}
OKP_CURVES: dict[str, type[ed25519.Ed25519PublicKey] | type[ed448.Ed448PublicKey]] = {
    "Ed25519": ed25519.Ed25519PublicKey, "Ed448": ed448.Ed448PublicKey}
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}

Verify = Callable[[bytes, bytes], None]  # (signature, signing input); raises InvalidSignature


class ProofKeyError(ValueError):
    """The ``jwk`` cannot check this proof; the message says why and is safe to show a client."""


@dataclass(frozen=True, slots=True)
class ProofKey:
    """A proof's public key ready to check signatures with one algorithm, and its thumbprint."""

    verify: Verify
    jkt: str


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding; raises ValueError on anything else."""
    if not B64URL.fullmatch(text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None


def thumbprint(members: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members as compact JSON with sorted keys."""
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64url_encode(hashlib.sha256(canonical.encode()).digest())


def import_proof_key(jwk: object, alg: str) -> ProofKey:
    """The key in a proof's ``jwk`` header, for signatures made with ``alg`` (one of SUPPORTED_ALGORITHMS)."""
    if not isinstance(jwk, dict):
        raise ProofKeyError("The DPoP proof's jwk header is not a JSON object.")
    if PRIVATE_MEMBERS & jwk.keys():
        raise ProofKeyError("The DPoP proof's jwk holds private or symmetric key material.")
    if jwk.get("alg", alg) != alg:
        raise ProofKeyError("The DPoP proof's jwk is declared for another algorithm.")
    kty, importer = SUPPORTED_ALGORITHMS[alg]
    if jwk.get("kty") != kty:
        raise ProofKeyError("The DPoP proof's jwk is not of the key type its alg needs.")
    try:
        return importer(jwk)
    except ProofKeyError:
        raise
    except (ValueError, TypeError, KeyError):
        raise ProofKeyError("The DPoP proof's jwk is not a valid public key.") from None


def _member(jwk: dict, name: str, size: int | None = None) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise ProofKeyError(f"The DPoP proof's jwk lacks its '{name}' member.")
    data = b64url_decode(value)
    if b64url_encode(data) != value or (size is not None and len(data) != size):
        raise ProofKeyError(f"The DPoP proof's jwk has a malformed '{name}' member.")
    return data


def _ec(curve_name: str, bits: str) -> Callable[[dict], ProofKey]:
    curve, size = EC_CURVES[curve_name]
    algorithm = ec.ECDSA(HASHES[bits]())

    def importer(jwk: dict) -> ProofKey:
        if jwk.get("crv") != curve_name:
            raise ProofKeyError("The DPoP proof's jwk is not on the curve its alg needs.")
        x, y = _member(jwk, "x", size), _member(jwk, "y", size)
        key = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve()).public_key()

        def verify(signature: bytes, data: bytes) -> None:
            if len(signature) != 2 * size:  # JWS ECDSA signatures are R || S, each of the curve's size
                raise InvalidSignature()
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), data, algorithm)

        return ProofKey(verify, thumbprint({"crv": curve_name, "kty": "EC", "x": jwk["x"], "y": jwk["y"]}))

    return importer


def _rsa(bits: str, pss: bool) -> Callable[[dict], ProofKey]:
    digest = HASHES[bits]()
    scheme = padding.PSS(padding.MGF1(digest), salt_length=digest.digest_size) if pss else padding.PKCS1v15()

    def importer(jwk: dict) -> ProofKey:
        n, e = int.from_bytes(_member(jwk, "n"), "big"), int.from_bytes(_member(jwk, "e"), "big")
        if not RSA_BITS[0] <= n.bit_length() <= RSA_BITS[1] or e >= RSA_MAX_EXPONENT:
            raise ProofKeyError("The DPoP proof's RSA key must have a 2048 to 4096-bit modulus and a small exponent.")
        key = rsa.RSAPublicNumbers(e, n).public_key()

        def verify(signature: bytes, data: bytes) -> None:
            key.verify(signature, data, scheme, digest)

        return ProofKey(verify, thumbprint({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}))

    return importer


def _okp(curves: tuple[str, ...]) -> Callable[[dict], ProofKey]:
    def importer(jwk: dict) -> ProofKey:
        curve = jwk.get("crv")
        if curve not in curves:
            raise ProofKeyError("The DPoP proof's jwk is not on a curve its alg allows.")
        key = OKP_CURVES[curve].from_public_bytes(_member(jwk, "x"))
        return ProofKey(key.verify, thumbprint({"crv": curve, "kty": "OKP", "x": jwk["x"]}))

    return importer


#: Every asymmetric JWS algorithm a proof may use: name -> (key type, importer). Never "none" or HS*.
SUPPORTED_ALGORITHMS: dict[str, tuple[str, Callable[[dict], ProofKey]]] = {
    "ES256": ("EC", _ec("P-256", "256")),
    "ES384": ("EC", _ec("P-384", "384")),
    "ES512": ("EC", _ec("P-521", "512")),
    **{f"RS{bits}": ("RSA", _rsa(bits, pss=False)) for bits in HASHES},
    **{f"PS{bits}": ("RSA", _rsa(bits, pss=True)) for bits in HASHES},
    "EdDSA": ("OKP", _okp(("Ed25519", "Ed448"))),
    "Ed25519": ("OKP", _okp(("Ed25519",))),  # RFC 9864's fully-specified name
}
