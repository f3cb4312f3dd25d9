"""Who a token speaks for: its issuer and its subject. OpenID Connect makes a `sub` unique within one issuer
only, so the two together name one user, e.g. the author of what a request writes."""

from __future__ import annotations

from typing import NamedTuple


class Owner(NamedTuple):
    issuer: str  # the token's `iss`
    subject: str  # its `sub`
