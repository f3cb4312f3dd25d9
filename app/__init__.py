"""Application factory: ``flask --app app run`` and ``gunicorn 'app:create_app()'`` both use it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

from dotenv import load_dotenv
from flask import Flask, redirect, request, url_for
from flask_cors import CORS

from config import INSTANCE_PATH, ROOT
from local_issuer import LocalIssuer, UnusableFile, install_cli
from namespaces import NAMESPACES
from refusals import Refusal, answer
from security import AccessTokenValidator, KeySetCache, require_auth
from security.dpop_protection import AuthorizationSchemes
from security.protector import EXTENSION
from security.replay import RedisReplayStore
from security.resource_metadata import WELL_KNOWN, metadata, resource_identifier
from security.settings import AUTH_SETTINGS
from swagger import add_redirect_page_headers, api_scopes, build_api, oauth2_redirect_url
from swagger.info import TITLE

from .database import open_stores
from .hosts import AbsoluteFormTarget, TrustedHosts
from .json_body import ApiJSONProvider, ApiRequest
from .logs import configure_logging, record_routes
from .proxies import redirect_with_paths, trust_proxies
from .readiness import add_readiness_check
from .request_ids import HEADER as REQUEST_ID_HEADER
from .request_ids import RequestIds
from .request_metrics import RequestMetrics, add_metrics
from .settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "build_key_sets", "build_token_validator", "create_app",
           "load_settings", "warm_up_key_sets"]


def create_app(config: Mapping[str, str] | None = None, *, instance_path: str | Path | None = None,
               namespaces=NAMESPACES) -> Flask:
    """Build the app from the environment (and ``.env``), or from ``config`` alone when given (tests).

    ``instance_path`` is where the local issuer keeps its key and SQLite its default database (default:
    ``instance/`` in the repo);
    ``namespaces`` are the (namespace, URL prefix) pairs served, whose routes declare the API's scopes.
    """
    settings = load_settings(_environment() if config is None else config)
    app = _flask_app(settings, instance_path)
    configure_logging(settings.log_level, settings.log_format)
    if settings.metrics or settings.log_format == "json":
        record_routes(app)  # first of the hooks: the request line and the metrics name the route
    # migrations first: a failed one stops start-up
    database = open_stores(app, settings, [namespace for namespace, _ in namespaces])
    scopes = api_scopes(namespace for namespace, _ in namespaces)

    # With no provider configured, the embedded issuer signs tokens and hands its JWKS straight to
    # the key cache: one validation path, only the key source differs.
    local_issuer = _local_issuer(settings, app, scopes) if settings.auth.uses_local_issuer else None
    keys = build_key_sets(settings, jwks_source=local_issuer.jwks if local_issuer else None)
    validator = build_token_validator(settings, keys)
    schemes = AuthorizationSchemes.from_settings(settings.auth, settings.dpop, validator)
    require_auth.init_app(app, validator, schemes)
    if local_issuer:
        local_issuer.init_app(app)
    install_cli(app)

    app.add_url_rule("/", "index", lambda: redirect(url_for("doc")))  # keeps a proxy's prefix
    _add_health_check(app)
    replays = schemes.verifier.replay_store if schemes.verifier else None  # checked when shared (Redis)
    add_readiness_check(app, database, keys, local_issuer=local_issuer is not None,
                        replay_store=replays if isinstance(replays, RedisReplayStore) else None)
    if settings.metrics:
        add_metrics(app)
    _add_resource_metadata(app, settings, scopes)
    _add_api(app, settings, scopes, namespaces, local_client=local_issuer.client if local_issuer else None)
    app.register_error_handler(Exception, answer)  # the one error handler, for every route (see refusals)

    add_redirect_page_headers(app)
    redirect_with_paths(app)
    _allow_cors(app, settings)
    # Outermost first: the request's id (on every answer, refusals included), the metrics (counting those
    # refusals too), then an absolute-form request line names the host, a trusted proxy may forward another,
    # and the host left is checked before any of the app runs.
    wsgi_app: Callable = AbsoluteFormTarget(trust_proxies(TrustedHosts.wrap(app.wsgi_app, settings), settings))
    if settings.metrics:
        wsgi_app = RequestMetrics(wsgi_app)
    app.wsgi_app = RequestIds(wsgi_app)  # type: ignore[method-assign]  # Flask's way to add WSGI middleware
    return app


def build_key_sets(settings: Settings, jwks_source: Callable[[], dict] | None = None) -> list[KeySetCache]:
    """Each issuer's signing keys, in the order of ``settings.auth.issuers``, fetched over HTTP (each issuer its
    own discovery, key set and fetch budget: their keys are never mixed), or taken from ``jwks_source``
    (the local issuer)."""
    auth = settings.auth
    return [KeySetCache(issuer, jwks_url=auth.jwks_url, ttl=auth.jwks_cache_ttl,
                        cooldown=auth.jwks_cooldown, timeout=auth.jwks_timeout, source=jwks_source)
            for issuer in auth.issuers]


def build_token_validator(settings: Settings, keys: list[KeySetCache], *,
                          clock: Callable[[], float] = time.time) -> AccessTokenValidator:
    """The access-token validator, with every value from the settings (``clock``: tests move time)."""
    auth = settings.auth
    return AccessTokenValidator(keys, issuer=auth.issuers, audience=auth.audiences, algorithms=auth.algorithms,
                                leeway=auth.leeway, cache_size=auth.token_cache_size, cache_ttl=auth.token_cache_ttl,
                                clock=clock)


def warm_up_key_sets(app: Flask) -> None:
    """Start fetching every issuer's keys, in the background, once a server has started with ``app`` (gunicorn's
    ``post_worker_init``, ``make run``): its first requests then wait for that one fetch rather than find
    no keys (see docs/providers.md, "The key set"). Returns at once, whether or not the issuers can be reached."""
    for keys in app.extensions[EXTENSION].key_sets.values():
        keys.warm_up()


def _environment() -> Mapping[str, str]:
    """The process environment, with the repository's ``.env`` filled in underneath."""
    load_dotenv(ROOT / ".env")
    return os.environ


