"""The OpenAPI side: the Api object, its security schemes, shared models and error shape."""

from .api import build_api, oauth2_redirect_url
from .auth_schemes import BEARER
from .errors import json_error_response, unexpected_error_response
from .models import error_model, message_model
from .page_headers import add_redirect_page_headers
from .protection import Scope, api_scopes, protected, returns

__all__ = [
    "BEARER", "Scope", "add_redirect_page_headers", "api_scopes", "build_api", "error_model", "json_error_response",
    "message_model", "oauth2_redirect_url", "protected", "returns", "unexpected_error_response",
]
