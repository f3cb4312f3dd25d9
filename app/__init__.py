"""Application factory: ``flask --app app run`` and ``gunicorn 'app:create_app()'`` both use it."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping

from dotenv import load_dotenv
from flask import Flask, redirect, url_for
from flask_cors import CORS
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from local_issuer import LocalIssuer, install_cli
from namespaces import NAMESPACES
from security import AccessTokenValidator, KeySetCache, require_auth
from swagger import api_scopes, build_api, json_error_response, unexpected_error_response

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
    )
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
    keys = KeySetCache(
        settings.issuer,
        jwks_url=settings.jwks_url,
        ttl=settings.jwks_cache_ttl,
        cooldown=settings.jwks_cooldown,
        timeout=settings.jwks_timeout,
        source=local.jwks if local else None,
    )
    validator = AccessTokenValidator(
        keys,
        issuer=settings.issuer,
        audience=settings.audience,
        algorithms=settings.algorithms,
        leeway=settings.leeway,
        cache_size=settings.token_cache_size,
        cache_ttl=settings.token_cache_ttl,
    )
    require_auth.init_app(app, validator)

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

    if settings.cors_origins:
        CORS(
            app,
            origins=list(settings.cors_origins),
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["WWW-Authenticate", "Retry-After"],
            max_age=600,
        )
    _trust_proxies(app, settings)
    return app


def _add_health_check(app: Flask) -> None:
    """``GET /healthz``: liveness for load balancers. A plain Flask route, so it is not in the API docs,
    and it depends on nothing outside the process (an issuer outage must not take every instance out)."""

    def healthz():
        return {"status": "ok"}, 200, {"Cache-Control": "no-store"}

    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])


def _trust_proxies(app: Flask, settings: Settings) -> None:
    """Behind TRUSTED_PROXIES proxies, believe their X-Forwarded-* headers, so that generated URLs
    (docs, OAuth2 redirect) carry the public scheme, host and prefix. Off (0) by default: without a
    proxy in front, those headers come from the caller and must be ignored."""
    hops = settings.trusted_proxies
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)


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
