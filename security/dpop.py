"""DPoP proof checking (RFC 9449 §4.3, §7, §9), independent of Flask.

``DPoPVerifier.verify`` checks one ``DPoP`` header against the request it came with and returns the
proof key's thumbprint; ``token_binding`` holds the rules between the Authorization scheme and the
access token's ``cnf`` (a DPoP key's ``jkt``, the one confirmation method checked here). Every refusal
is a ``DPoPError`` with an RFC error code; a replay store that cannot answer raises
``ReplayStoreUnavailable`` (replay.py) instead, for a 503.

Where the RFC leaves a choice, this follows express-oauth2-jwt-bearer (Auth0's Node SDK): the order
of the checks (header and signature, iat, htm, htu, jti, ath, then the token's jkt), ``typ`` compared
case-insensitively with an optional "application/" prefix, ``htm`` compared case-insensitively,
``exp``/``nbf`` honoured when a proof carries them, 400 for ``invalid_dpop_proof`` and 401
``invalid_token`` for binding faults. Beyond it: proofs are remembered (replays refused), nonces,
a size cap, strict ``jti`` and ``iat`` types, and an ``htu`` with a query or fragment is refused.

The lean path: a client sends the same protected header (``typ``, ``alg``, ``jwk``) with every
proof, so the checked header and its imported key are kept, bounded, keyed by the header's exact
base64url text. A repeat proof then costs one payload parse, one signature check and the claim checks.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, TypeGuard

from cryptography.exceptions import InvalidSignature

from .htu import NotAnHttpUrl, normalize_htu, normalize_request_url
from .nonce import DPoPNonces
from .proof_keys import SUPPORTED_ALGORITHMS, ProofKey, ProofKeyError, b64url_encode, import_proof_key
from .replay import ReplayStore

DEFAULT_ALGORITHMS = ("ES256", "PS256", "EdDSA", "RS256")
MAX_PROOF_LENGTH = 4096  # characters; an RSA-4096 proof with ath and nonce is about 2,000
MAX_JTI_LENGTH = 256
KEY_CACHE_SIZE = 1024
PROOF_TYPES = frozenset({"dpop+jwt", "application/dpop+jwt"})
COMPACT_JWS = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")
TO_STANDARD_BASE64 = bytes.maketrans(b"-_", b"+/")
JSON_DECODER = json.JSONDecoder()

HTU_MISMATCH = "The DPoP proof's htu does not match the request URL."
NONCE_MISSING = "The DPoP proof lacks a nonce. Use the one in the DPoP-Nonce header."
NONCE_INVALID = "The DPoP proof's nonce is not valid. Use the one in the DPoP-Nonce header."
REPLAYED = "The DPoP proof was already used (jti)."
UNCHECKED_CONFIRMATION = ("The access token's cnf claim names a confirmation method this API cannot check; "
                          "only a DPoP key (jkt) is supported.")
MADE_BEFORE_RECORDS = "The DPoP proof was made before this API's replay records began; make a new one."

INVALID_PROOF, USE_NONCE, INVALID_TOKEN, INVALID_REQUEST = (
    "invalid_dpop_proof", "use_dpop_nonce", "invalid_token", "invalid_request")
STATUS = {INVALID_PROOF: 400, USE_NONCE: 401, INVALID_TOKEN: 401, INVALID_REQUEST: 400}


class DPoPError(Exception):
    """A refusal: an RFC error code, a description safe to show (never the proof), its HTTP status,
    and for ``use_dpop_nonce`` the nonce to send in ``DPoP-Nonce``."""

    def __init__(self, error: str, description: str, *, nonce: str | None = None):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = STATUS[error]
        self.nonce = nonce


def _refuse(description: str) -> DPoPError:
    return DPoPError(INVALID_PROOF, description)


@dataclass(frozen=True, slots=True)
class VerifiedProof:
    """An accepted proof: its key's RFC 7638 thumbprint, and the nonce to send back when the client's is
    not the current one (``DPoP-Nonce`` on the response), else None."""

    jkt: str
    next_nonce: str | None = None


def _decode_segment(segment: str) -> bytes:
    """A segment COMPACT_JWS matched (so only base64url characters); raises ValueError if its length is impossible.
    What base64.urlsafe_b64decode does, without its wrapper's checks and conversions (nothing to do here)."""
    return binascii.a2b_base64((segment + "=" * (-len(segment) % 4)).encode("ascii").translate(TO_STANDARD_BASE64))


