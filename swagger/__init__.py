"""The OpenAPI side: the Api object, its security schemes, shared models and the documented answers."""

from .api import build_api, oauth2_redirect_url
from .auth_schemes import BEARER
from .bodies import json_body
from .models import error_model, greeting_model
from .page_headers import add_redirect_page_headers
from .protection import SUCCESS, Case, Scope, answers, api_scopes, example, failure_example, links, protected, returns

__all__ = [
    "BEARER", "SUCCESS", "Case", "Scope", "add_redirect_page_headers", "answers", "api_scopes", "build_api",
    "error_model", "example", "failure_example", "greeting_model", "json_body", "links", "oauth2_redirect_url",
    "protected", "returns",
]
