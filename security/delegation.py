"""Delegation (RFC 8693 §4.1): a token's ``act`` claim names who is acting for its subject.

The caller has two parts: the subject (``sub``, whom the action is for) and the current actor (the
outermost ``act.sub``, who is acting: an agent, a service). ``act`` nested inside ``act`` names the earlier
actors, outermost first: they serve audit only, never a decision. A malformed ``act`` at any depth makes
the whole token invalid: a claim about who is acting that cannot be read must not be read as "nobody".
"""

from __future__ import annotations

from .errors import InvalidToken

MAX_CHAIN = 16  # actors in one chain; a token naming more is refused as malformed


def delegation_chain(claims: dict) -> list[str]:
    """Every actor's ``sub``, the current one first; [] for a token nobody acts on. InvalidToken when an
    ``act`` is not an object with a non-empty string ``sub``, at any depth."""
    chain: list[str] = []
    act = claims.get("act")
    while act is not None:
        if not isinstance(act, dict) or not isinstance(act.get("sub"), str) or not act["sub"]:
            raise InvalidToken("The token's act claim is malformed.", reason="malformed_act")
        if len(chain) == MAX_CHAIN:
            raise InvalidToken("The token's act claim names too many actors.", reason="malformed_act")
        chain.append(act["sub"])
        act = act.get("act")
    return chain


def current_actor(claims: dict) -> str | None:
    """Who is acting for the subject (the outermost ``act.sub``); None when the subject acts itself."""
    chain = delegation_chain(claims)
    return chain[0] if chain else None