def _json_object(segment: str) -> dict | None:
    """The JSON object a segment holds, or None for anything else (bad base64, bad UTF-8, bad or too
    deeply nested JSON, another JSON type). NaN and Infinity get through: the numeric checks refuse them.

    A proof's payload is one JSON object and nothing around it: ``raw_decode`` reads it for about two thirds
    of what ``json.loads`` costs. Anything else (whitespace around it, text after it, no JSON) gets json.loads's
    own answer, so what is accepted and how it reads stay json.loads's."""
    try:
        text = _decode_segment(segment).decode("utf-8")
        try:
            value, end = JSON_DECODER.raw_decode(text)
        except ValueError:
            end = -1
        if end != len(text):
            value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def access_token_hash(access_token: str) -> str:
    """The ``ath`` a proof must carry for this access token: base64url(SHA-256(token))."""
    return b64url_encode(hashlib.sha256(access_token.encode()).digest())


class DPoPVerifier:
    """Checks DPoP proofs for one API: its algorithms, time window, replay store and (optional) nonces."""

    def __init__(
        self,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        *,
        replay_store: ReplayStore,
        iat_window: int = 300,
        leeway: int = 5,
        nonces: DPoPNonces | None = None,
        clock: Callable[[], float] = time.time,
        key_cache_size: int = KEY_CACHE_SIZE,
    ):
        """``iat_window``: seconds a proof's ``iat`` may lie in the past; ``leeway``: in the future.
        ``nonces`` set: every proof must carry a current nonce."""
        self.algorithms = tuple(algorithms)
        unsupported = [alg for alg in self.algorithms if alg not in SUPPORTED_ALGORITHMS]
        if unsupported or not self.algorithms:
            named = ", ".join(unsupported) or "none given"
            raise ValueError(f"DPoP proofs need asymmetric algorithms; not supported: {named}")
        if iat_window < 0 or leeway < 0:
            raise ValueError("the DPoP iat window and leeway cannot be negative")
        self.iat_window = iat_window
        self.leeway = leeway
        self.replay_store = replay_store
        self.nonces = nonces
        self._clock = clock
        # Checked headers by their base64url text, oldest out first: a hit is one lock-free dict read.
        self._keys: dict[str, ProofKey] = {}
        self._key_cache_size = key_cache_size
        self._keys_lock = threading.Lock()

    @property
    def algs(self) -> str:
        """The ``algs`` parameter of a ``DPoP`` challenge (RFC 9449 §7.1)."""
        return " ".join(self.algorithms)

    def verify(
        self, proof: str, *, method: str, url: str, access_token: str | None = None, bound_to: str | None = None,
        access_token_sha256: bytes | None = None,
    ) -> VerifiedProof:
        """Check ``proof`` (the ``DPoP`` header) for a request of ``method`` to ``url`` (as it reached us; a
        query is ignored). ``access_token``: the token sent with it, which ``ath`` must hash.
        ``bound_to``: the token's ``cnf.jkt`` (see ``token_binding``), which the proof's key must match.
        ``access_token_sha256``: that token's SHA-256 when the caller has it already (the verified-token
        cache keys its entries by it), so that it is not computed twice.

        Checked in order, first failure wins: form and size, header (typ, alg, jwk), signature, iat
        (and exp/nbf if present), htm, htu, jti, ath, the token's jkt (invalid_token), the nonce
        (use_dpop_nonce), and last the replay record, so only a proof that passed everything else
        uses up its jti; a proof made before the replay records began is refused there too.
        """
        if not isinstance(proof, str) or not proof:
            raise _refuse("The DPoP proof is missing.")
        if len(proof) > MAX_PROOF_LENGTH:
            raise _refuse(f"The DPoP proof is longer than {MAX_PROOF_LENGTH} characters.")
        try:
            target = normalize_request_url(url)
        except (NotAnHttpUrl, UnicodeError):
            raise DPoPError(INVALID_REQUEST, "The request URL cannot be matched by a DPoP proof.") from None
        parts = COMPACT_JWS.fullmatch(proof)
        if parts is None:
            raise _refuse("The DPoP proof is not a compact JWS.")
        header, payload, signature = parts.groups()

        key = self._keys.get(header)
        fresh_key = key is None
        if key is None:
            key = self._proof_key(header)
        try:
            key.verify(_decode_segment(signature), proof[: len(header) + len(payload) + 1].encode("ascii"))
        except (InvalidSignature, ValueError):
            raise _refuse("The DPoP proof's signature does not verify with its jwk.") from None
        if fresh_key:
            self._remember(header, key)

        claims = _json_object(payload)
        if claims is None:
            raise _refuse("The DPoP proof's payload is not a JSON object.")
        iat = self._check_time(claims)
        self._check_request(claims, method, target)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise _refuse(f"The DPoP proof's jti must be a string of 1 to {MAX_JTI_LENGTH} characters.")
        if access_token is not None:
            ath = claims.get("ath")
            if not isinstance(ath, str):
                raise _refuse("The DPoP proof's ath (the access token's hash) is missing or not a string.")
            expected = (access_token_hash(access_token) if access_token_sha256 is None
                        else b64url_encode(access_token_sha256))
            if ath != expected:
                raise _refuse("The DPoP proof's ath does not match the access token.")
        if bound_to is not None and key.jkt != bound_to:
            raise DPoPError(INVALID_TOKEN, "The access token is bound to another key than the DPoP proof's.")
        next_nonce = self._check_nonce(claims.get("nonce"))
        self._check_replay(key.jkt, jti, iat)
        return VerifiedProof(key.jkt, next_nonce)

    def _remember(self, header: str, key: ProofKey) -> None:
        with self._keys_lock:
            while len(self._keys) >= self._key_cache_size:
                del self._keys[next(iter(self._keys))]
            self._keys[header] = key

    def _proof_key(self, segment: str) -> ProofKey:
        header = _json_object(segment)
        if header is None:
            raise _refuse("The DPoP proof's header is not a JSON object.")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in PROOF_TYPES:
            raise _refuse("The DPoP proof's typ must be dpop+jwt.")
        alg = header.get("alg")
        if alg not in self.algorithms:  # never none, never HS*: the constructor allows asymmetric only
            raise _refuse(f"The DPoP proof's alg must be one of: {self.algs}.")
        if "crit" in header:
            raise _refuse("The DPoP proof names critical header extensions; none are supported.")
        if "jwk" not in header:
            raise _refuse("The DPoP proof's header lacks its jwk.")
        try:
            return import_proof_key(header["jwk"], alg)
        except ProofKeyError as error:
            raise _refuse(str(error)) from None

    def _check_time(self, claims: Mapping) -> float:
        """``iat`` within [now - iat_window, now + leeway] (whole seconds, as Auth0 counts), and a
        proof's optional ``exp``/``nbf`` honoured as any JWT's."""
        now = int(self._clock())
        iat = claims.get("iat")
        if not _is_number(iat):
            raise _refuse("The DPoP proof's iat is missing or not a number.")
        if not now - self.iat_window <= iat <= now + self.leeway:
            raise _refuse("The DPoP proof's iat is outside the acceptable window.")
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if exp is not None and (not _is_number(exp) or exp <= now):
            raise _refuse("The DPoP proof has expired (exp).")
        if nbf is not None and (not _is_number(nbf) or nbf > now):
            raise _refuse("The DPoP proof is not valid yet (nbf).")
        return iat

    @staticmethod
    def _check_request(claims: Mapping, method: str, target: str) -> None:
        htm, htu = claims.get("htm"), claims.get("htu")
        if not isinstance(htm, str):
            raise _refuse("The DPoP proof's htm is missing or not a string.")
        if not htm.isascii() or htm.upper() != method.upper():  # ASCII first: "ı".upper() is "I"
            raise _refuse("The DPoP proof's htm does not match the request method.")
        if not isinstance(htu, str):
            raise _refuse("The DPoP proof's htu is missing or not a string.")
        try:
            matches = normalize_htu(htu) == target
        except (NotAnHttpUrl, UnicodeError):
            raise _refuse("The DPoP proof's htu is not an http(s) URL without query and fragment.") from None
        if not matches:
            raise _refuse(HTU_MISMATCH)

    def _check_nonce(self, nonce: object) -> str | None:
        if self.nonces is None:
            return None
        current = self.nonces.current()
        if not self.nonces.accepts(nonce):
            raise DPoPError(USE_NONCE, NONCE_MISSING if nonce is None else NONCE_INVALID, nonce=current)
        return None if nonce == current else current

    def _check_replay(self, jkt: str, jti: str, iat: float) -> None:
        """Record (jkt, jti) for as long as the proof could pass the time check, plus the leeway for
        clocks that differ between instances. Keyed by key and jti: a jti is only unique per client,
        and no one can burn another client's jti with their own key. A proof made before the store's
        records began (less the leeway) is refused: it may have been accepted and forgotten."""
        record = hashlib.sha256(f"{jkt}:{jti}".encode("utf-8", "surrogatepass")).hexdigest()[:32]  # 128 bits
        ttl = iat + self.iat_window + self.leeway + 1 - self._clock()
        mark = self.replay_store.mark_once(record, ttl)
        if iat < mark.since - self.leeway:
            raise _refuse(MADE_BEFORE_RECORDS)
        if not mark.first:
            raise _refuse(REPLAYED)


