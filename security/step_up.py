"""Step-up authentication (RFC 9470): an operation may need a login that is stronger (its ``acr`` one of
``AUTH_STEP_UP_ACR``) or recent (its ``auth_time`` at most ``AUTH_STEP_UP_MAX_AGE`` seconds ago) than the
token's. Routes ask for it where the operation needs it (``require_auth.step_up()``); a token that falls
short is otherwise valid, and is refused 401 ``insufficient_user_authentication`` with a challenge saying
what a new login needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeGuard

from .errors import InsufficientUserAuthentication

#: Auth0's (and OpenID's PAPE) acr value for a login with multi-factor authentication.
MFA_ACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


@dataclass(frozen=True)
class StepUp:
    """What a stepped-up operation needs of the token's login: an ``acr`` among ``acr`` (none: any), and an
    ``auth_time`` at most ``max_age`` seconds old (None: any). Neither: step-up is off. The issuer puts
    both claims under ``namespace`` (Auth0 reserves the plain names: ``https://messages-api/acr``...)."""

    acr: tuple[str, ...] = ()
    max_age: int | None = None
    namespace: str = ""

    def claim(self, name: str) -> str:
        """The name the token gives a login claim (``acr``, ``amr``, ``auth_time``) under."""
        return self.namespace + name

    @property
    def on(self) -> bool:
        return bool(self.acr) or self.max_age is not None

    def failure(self, **kwargs) -> InsufficientUserAuthentication:
        """The refusal of a login that falls short of this."""
        return InsufficientUserAuthentication(self.acr, self.max_age, **kwargs)

    def shortfall(self, claims: dict, now: float) -> str | None:
        """Why the login ``claims`` describe falls short (a reason for logs), or None when it is enough. A
        missing or malformed ``acr`` or ``auth_time`` falls short: the issuer did not vouch for the login."""
        if self.acr and claims.get(self.claim("acr")) not in self.acr:
            return "acr"
        if self.max_age is not None:
            auth_time = claims.get(self.claim("auth_time"))
            if not _finite_number(auth_time) or now - auth_time > self.max_age:
                return "auth_time"
        return None


def _finite_number(value) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: Off: what an app without AUTH_STEP_UP_* asks.
NO_STEP_UP = StepUp()
#: The documents' example: MFA within five minutes.
EXAMPLE_STEP_UP = StepUp((MFA_ACR,), 300)
