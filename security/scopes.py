"""The scopes this API defines. One list, read by the routes, the docs and the local issuer."""

READ_MESSAGES = "read:messages"

API_SCOPES = {
    READ_MESSAGES: "Read the scoped private message (GET /api/private-scoped).",
}
