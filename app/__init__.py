"""Application factory: ``flask --app app run`` and ``gunicorn 'app:create_app()'`` both use it."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping

from dotenv import load_dotenv
from flask import Flask, redirect, request, url_for
from flask_cors import CORS
from werkzeug.exceptions import HTTPException

from local_issuer import LocalIssuer, install_cli
from namespaces import NAMESPACES
from security import AccessTokenValidator, KeySetCache, require_auth
from security.dpop_protection import AuthorizationSchemes
from swagger import add_redirect_page_headers, api_scopes, build_api, json_error_response, unexpected_error_response

from .json_body import ApiJSONProvider, ApiRequest
from .proxies import redirect_with_paths, trust_proxies
from .settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["ConfigError", "Settings", "create_app", "load_settings"]


def create_app(config: Mapping[str, str] | None = None, *, instance_path: str | Path | None = None,
               namespaces=NAMESPACES) -> Flask:
    """Build the app from the environment (and ``.env``), or from ``config`` alone when given (tests).

    ``instance_path`` is where the local issuer keeps its key (default: ``instance/`` in the repo);
    ``namespaces`` are the (namespace, URL prefix) pairs served, whose routes declare the API's scopes.
    """
    if config is None:
        load_dotenv(ROOT / ".env")
        config = os.environ
    settings = load_settings(config)

    app = Flask(
        __name__,
        instance_path=str(instance_path or ROOT / "instance"),
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
        ERROR_INCLUDE_MESSAGE=False,  # our error bodies are {"error", "error_description"} only
        RESTX_ERROR_404_HELP=False,
        RESTX_MASK_SWAGGER=False,
        SWAGGER_UI_DOC_EXPANSION="list",
    )
    _configure_logging(settings)

    # With no provider configured, the embedded issuer signs tokens and hands its JWKS straight to
    # the key cache: one validation path, only the key source differs.
    scopes = api_scopes(namespace for namespace, _ in namespaces)
    local = LocalIssuer(settings, Path(app.instance_path), scopes=list(scopes)) if settings.local_issuer else None
    keys = [  # each issuer its own key set, discovery and fetch budget: their keys are never mixed
        KeySetCache(
            issuer,
            jwks_url=settings.jwks_url,
            ttl=settings.jwks_cache_ttl,
            cooldown=settings.jwks_cooldown,
            timeout=settings.jwks_timeout,
            source=local.jwks if local else None,
        )
        for issuer in settings.issuers
    ]
    validator = AccessTokenValidator(
        keys,
        issuer=settings.issuers,
        audience=settings.audiences,
        algorithms=settings.algorithms,
        leeway=settings.leeway,
        cache_size=settings.token_cache_size,
        cache_ttl=settings.token_cache_ttl,
    )
    require_auth.init_app(app, validator, AuthorizationSchemes.from_settings(settings, validator))

    if local:
        local.init_app(app)
    install_cli(app)

    app.add_url_rule("/", "index", lambda: redirect(url_for("doc")))  # keeps a proxy's prefix
    _add_health_check(app)
    api = build_api(settings, scopes, local_client=local.client if local else None)
    for namespace, path in namespaces:
        api.add_namespace(namespace, path=path)
    api.init_app(app)

    app.register_error_handler(HTTPException, json_error_response)
    app.register_error_handler(Exception, unexpected_error_response)

    add_redirect_page_headers(app)
    redirect_with_paths(app)
    _allow_cors(app, settings)
    app.wsgi_app = trust_proxies(app.wsgi_app, settings)
    return app


def _add_health_check(app: Flask) -> None:
    """``GET /healthz``: liveness for load balancers. A plain Flask route, so it is not in the API docs,
    and it depends on nothing outside the process (an issuer outage must not take every instance out)."""

    def healthz():
        return {"status": "ok"}, 200, {"Cache-Control": "no-store"}

    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])


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
        allow_headers=["Authorization", "Content-Type", "DPoP"],
        expose_headers=["WWW-Authenticate", "Retry-After", "DPoP-Nonce"],
        max_age=600,
        vary_header=False,  # added below, always
    )

    @app.after_request
    def vary_on_origin(response):
        if request.path.startswith("/api/"):
            response.vary.add("Origin")
        return response


def _configure_logging(settings: Settings) -> None:
    """Log lines to stderr at LOG_LEVEL, unless the host (pytest) already set handlers.

    gunicorn configures only its own loggers, so under it these lines reach stderr beside its error
    log, in the same layout, with the worker's pid (several workers write to one stream).
    """
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
            datefmt="%Y-%m-%d %H:%M:%S %z",
        )
    for name in ("security", "app"):
        logging.getLogger(name).setLevel(settings.log_level)
