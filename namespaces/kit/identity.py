"""The caller: the token's issuer and subject (security.Owner), who owns what the request writes."""

from __future__ import annotations

from refusals import Refusal
from security import Owner, current_token
from security.settings import current_auth_settings
from storage import InvalidInput, check_subject


def caller(things: str) -> Owner:
    """The token's issuer and subject: the owner of what it writes (its `iss` is one the app trusts); a token
    without a usable `sub` is refused (``no_subject``)."""
    claims = current_token.claims
    try:
        return Owner(claims["iss"], check_subject(claims.get("sub"), "author"))
    except InvalidInput:
        raise no_subject(things) from None


def no_subject(things: str) -> Refusal:
    return Refusal(403, "forbidden", f"The access token has no usable subject (sub claim), so it cannot own {things}.")


def several_issuers() -> bool:
    """The app trusts several issuers: an owner then needs its issuer to be named."""
    return len(current_auth_settings().issuers) > 1
