"""What the API says about itself: title, version (kept here only), description, contact, license."""

TITLE = "Messages API"
VERSION = "1.0.0"
CONTACT = {"name": "Messages API maintainers", "email": "api-team@example.com"}
LICENSE = {"name": "MIT", "url": "https://opensource.org/licenses/MIT"}

ERROR_FORMAT = """\
## Errors
Every error is JSON `{"error": "...", "error_description": "..."}`.
- **401** `unauthorized`: no token, or an `Authorization` header in a form this API does not take
  (challenge: `WWW-Authenticate: Bearer realm="api"` and/or `DPoP algs="..."`, the schemes it takes, each
  with `resource_metadata`: where `/.well-known/oauth-protected-resource` tells a client which issuers
  and scopes to use, RFC 9728).
- **401** `invalid_token`: the token failed validation; `error_description` says why
  (expired, wrong audience, unknown key, DPoP binding...). The challenge repeats both, on the scheme used.
- **403** `insufficient_scope`: the token is valid but lacks the scope; the challenge names it.
- **401** `insufficient_user_authentication` (step-up, RFC 9470): the operation needs a stronger or more
  recent login; the challenge's `acr_values` and `max_age` say what to ask the issuer for.
- **403** `delegation_refused`: a delegated token (an `act` claim, RFC 8693) on an operation a user must
  do in person.
- **400** `invalid_dpop_proof`, `invalid_request`: a DPoP proof that fails a check, or a DPoP request
  in the wrong form. **401** `use_dpop_nonce`: nonces are on and the proof lacks the current one, given in
  the `DPoP-Nonce` header.
- **400** `invalid_request`, on any route: the request names a host this API does not answer to.
- **503** `temporarily_unavailable`: the issuer's signing keys could not be fetched (or the DPoP replay
  store, or the database, cannot be reached); retry after `Retry-After` seconds.
- The messages routes answer more (`invalid_request`, `not_author`, `precondition_failed`...): each
  operation lists its answers, with an example of each.
"""

DPOP = {
    "off": "Tokens are sent as `Authorization: Bearer <token>`; DPoP is off.",
    "allowed": ("Tokens are sent as `Authorization: Bearer <token>`, or, DPoP-bound (RFC 9449), as "
                "`Authorization: DPoP <token>` with a fresh proof in a `DPoP` header on every request."),
    "required": ("Tokens must be DPoP-bound (RFC 9449): `Authorization: DPoP <token>` with a fresh proof in a "
                 "`DPoP` header on every request."),
}


LOCAL_TOKENS = """\
- **Local issuer** (development, when no provider is configured): the API runs its own issuer.
  Use the OAuth2 login under **Authorize**, or run `make token` and paste the token into the `bearer` field.
- **A provider** (Auth0 with `AUTH0_DOMAIN`, any OpenID Connect provider with `AUTH_ISSUER`; `AUTH0_AUDIENCE`
  names the API): log in under **Authorize**, or ask its token endpoint, as this page then says.
"""


def tokens_section(*, local: bool, auth0: bool, token_url: str, audience: str) -> str:
    """How to get a token from the issuer in force: its real token endpoint, and the parameter that names this
    API there (Auth0's `audience`; RFC 8707's `resource` for any other provider, which the page's login sends)."""
    head = ("## Getting a token\nSend it as `Authorization: Bearer <token>`. In Swagger UI, press **Authorize**; "
            "its `bearer` field takes\nthe token alone or with the `Bearer ` prefix.\n")
    if local:
        return head + LOCAL_TOKENS
    target = f"`audience={audience}`" if auth0 else f"`resource={audience}` (RFC 8707)"
    request = (f"- Or a client-credentials request: `POST {token_url}` with `grant_type=client_credentials`, "
               f"your client's credentials and {target}.\n")
    if auth0:
        return (head + "- **Auth0**: log in under **Authorize** (authorization code with PKCE; the page sends "
                f"`audience={audience}`).\n" + request
                + "- Or copy one from the Auth0 dashboard (APIs, your API, *Test*).\n")
    return (head + "- **OpenID Connect provider** (`AUTH_ISSUER`): log in under **Authorize** (authorization code "
            f"with PKCE; the page sends `resource={audience}`, and Auth0's `audience` too).\n" + request)


def scopes_section(scopes: dict[str, str]) -> str:
    return (
        "## Scopes\n"
        + "".join(f"- `{name}`: {text}\n" for name, text in scopes.items())
        + "\nA token carries them in its `scope` claim (space-separated), or in Auth0 RBAC's `permissions` array.\n"
    )


def _any_of(values) -> str:
    return " or ".join(f"`{value}`" for value in values)


INTRO = ("The reference Flask-RESTX API protected by Auth0 (or any OpenID Connect provider). Press **Authorize** "
         "to log in (or paste a token), then *Try it out* on a route.")
FOLDED = "Getting a token, scopes, errors, DPoP"
MORE = ("More in the README (*Calling it*, *Calling it with DPoP*, *Messages*, *Errors*) and in `docs/swagger-ui.md`, "
        "which describes this page.")


def description(*, issuers, audiences, local: bool, scopes: dict[str, str], dpop: str, auth0: bool = False,
                token_url: str = "") -> str:
    """The `info.description`: a short intro and the mode in force, then, folded (an HTML `<details>`, which
    CommonMark keeps and Swagger UI draws closed), how to get a token, the scopes and the error format: the
    page's first screen shows the title, the intro, Authorize and the first routes. ``token_url``: the token
    endpoint of the issuer in force (discovered for a provider), ``auth0`` when it is Auth0."""
    if local:
        short = "**Development mode**: the API trusts its built-in local issuer."
        mode = (
            "**Development mode: this API trusts a local development issuer** "
            f"({_any_of(issuers)}), built in, for trying the API without an identity provider. "
            "Set `AUTH0_DOMAIN` and `AUTH0_AUDIENCE` (or `AUTH_ISSUER`) to trust Auth0 or another "
            "OpenID Connect provider instead."
        )
    else:
        short = mode = f"Tokens are issued by {_any_of(issuers)} for the audience {_any_of(audiences)}."
    return (
        f"{INTRO} {short}\n\n<details><summary>{FOLDED}</summary>\n\n"
        f"{mode} {DPOP[dpop]}\n\n{tokens_section(local=local, auth0=auth0, token_url=token_url, audience=audiences[0])}"
        f"\n{scopes_section(scopes)}\n{ERROR_FORMAT}\n{MORE}\n\n</details>\n"
    )
