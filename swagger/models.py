"""Response models shared by every namespace: the quickstart routes' greeting, and the one error shape.

They carry no example of their own: each response documents the example of its own case (see protection).
"""

from flask_restx import Model, fields

#: What the quickstart routes (/api/public, /api/private...) answer: ``{"message": "Hello from..."}``.
greeting_model = Model("Greeting", {"message": fields.String(required=True, description="The message.")})

error_model = Model(
    "Error",
    {
        "error": fields.String(
            required=True,
            description="An error code: RFC 6750 (`invalid_token`, `insufficient_scope`, `invalid_request`), "
            "RFC 9449 (`invalid_dpop_proof`, `use_dpop_nonce`), `unauthorized` when no token was sent, "
            "`temporarily_unavailable`, `not_author` for someone else's item, `idempotency_key_reused`, or an "
            "HTTP error name (`not_found`, `precondition_failed`, `precondition_required`...).",
        ),
        "error_description": fields.String(
            description="What went wrong, for a human. Never contains the token or the DPoP proof."),
    },
)
