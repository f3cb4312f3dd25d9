"""What the API says about itself: title, version (kept here only), description, contact, license."""

TITLE = "Messages API"
VERSION = "1.0.0"
CONTACT = {"name": "Messages API maintainers", "email": "api-team@example.com"}
LICENSE = {"name": "MIT", "url": "https://opensource.org/licenses/MIT"}

ERROR_FORMAT = """\
## Errors
Every error is JSON `{"error": "...", "error_description": "..."}`.
- **401** `unauthorized`: no token, or an `Authorization` header that is not `Bearer <token>`
  (challenge: `WWW-Authenticate: Bearer realm="api"`).
- **401** `invalid_token`: the token failed validation; `error_description` says why
  (expired, wrong audience, unknown key...). The challenge repeats both.
- **403** `insufficient_scope`: the token is valid but lacks the scope; the challenge names it.
- **503** `temporarily_unavailable`: the issuer's signing keys could not be fetched; retry after `Retry-After` seconds.
"""


def description(*, issuer: str, audience: str, local: bool) -> str:
    if local:
        how = (
            "**Development mode: this API trusts a local development issuer** "
            f"(`{issuer}`), built in, for trying the API without an identity provider. "
            "Set `AUTH0_DOMAIN` and `AUTH0_AUDIENCE` (or `AUTH_ISSUER`) to trust Auth0 or another OpenID "
            "Connect provider instead.\n\n"
            "Get a token: press **Authorize** and use the OAuth2 login, or run `make token` and paste it "
            "into the `bearer` field (the `Bearer ` prefix is optional)."
        )
    else:
        how = (
            f"Tokens are issued by `{issuer}` for the audience `{audience}`.\n\n"
            "Get a token: press **Authorize** and log in (authorization code with PKCE), or paste an access "
            "token (Auth0 dashboard, API, *Test* tab; or a client-credentials request) into the `bearer` field."
        )
    return (
        "The reference Flask-RESTX API protected by Auth0 (or any OpenID Connect provider).\n\n"
        f"{how}\n\n"
        "## Scopes\n- `read:messages`: read the scoped private message. Auth0 RBAC's `permissions` claim "
        "counts as well as `scope`.\n\n" + ERROR_FORMAT
    )
