"""The Flask-RESTX ``Api``: one per app, with its security schemes and JSON errors."""

from __future__ import annotations

from werkzeug.exceptions import HTTPException

from . import info
from .contract import ContractApi
from .errors import error_body, error_headers, unexpected_error_response

BEARER = "bearer"


def security_definitions() -> dict:
    """The schemes Swagger UI offers under Authorize. Swagger 2.0 has no http/bearer type: apiKey it is."""
    return {
        BEARER: {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An access token. Paste it alone or as `Bearer <token>`.",
        },
    }


def build_api(settings) -> ContractApi:
    api = ContractApi(
        title=info.TITLE,
        version=info.VERSION,
        description=info.description(issuer=settings.issuer, audience=settings.audience, local=settings.local_issuer),
        contact=info.CONTACT.get("name"),
        contact_email=info.CONTACT.get("email"),
        license=info.LICENSE["name"],
        license_url=info.LICENSE["url"],
        doc="/docs",
        authorizations=security_definitions(),
        validate=True,
        ordered=True,
    )

    @api.errorhandler(HTTPException)
    def http_error(error):
        return error_body(error), error.code or 500, error_headers(error)

    @api.errorhandler(Exception)
    def unexpected_error(error):
        response = unexpected_error_response(error)
        return response.get_json(), response.status_code

    return api

