"""Authlib's Flask ResourceProtector with RFC 6750 / RFC 9449 header parsing, "any of these scopes", and
refusals in the API's one error shape (``refusals``).

The validator is looked up on the current app, so one module-level ``require_auth`` decorator
serves every app the factory builds (tests build many). Which schemes (Bearer, DPoP) a request may
use, and the challenges refusals carry, are the app's ``AuthorizationSchemes`` (dpop_protection.py).
Answers of protected views carry ``Cache-Control: no-store``.
"""

from __future__ import annotations

import functools
import json
import logging
import time

from authlib.integrations.flask_oauth2 import ResourceProtector, token_authenticated
from authlib.oauth2 import OAuth2Error
from flask import current_app, g, request
from flask.globals import app_ctx, request_ctx
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response

from metrics.catalog import AUTH_REFUSALS

from .dpop_protection import NEXT_NONCE, AuthorizationSchemes
from .errors import AuthFailure, DelegationRefused, InsufficientScope, MissingCredentials
from .scopes import check_scope_names
from .settings import AUTH_SETTINGS
from .validator import AccessToken, AccessTokenValidator, log_context, required_scopes

logger = logging.getLogger("security.refused")

EXTENSION = "access_token_validator"
#: The WSGI environ key holding the actor of a request's delegated token (act.sub), for the access log.
ACTOR = "api.actor"
SCHEMES = "authorization_schemes"


def _field(value) -> str:
    """A log field that cannot break the line: quoted, escaped and cut short; ``-`` when absent."""
    return "-" if value is None else json.dumps(str(value)[:200])


def _short(value) -> str | None:
    """A JSON log line's field: the value as text, cut short as ``_field`` cuts it."""
    return None if value is None else str(value)[:200]


def no_store(answer, extra: dict[str, str] | None = None):
    """A view's answer with ``Cache-Control: no-store`` (and the ``extra`` headers): computed for one
    caller, it must not be kept by any cache (RFC 9111 §5.2.2.5). Done on the answer rather than by an
    after-request hook, which would cost a protected request about as much again as its cached token
    check. Takes every form a Flask or Flask-RESTX view may return: a body, a Response, or a tuple with a
    status and/or headers."""
    added = {"Cache-Control": "no-store", **(extra or {})}
    if isinstance(answer, Response):
        answer.headers.update(added)
        return answer
    if not isinstance(answer, tuple):
        return answer, 200, added
    body, *rest = answer
    status, headers = 200, None
    if len(rest) == 2:
        status, headers = rest
    elif rest and isinstance(rest[0], (dict, list, Headers)):
        headers = rest[0]
    elif rest:
        status = rest[0]
    headers = Headers(headers)
    headers.update(added)
    return body, status, headers


