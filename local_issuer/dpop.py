"""DPoP at the local issuer's token endpoint (RFC 9449 §5, §10).

A token request may carry a ``DPoP`` header: a proof of possession of the client's key for this very
request (``htm`` POST, ``htu`` the token endpoint, no ``ath``). The access token is then bound to
that key (``cnf.jkt``, its RFC 7638 thumbprint) and issued with ``token_type: DPoP``; without the
header the token is a plain Bearer one, unless proofs are required. Proofs are checked by the API's
own verifier (security.dpop), with a replay store of the issuer's own.

The proof is checked before the grant, so a refused proof leaves an authorization code unused for a
retry. A code asked for with ``dpop_jkt`` (§10) is bound to that key: its exchange needs a proof made
with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from authlib.oauth2 import OAuth2Error

from security.dpop import DEFAULT_ALGORITHMS, INVALID_PROOF, DPoPError, DPoPVerifier, VerifiedProof
from security.replay import MemoryReplayStore, ReplayStoreUnavailable
from security.schemes import OFF, REQUIRED
from security.settings import AuthSettings, DPoPSettings

if TYPE_CHECKING:  # what BindsToProofKey is mixed into, for the type checker
    from authlib.oauth2.rfc6749.grants import BaseGrant as Grant
else:
    Grant = object

#: Token requests are few on a laptop: room for this many proofs in the window, then 503s.
REPLAY_STORE_SIZE = 10_000


class DPoPProofError(OAuth2Error):
    """A refused proof: 400 at a token endpoint (RFC 9449 §5), in its JSON error shape, with the verifier's
    error code (``invalid_dpop_proof``, or ``invalid_request`` for a request URL no proof can match)."""

    def __init__(self, refusal: DPoPError):
        super().__init__(error=refusal.error, description=refusal.description, status_code=400)

    @classmethod
    def because(cls, description: str) -> DPoPProofError:
        return cls(DPoPError(INVALID_PROOF, description))


class ReplayStoreFull(OAuth2Error):
    error = "temporarily_unavailable"
    status_code = 503

    def get_headers(self):
        return [*super().get_headers(), ("Retry-After", str(ReplayStoreUnavailable.retry_after))]


class TokenRequestProofs:
    """Checks the proof a token request carries, with the API's rules (algorithms, time window). It asks for
    no nonce (RFC 9449 §8 leaves that to the authorization server): the API's own nonces are its own."""

    def __init__(self, algorithms: Iterable[str] = DEFAULT_ALGORITHMS, *, required: bool = False,
                 iat_window: int = 300, leeway: int = 5):
        """``required``: a token request without a proof is refused (every token is bound)."""
        self.required = required
        self.verifier = DPoPVerifier(algorithms, replay_store=MemoryReplayStore(REPLAY_STORE_SIZE),
                                     iat_window=iat_window, leeway=leeway)

    @classmethod
    def from_settings(cls, auth: AuthSettings, dpop: DPoPSettings) -> TokenRequestProofs | None:
        """The API's AUTH_DPOP rules: ``off``, None (a proof is ignored, every token is a Bearer one, which is
        all the API takes then); ``required``, every token request must carry a proof."""
        if dpop.mode == OFF:
            return None
        return cls(dpop.algorithms, required=dpop.mode == REQUIRED, iat_window=dpop.iat_window, leeway=auth.leeway)

    @property
    def algorithms(self) -> list[str]:
        """What discovery lists as ``dpop_signing_alg_values_supported``."""
        return list(self.verifier.algorithms)

    def check(self, request) -> VerifiedProof | None:
        """The proof of an Authlib token request, checked; None when it carries none (and none is required).
        Raises an OAuth2Error, which Authlib answers in the token endpoint's error shape."""
        proofs = request.headers.getlist("DPoP")
        if not proofs:
            if self.required:
                raise DPoPProofError.because("This issuer binds every token to a key: send a DPoP proof.")
            return None
        if len(proofs) > 1:
            raise DPoPProofError.because("Send exactly one DPoP header.")
        try:
            return self.verifier.verify(proofs[0], method=request.method, url=request.uri)
        except DPoPError as refusal:
            raise DPoPProofError(refusal) from None
        except ReplayStoreUnavailable:
            raise ReplayStoreFull(description="Too many DPoP proofs were seen lately; retry later.") from None


class BindsToProofKey(Grant):
    """A grant mixin: the proof is checked before the grant's own checks, and the token is bound to its key
    (``server.generate_token(..., jkt=...)``)."""

    proof: VerifiedProof | None = None

    def validate_token_request(self):
        if self.server.dpop is not None:
            self.proof = self.server.dpop.check(self.request)
        super().validate_token_request()

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        return self.server.generate_token(
            grant_type or self.GRANT_TYPE, self.request.client, user=user, scope=scope,
            jkt=self.proof.jkt if self.proof else None,
        )
