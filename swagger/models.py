"""Response models shared by every namespace: one message shape, one error shape."""

from flask_restx import Model, fields

message_model = Model(
    "Message",
    {"message": fields.String(required=True, description="The message.", example="Hello from a public endpoint!")},
)

error_model = Model(
    "Error",
    {
        "error": fields.String(
            required=True,
            description="An error code: RFC 6750 (`invalid_token`, `insufficient_scope`), "
            "`unauthorized` when no token was sent, `temporarily_unavailable`, or an HTTP error name.",
            example="invalid_token",
        ),
        "error_description": fields.String(
            description="What went wrong, for a human. Never contains the token.",
            example="The token has expired.",
        ),
    },
)