class BearerProtector(ResourceProtector):
    """``@require_auth()`` / ``@require_auth("read:messages")`` / ``@require_auth(any_of=[...])`` for Flask views."""

    def __call__(self, scopes=None, optional=False, *, any_of=(), **kwargs):
        """Authlib's decorator, with a short path for cached tokens and the answer marked ``no-store``.

        ``scopes``: every one of them is needed (Authlib's argument); ``any_of``: at least one of these is
        (OAuth2's "any of", as a route's documented security alternatives say); the view tells which from
        ``current_token.scopes``. A token without them is refused ``insufficient_scope`` either way.

        The short path: when the header is the canonical ``Bearer <token>`` or ``DPoP <token>`` and the
        verified-token cache vouches for that token with every scope the route needs, the request goes on
        with one cache lookup (and, for DPoP, the whole proof check): see ``AuthorizationSchemes.cached``.
        Everything else takes ``acquire_token``, Authlib's full path, which also answers with the precise
        error.

        ``optional=True`` lets a request without any Authorization header reach the view without a
        token; a header that is there is checked as usual, and a bad one is refused.
        """
        if callable(scopes):  # used bare: @require_auth
            return self()(scopes)
        if isinstance(scopes, str):
            scopes = [scopes]
        any_of = tuple(any_of)
        if len(any_of) == 1:  # one alone is simply needed: the validator's own check, on both paths
            scopes, any_of = [*(scopes or ()), *any_of], ()
        required = required_scopes(scopes)  # the rule validate_token applies on the full path
        check_scope_names(required + any_of)
        accepted = frozenset(any_of)

        def decorator(view):
            @functools.wraps(view)
            def guarded(*args, **view_kwargs):
                # One context lookup for both the app and the request: each of Flask's proxies
                # (current_app, request) makes its own, and on this path that costs more than the
                # cache lookup itself.
                context = request_ctx._get_current_object()  # type: ignore[attr-defined]  # typed as what it proxies
                environ = context.request.environ
                schemes = context.app.extensions[SCHEMES]
                header = environ.get("HTTP_AUTHORIZATION", "")
                try:
                    token = schemes.cached(header, environ, required)
                except OAuth2Error as error:  # a DPoP proof refused on the short path
                    self.raise_error_response(error)
                if token is not None:
                    app_context = app_ctx._get_current_object()  # type: ignore[attr-defined]
                    self._accept(token, app_context.g)  # g without a proxy lookup of its own
                else:
                    try:
                        token = self.acquire_token(scopes, **kwargs)
                    except MissingCredentials as error:
                        if not (optional and error.reason == MissingCredentials.reason):
                            self.raise_error_response(error)
                    except OAuth2Error as error:
                        self.raise_error_response(error)
                if token is not None and token.actor is not None:
                    environ[ACTOR] = token.actor
                if accepted and token is not None and accepted.isdisjoint(token.scopes):
                    self.raise_error_response(InsufficientScope(list(any_of), any_of=True, context=log_context(token)))
                next_nonce = environ.get(NEXT_NONCE)
                answer = view(*args, **view_kwargs)
                if next_nonce:  # RFC 9449 §8.2: the next nonce rides on a successful answer
                    return no_store(answer, {"DPoP-Nonce": next_nonce})
                if type(answer) is dict:  # what our views return: the quick way to no-store
                    return answer, 200, {"Cache-Control": "no-store"}
                return no_store(answer)

            return guarded

        return decorator

    def step_up(self) -> None:
        """Refuse the current request 401 ``insufficient_user_authentication`` unless its token's login is as
        strong and as recent as AUTH_STEP_UP_* ask (RFC 9470; nothing to check when they are unset). Called by
        a view, inside ``@require_auth``, where the operation needs it."""
        step_up = current_app.config[AUTH_SETTINGS].step_up
        if not step_up.on:
            return
        token = g.authlib_server_oauth2_token
        shortfall = step_up.shortfall(token.claims, time.time())
        if shortfall:
            self.raise_error_response(step_up.failure(reason=f"step_up_{shortfall}", context=log_context(token)))

    def in_person(self) -> None:
        """Refuse the current request 403 ``delegation_refused`` when its token is delegated (``act``, RFC 8693
        §4.1): an operation a person must do themselves, never an agent acting for them. Called by a view,
        inside ``@require_auth``."""
        token = g.authlib_server_oauth2_token
        if token.actor is not None:
            self.raise_error_response(DelegationRefused(context=log_context(token)))

    def init_app(self, app, validator: AccessTokenValidator, schemes: AuthorizationSchemes | None = None) -> None:
        """``schemes``: which schemes the app takes (default: Bearer only)."""
        app.extensions[EXTENSION] = validator
        app.extensions[SCHEMES] = schemes or AuthorizationSchemes(validator)

    def parse_request_authorization(self, req):
        return current_app.extensions[SCHEMES].parse(req)

    def acquire_token(self, scopes=None, **kwargs):
        """Authlib's ``acquire_token``, minus its per-request ``FlaskJsonRequest`` wrapper.

        That wrapper computes ``request.url`` on every call, a cost as large as a cached token check,
        and nothing here reads it: our header parsing and validator use the Flask request's environ.
        """
        if isinstance(scopes, str):
            scopes = [scopes]
        current = request._get_current_object()  # type: ignore[attr-defined]
        token = self.validate_request(scopes=scopes, request=current, **kwargs)
        self._accept(token, g._get_current_object())
        return token

    def _accept(self, token: AccessToken, app_globals) -> None:
        """The one step that accepts a token, on the short path and the full one alike: Authlib's
        ``token_authenticated`` signal, then the attribute of ``flask.g`` that ``current_token`` reads."""
        if token_authenticated.receivers:
            token_authenticated.send(self, token=token)
        app_globals.authlib_server_oauth2_token = token

    def raise_error_response(self, error: OAuth2Error):
        if not isinstance(error, AuthFailure):  # an Authlib error we did not anticipate
            error = MissingCredentials(reason=getattr(error, "error", "refused"))
        context = error.context
        kid, iss, actor = context.get("kid"), context.get("iss"), context.get("actor")
        logger.info(
            "auth refused route=%s status=%d reason=%s kid=%s iss=%s actor=%s",
            _field(request.path), error.status_code, error.reason, _field(kid), _field(iss), _field(actor),
            extra={"status": error.status_code, "reason": error.reason, "kid": _short(kid), "iss": _short(iss),
                   "actor": _short(actor)},
        )
        AUTH_REFUSALS.labels(reason=error.reason).inc()
        raise error.refusal(current_app.extensions[SCHEMES].challenge(error, request))
