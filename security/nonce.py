"""Server-provided DPoP nonces (RFC 9449 §9), stateless: an HMAC of the current time step.

Any instance holding the same secret issues and accepts the same nonces, with nothing shared but the
secret. A nonce is accepted during the step it was issued in and the next one, so it lives between
one and two steps (3 to 6 minutes by default); a client that holds an expired one gets
``use_dpop_nonce`` with a fresh one and retries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Callable

from .proof_keys import b64url_encode

MIN_SECRET_LENGTH = 32
DEFAULT_STEP = 180  # seconds


class DPoPNonces:
    """Issues the current nonce and tells whether a proof's nonce is still good."""

    def __init__(self, secret: str | None = None, *, step: int = DEFAULT_STEP, clock: Callable[[], float] = time.time):
        """``secret`` unset: a random one, so nonces survive only as long as this process."""
        if secret is None:
            secret = secrets.token_urlsafe(32)
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"a DPoP nonce secret needs at least {MIN_SECRET_LENGTH} characters")
        if step < 1:
            raise ValueError("a DPoP nonce step must last at least one second")
        self._secret = secret.encode()
        self.step = step
        self._clock = clock
        self._issued: tuple[int, str, str] = (-1, "", "")  # (step, its nonce, the previous step's)

    def current(self) -> str:
        """The nonce to send now (the ``DPoP-Nonce`` response header)."""
        return self._nonces()[1]

    def accepts(self, nonce: object) -> bool:
        """Whether ``nonce`` was issued, with our secret, in this step or the one before."""
        if not isinstance(nonce, str):
            return False
        _, current, previous = self._nonces()
        candidate = nonce.encode("utf-8", "surrogatepass")
        return hmac.compare_digest(candidate, current.encode()) or hmac.compare_digest(candidate, previous.encode())

    def _nonces(self) -> tuple[int, str, str]:
        step = int(self._clock() // self.step)
        issued = self._issued
        if issued[0] != step:  # computed once per step; a race only computes the same values twice
            issued = (step, self._nonce(step), self._nonce(step - 1))
            self._issued = issued
        return issued

    def _nonce(self, step: int) -> str:
        mac = hmac.new(self._secret, b"DPoP-Nonce:" + str(step).encode(), hashlib.sha256).digest()
        return b64url_encode(mac[:18])  # 144 bits, 24 characters