def token_binding(claims: Mapping, scheme: str) -> str | None:
    """The rules between the Authorization scheme and the token's ``cnf`` (RFC 7800, RFC 9449 §7.1, §7.2).

    Returns the thumbprint a DPoP request's proof must match (pass it as ``verify(bound_to=...)``,
    which checks it after the proof's own claims, as Auth0 does), or None for Bearer. Refuses, with
    ``invalid_token``: a ``cnf`` this API cannot check (see ``bound_key``), a bound token sent as Bearer
    (no downgrade), and an unbound token sent with the DPoP scheme.
    """
    jkt = bound_key(claims["cnf"]) if "cnf" in claims else None
    if scheme.lower() == "bearer":
        if jkt is not None:
            raise DPoPError(INVALID_TOKEN, "The access token is DPoP-bound: send it with the DPoP scheme and a proof.")
        return None
    if scheme.lower() == "dpop":
        if jkt is None:
            raise DPoPError(INVALID_TOKEN, "The access token is not DPoP-bound: send it with the Bearer scheme.")
        return jkt
    raise ValueError(f"not an access-token scheme: {scheme!r}")


def bound_key(cnf: object) -> str:
    """The DPoP key thumbprint (``jkt``) a token's ``cnf`` claim binds it to; the only confirmation method
    this API can check. Each member of ``cnf`` identifies the key by a confirmation method (RFC 7800 §3.1),
    so any other member (``x5t#S256``: a certificate, RFC 8705; ``jwk``, ``kid``...) binds the token to
    something unchecked here, and it is refused rather than taken as a Bearer token; so are a ``cnf``
    that is not an object and an empty one (a binding that identifies no key)."""
    if not isinstance(cnf, dict):
        raise DPoPError(INVALID_TOKEN, "The access token's cnf claim is malformed.")
    if not cnf:
        raise DPoPError(INVALID_TOKEN, "The access token's cnf claim names no confirmation method.")
    if cnf.keys() != {"jkt"}:
        raise DPoPError(INVALID_TOKEN, UNCHECKED_CONFIRMATION)
    jkt = cnf["jkt"]
    if not isinstance(jkt, str) or not jkt:
        raise DPoPError(INVALID_TOKEN, "The access token's cnf.jkt claim is malformed.")
    return jkt
