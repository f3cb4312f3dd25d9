"""The Flask-RESTX ``Api``: one per app, with its security schemes and docs page."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask import has_request_context, render_template, request, url_for
from flask_restx import Api

from security.discovery import Endpoints, ProviderEndpoints
from security.net import is_direct_loopback, is_loopback_host
from security.resource_metadata import EXAMPLE_METADATA_URL, metadata_url, resource_identifier
from security.settings import AuthSettings, DPoPSettings

from . import info
from .auth_schemes import BEARER, drop_undefined_requirements, local_endpoints, security_definitions
from .contract import ContractApi
from .page_headers import docs_page_headers


class DocsApi(ContractApi):
    """The contract Api, with security definitions computed when the spec is served (see auth_schemes), and
    the challenges' ``resource_metadata`` the one this request would be refused with."""

    def __init__(self, *args, definitions, describe, public_url: str | None, **kwargs):
        self._definitions = definitions
        self._describe = describe
        self._public_url = public_url
        super().__init__(*args, **kwargs)

    @property
    def __schema__(self):
        schema = super().__schema__  # built once by flask-restx, then cached
        if "paths" not in schema or not has_request_context():
            return schema
        schema = self._with_metadata_url(schema)  # a copy
        schema["securityDefinitions"] = self._definitions()
        schema["info"]["description"] = self._describe()  # names the token endpoint in force
        drop_undefined_requirements(schema)
        return schema

    def document(self, fmt: str = "swagger") -> dict:
        document = super().document(fmt)
        return self._with_metadata_url(document) if fmt != "swagger" else document

    def _with_metadata_url(self, document: dict) -> dict:
        """A copy of ``document`` whose examples name the metadata URL this request's refusals name, when that
        is PUBLIC_URL's or a loopback host's. Any other host the request came by stays out of the documents,
        as out of every page (app/proxies.py): they keep the example's."""
        text = json.dumps(document)
        resource = resource_identifier(request.environ, self._public_url)
        if self._public_url or is_loopback_host(urlsplit(resource).hostname):
            text = text.replace(EXAMPLE_METADATA_URL, json.dumps(metadata_url(resource))[1:-1])
        return json.loads(text)


def build_api(auth: AuthSettings, dpop: DPoPSettings, scopes: dict[str, str], *,
              swagger_ui_client_id: str | None = None, local_client=None) -> DocsApi:
    """``scopes`` (name -> description) are the API's, collected from its namespaces (``api_scopes``);
    ``swagger_ui_client_id`` is the provider's client the docs' login uses (SWAGGER_UI_OAUTH_CLIENT_ID);
    ``local_client`` (id and secret) is given in local mode: the docs page prefills it."""
    provider = ProviderEndpoints(auth.issuer, use_discovery=not auth.uses_auth0_paths,
                                 timeout=min(auth.jwks_timeout, 2.0), ttl=auth.jwks_cache_ttl)

    def endpoints() -> Endpoints:
        return local_endpoints(auth.issuer) if auth.uses_local_issuer else provider.get()

    schemes = dpop.schemes

    def definitions() -> dict:
        return security_definitions(endpoints(), local=auth.uses_local_issuer, scopes=scopes, schemes=schemes)

    def describe(token_url: str) -> str:
        return info.description(issuers=auth.issuers, audiences=auth.audiences, local=auth.uses_local_issuer,
                                scopes=scopes, dpop=dpop.mode, auth0=auth.uses_auth0_paths, token_url=token_url)

    api = DocsApi(
        title=info.TITLE,
        version=info.VERSION,
        description=describe(provider.fallback.token),
        contact=info.CONTACT.get("name"),
        contact_email=info.CONTACT.get("email"),
        license=info.LICENSE["name"],
        license_url=info.LICENSE["url"],
        doc="/docs",
        authorizations={BEARER: security_definitions(provider.fallback, local=False, scopes=scopes)[BEARER]},
        definitions=definitions,
        public_url=auth.public_url,
        describe=lambda: describe(endpoints().token),
        schemes=schemes,
        validate=True,
        ordered=True,
    )

    @api.documentation
    def docs_page():
        resource = not auth.uses_local_issuer and not auth.uses_auth0_paths  # AUTH_ISSUER: RFC 8707
        docs = docs_settings(api, auth.audience, dpop.mode, swagger_ui_client_id, local_client, resource=resource)
        page = render_template("swagger-ui.html", title=api.title, docs=docs)
        token_urls = (endpoints().token, provider.fallback.token)  # fallback: discovery may answer later
        return page, 200, docs_page_headers(token_urls, local=auth.uses_local_issuer)

    return api


def oauth2_redirect_url() -> str:
    """Swagger UI's OAuth2 redirect page (served by flask-restx), at the host and prefix of this request."""
    return url_for("restx_doc.static", filename="oauth2-redirect.html", _external=True)


def docs_settings(api: Api, audience: str, dpop_mode: str, client_id: str | None, local_client, *,
                  resource: bool = False) -> dict:
    """What our swagger-ui.html template hands to Swagger UI: spec URL (OpenAPI 3; the header links both
    documents), redirect page and OAuth defaults. The login names the API by Auth0's ``audience`` and, with
    ``resource`` (any other provider), by RFC 8707's ``resource`` too, which the page also puts in the token
    request's body (Swagger UI adds these parameters to the token URL's query only)."""
    oauth = {
        "appName": info.TITLE,
        "usePkceWithAuthorizationCodeGrant": True,
        "additionalQueryStringParams": {"audience": audience, **({"resource": audience} if resource else {})},
        "clientId": client_id or "",
    }
    if local_client is not None:
        oauth["clientId"] = local_client.client_id
        # shown only to a loopback viewer at a loopback host name, the only place the secret works
        if is_direct_loopback(request.remote_addr, urlsplit(request.host_url).hostname, request.headers):
            oauth["clientSecret"] = local_client.client_secret
    return {
        "specsUrl": url_for("openapi"),  # OpenAPI 3: named examples in a selector, and links
        "documents": {"OpenAPI 3.0": url_for("openapi"), "Swagger 2.0": api.specs_url},
        # a path: the page makes it absolute against its own address, so the Host header cannot move it
        "oauth2RedirectUrl": url_for("restx_doc.static", filename="oauth2-redirect.html"),
        "oauth": oauth,
        "dpop": dpop_mode,  # off: the page signs no proofs; required: it says when it cannot sign any
        "resource": audience if resource else None,
    }
