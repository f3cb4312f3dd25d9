"""The errors a protected route can answer, shaped as RFC 6750 and RFC 9449 (DPoP) say.

Each is an Authlib ``OAuth2Error`` carrying a short ``reason`` for logs; the protector
answers it as its ``refusal``: the body ``{"error", "error_description"}`` and a ``WWW-Authenticate``
challenge that matches it. Each error gives the parameters of its challenge (``challenge_params``);
which schemes the challenge names, and which of them carries the error, depends on the schemes the API
takes (``security.schemes``). Without that, ``refusal`` renders the Bearer-only challenge.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error

from refusals import Refusal

REALM = "api"


def bearer_challenge(params: dict[str, str]) -> str:
    """``Bearer realm="api"`` with the error's parameters (RFC 6750 §3)."""
    parts = [f'realm="{REALM}"'] + [f'{k}="{v}"' for k, v in params.items() if v]
    return "Bearer " + ", ".join(parts)


class AuthFailure(OAuth2Error):
    """Base of our auth errors: a status, an error code, a description and a reason for logs."""

    reason = "refused"

    def __init__(self, description: str | None = None, *, reason: str | None = None, context: dict | None = None):
        super().__init__(description=description)
        if reason:
            self.reason = reason
        self.context = context or {}

    def challenge_params(self) -> dict[str, str] | None:
        """The parameters of the ``WWW-Authenticate`` challenge ({} for a bare one); None: no challenge."""
        return None

    def extra_headers(self) -> dict[str, str]:
        """Headers this answer carries besides the challenge (``Retry-After``, ``DPoP-Nonce``)."""
        return {}

    def refusal(self, challenge: str | None = None) -> Refusal:
        """The answer to this failure, with ``challenge`` as ``WWW-Authenticate`` (default: the Bearer one)
        when it has a challenge."""
        params = self.challenge_params()
        headers = {} if params is None else {"WWW-Authenticate": challenge or bearer_challenge(params)}
        return Refusal(self.status_code, self.error, self.get_error_description(), {**headers, **self.extra_headers()})

    def _error_params(self, **more: str) -> dict[str, str]:
        return {"error": self.error, "error_description": self.get_error_description(), **more}


class MissingCredentials(AuthFailure):
    """No usable `Authorization: Bearer <token>` header: a bare challenge, no error code (RFC 6750 §3.1)."""

    error = "unauthorized"
    status_code = 401
    reason = "no_credentials"
    description = "Authentication required: send an access token as 'Authorization: Bearer <token>'."

    def challenge_params(self):
        return {}


class InvalidToken(AuthFailure):
    """The token failed validation; the description says why and never echoes the token."""

    error = "invalid_token"
    status_code = 401
    reason = "invalid_token"
    description = "The access token is invalid."

    def challenge_params(self):
        return self._error_params()


class InsufficientScope(AuthFailure):
    """A valid token without the scope the route needs."""

    error = "insufficient_scope"
    status_code = 403
    reason = "insufficient_scope"

    def __init__(self, scopes: list[str], *, any_of: bool = False, **kwargs):
        """``scopes`` the route needs, all of them; with ``any_of``, one of them is enough."""
        self.scope = " ".join(scopes)
        if any_of and len(scopes) > 1:
            needs = f"any of the scopes this route accepts: {' or '.join(scopes)}"
        else:
            needs = f"the scope this route needs: {self.scope}"
        super().__init__(f"The access token does not grant {needs}.", **kwargs)

    def challenge_params(self):
        return self._error_params(scope=self.scope)


class TemporarilyUnavailable(AuthFailure):
    """The request cannot be checked right now: the caller should retry, not re-authenticate."""

    error = "temporarily_unavailable"
    status_code = 503
    retry_after = 5

    def extra_headers(self):
        return {"Retry-After": str(self.retry_after)}


class SigningKeysUnavailable(TemporarilyUnavailable):
    """No signing key could be had from the issuer."""

    reason = "keys_unavailable"
    description = "The token issuer's signing keys could not be fetched; retry shortly."


class ProofRefused(AuthFailure):
    """A refused DPoP request (RFC 9449 §7.1, §9): ``invalid_dpop_proof`` or ``invalid_request`` (400), or
    ``use_dpop_nonce`` (401) with the nonce to use next in ``DPoP-Nonce``."""

    def __init__(self, error: str, status_code: int, description: str, *, nonce: str | None = None, **kwargs):
        self.error = error
        self.status_code = status_code
        self.nonce = nonce
        kwargs.setdefault("reason", error)
        super().__init__(description, **kwargs)

    def challenge_params(self):
        return self._error_params()

    def extra_headers(self):
        return {"DPoP-Nonce": self.nonce} if self.nonce else {}


class ReplayCheckUnavailable(TemporarilyUnavailable):
    """The DPoP replay store cannot answer: the proof is refused (fail closed), never accepted unchecked."""

    reason = "replay_store_unavailable"
    description = "The DPoP replay check is unavailable; retry shortly."



class InsufficientUserAuthentication(AuthFailure):
    """A valid token whose login is too weak or too old for the operation (RFC 9470 §3): the challenge says
    what a new login needs (``acr_values``, ``max_age``); the client asks its issuer for it, then retries."""

    error = "insufficient_user_authentication"
    status_code = 401
    reason = "insufficient_user_authentication"

    def __init__(self, acr_values: tuple[str, ...] = (), max_age: int | None = None, **kwargs):
        self.acr_values = acr_values
        self.max_age = max_age
        if acr_values and max_age is not None:
            needs = f"a login with a stronger method (acr_values), at most {max_age} seconds ago (max_age)"
        elif acr_values:
            needs = "a login with a stronger method (acr_values)"
        else:
            needs = f"a login at most {max_age} seconds ago (max_age)"
        super().__init__(f"This operation needs {needs}: log in again as the challenge says, then retry.", **kwargs)

    def challenge_params(self):
        more = {"acr_values": " ".join(self.acr_values)} if self.acr_values else {}
        if self.max_age is not None:
            more["max_age"] = str(self.max_age)
        return self._error_params(**more)


class DelegationRefused(AuthFailure):
    """A delegated token (``act``: an agent acting for the subject) on an operation the subject must do in person."""

    error = "delegation_refused"
    status_code = 403
    reason = "delegated"
    description = ("This operation must be done by the user in person: the access token is delegated (an act "
                   "claim names who acts for the user).")