def _flask_app(settings: Settings, instance_path: str | Path | None) -> Flask:
    """The bare Flask app: our templates and static files, request-shape rules and Flask-RESTX options."""
    app = Flask(
        __name__,
        instance_path=str(instance_path or INSTANCE_PATH),
        template_folder=str(ROOT / "swagger" / "templates"),  # our swagger-ui.html overrides flask-restx's
        static_folder=str(ROOT / "swagger" / "static"),  # the docs page's own script and styles
    )
    # Request shapes: over-deep or ambiguous JSON is a 400 invalid_request, and a path is routed as sent
    # (`/api//public` is a JSON 404: werkzeug's slash-merging redirect is an HTML 308 for GET and
    # crashes flask-restx's error router for other methods). Set before any route is added.
    app.json = ApiJSONProvider(app)
    app.request_class = ApiRequest
    app.url_map.merge_slashes = False
    app.config.update(
        SETTINGS=settings,
        RESTX_MASK_SWAGGER=False,
        SWAGGER_UI_DOC_EXPANSION="list",
    )
    app.config[AUTH_SETTINGS] = settings.auth  # for code in an app context: security.settings.current_auth_settings()
    return app


def _local_issuer(settings: Settings, app: Flask, scopes: dict[str, str]) -> LocalIssuer:
    """The embedded issuer, granting the API's scopes; a key or secret file it cannot use is a ConfigError."""
    try:
        return LocalIssuer(settings.local_issuer, settings.auth, settings.dpop, Path(app.instance_path),
                           scopes=list(scopes), redirect_uri=oauth2_redirect_url)
    except UnusableFile as error:
        raise ConfigError(str(error)) from None


def _add_api(app: Flask, settings: Settings, scopes: dict[str, str], namespaces, local_client) -> None:
    """The Flask-RESTX Api with its docs page, serving ``namespaces``."""
    api = build_api(settings.auth, settings.dpop, scopes, swagger_ui_client_id=settings.swagger_ui_client_id,
                    local_client=local_client)
    for namespace, path in namespaces:
        api.add_namespace(namespace, path=path)
    api.init_app(app)


def _add_health_check(app: Flask) -> None:
    """``GET /healthz``: liveness for load balancers. A plain Flask route, so it is not in the API docs,
    and it depends on nothing outside the process (an issuer outage must not take every instance out)."""

    def healthz():
        return {"status": "ok"}, 200, {"Cache-Control": "no-store"}

    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])


def _add_resource_metadata(app: Flask, settings: Settings, scopes: dict[str, str]) -> None:
    """``GET /.well-known/oauth-protected-resource`` (RFC 9728), and the same at the path-inserted location
    when the resource identifier has a path: what an agent that knows only this API's URL reads to find its
    issuers and scopes. A plain Flask route: public, not part of the API document. Any origin may read it
    (it holds nothing private); it is cached only when PUBLIC_URL fixes it, not the request's host."""
    auth = settings.auth

    def protected_resource_metadata(inserted: str = ""):
        resource = resource_identifier(request.environ, auth.public_url)
        if inserted and "/" + inserted.rstrip("/") != urlsplit(resource).path.rstrip("/"):
            raise Refusal(404, "not_found", "No protected resource has this identifier here.")
        document = metadata(resource, issuers=auth.issuers, scopes=scopes, dpop=settings.dpop, name=TITLE,
                            documentation=f"{resource}/docs")
        cache = "public, max-age=300" if auth.public_url else "no-store"
        return document, 200, {"Cache-Control": cache, "Access-Control-Allow-Origin": "*"}

    app.add_url_rule(WELL_KNOWN, "protected_resource_metadata", protected_resource_metadata, methods=["GET"])
    app.add_url_rule(f"{WELL_KNOWN}/<path:inserted>", "protected_resource_metadata", protected_resource_metadata,
                     methods=["GET"])


def _allow_cors(app: Flask, settings: Settings) -> None:
    """CORS for CORS_ORIGINS on the API routes only: never the docs page (it may embed the local client's
    secret) nor the local issuer's /authorize and /oauth/token, which another site must not drive.

    ``Vary: Origin`` goes on every API answer, whatever the request's Origin: flask-cors adds it only
    with several allowed origins, and a cache must never hand one origin's answer to another.
    """
    if not settings.cors_origins:
        return
    CORS(
        app,
        resources={r"/api/*": {"origins": list(settings.cors_origins)}},
        allow_headers=["Authorization", "Content-Type", "DPoP", "If-Match", "If-None-Match", "Idempotency-Key"],
        expose_headers=["WWW-Authenticate", "Retry-After", "DPoP-Nonce", "ETag", "Location", REQUEST_ID_HEADER],
        max_age=600,
        vary_header=False,  # added below, always
    )

    @app.after_request
    def vary_on_origin(response):
        if request.path.startswith("/api/"):
            response.vary.add("Origin")
        return response
