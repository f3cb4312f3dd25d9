"""Which Authorization schemes the API takes (``AUTH_DPOP``), and the challenges its refusals carry.

- ``off``: Bearer only. ``allowed``: Bearer and DPoP. ``required``: DPoP only.
- Every challenge names each scheme taken: ``Bearer realm="api"`` and/or ``DPoP algs="..."`` (RFC 9449
  §7.1, §7.2). The error's parameters go on the scheme the client used (on the one scheme taken, when
  the client used another or none), as express-oauth2-jwt-bearer does.
- Each scheme named carries ``resource_metadata``, where this API's protected-resource metadata is (RFC 9728
  §5.1), when the caller gives it: a client that knows only the API's URL finds the rest from there.
- The scheme the client used comes first, the other after it (none used: Bearer first). Auth0's SDK
  always puts Bearer first; a client that reads only the first challenge (requests-oauth2client retries
  with a nonce only when the challenge starts with ``DPoP``) would then miss a DPoP error.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import AuthFailure, MissingCredentials, bearer_challenge

OFF, ALLOWED, REQUIRED = "off", "allowed", "required"
DPOP_MODES = (OFF, ALLOWED, REQUIRED)
BEARER, DPOP = "bearer", "dpop"


def dpop_challenge(params: dict[str, str], algs: str, after: dict[str, str] | None = None) -> str:
    """``DPoP error="...", error_description="...", algs="..."``: RFC 9449 §7.1's order (Figure 16), then
    ``after`` (``resource_metadata``)."""
    parts = ([f'{k}="{v}"' for k, v in params.items() if v] + [f'algs="{algs}"']
             + [f'{k}="{v}"' for k, v in (after or {}).items()])
    return "DPoP " + ", ".join(parts)


@dataclass(frozen=True)
class Schemes:
    """The schemes taken, in the order a bare challenge lists them, and the algorithms DPoP proofs may use."""

    mode: str = OFF
    dpop_algorithms: tuple[str, ...] = ()

    def __post_init__(self):
        if self.mode not in DPOP_MODES:
            raise ValueError(f"unknown DPoP mode {self.mode!r}")
        if self.mode != OFF and not self.dpop_algorithms:
            raise ValueError("DPoP needs at least one proof algorithm")

    @property
    def bearer(self) -> bool:
        return self.mode != REQUIRED

    @property
    def dpop(self) -> bool:
        return self.mode != OFF

    @property
    def taken(self) -> tuple[str, ...]:
        return tuple(name for name, on in ((BEARER, self.bearer), (DPOP, self.dpop)) if on)

    def challenge(self, failure: AuthFailure, used: str | None, metadata_url: str | None = None) -> str | None:
        """The ``WWW-Authenticate`` value for ``failure`` when the client used scheme ``used`` (lower case,
        None for none), each scheme naming ``metadata_url`` when given; None when the answer carries no
        challenge (a 503)."""
        params = failure.challenge_params()
        if params is None:
            return None
        taken = self.taken
        carrier = used if used in taken else taken[0]
        ordered = sorted(taken, key=lambda name: name != used)  # stable: the used one first
        return ", ".join(self._challenge(name, params if name == carrier else {}, metadata_url) for name in ordered)

    def _challenge(self, name: str, params: dict[str, str], metadata_url: str | None) -> str:
        found = {"resource_metadata": metadata_url} if metadata_url else {}
        if name == BEARER:
            return bearer_challenge({**params, **found})
        return dpop_challenge(params, " ".join(self.dpop_algorithms), found)

    @property
    def how_to_send(self) -> str:
        """How to send credentials here, for error descriptions."""
        bearer = "an access token as 'Authorization: Bearer <token>'"
        dpop = "a DPoP-bound access token as 'Authorization: DPoP <token>' with its proof in a DPoP header"
        return {OFF: bearer, ALLOWED: f"{bearer}, or {dpop}", REQUIRED: dpop}[self.mode]

    def missing_credentials(self) -> MissingCredentials:
        """No Authorization header (a DPoP proof alone counts as none)."""
        return MissingCredentials(f"Authentication required: send {self.how_to_send}.")

    @property
    def header_forms(self) -> tuple[str, ...]:
        """The ``Authorization`` header's forms this API takes."""
        return tuple({BEARER: "Bearer <token>", DPOP: "DPoP <token>"}[name] for name in self.taken)

    def malformed_header(self) -> MissingCredentials:
        """An Authorization header in a form or scheme this API does not take."""
        forms = " or ".join(f"'{form}'" for form in self.header_forms) + (" (with a DPoP proof)" if self.dpop else "")
        return MissingCredentials(f"The Authorization header must be {forms}.", reason="malformed_header")


#: Bearer only: what a protector without DPoP answers.
BEARER_ONLY = Schemes()
