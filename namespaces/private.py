"""GET /api/private (any valid token) and GET /api/private-scoped (needs read:messages)."""

from flask_restx import Namespace, Resource

from swagger import Scope, greeting_model, protected, returns

ns = Namespace("private", description="Routes that need an access token; one also needs a scope.")

READ_MESSAGES = Scope("read:messages", "Read messages: the scoped private message (GET /api/private-scoped) "
                                       "and the stored ones (GET /api/messages, GET /api/messages/{message_id}).")

PRIVATE_MESSAGE = "Hello from a private endpoint! You need to be authenticated to see this."
SCOPED_MESSAGE = (
    "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this."
)


@ns.route("/private")
class PrivateMessage(Resource):
    @ns.doc("get_private_message")
    @returns(ns, greeting_model, {"message": PRIVATE_MESSAGE}, "The private message.")
    @protected(ns)
    def get(self):
        """Get the private message. Needs a valid access token; no scope is required."""
        return {"message": PRIVATE_MESSAGE}


@ns.route("/private-scoped")
class PrivateScopedMessage(Resource):
    @ns.doc("get_private_scoped_message")
    @returns(ns, greeting_model, {"message": SCOPED_MESSAGE}, "The scoped private message.")
    @protected(ns, READ_MESSAGES)
    def get(self):
        """Get the scoped private message. Needs a valid access token with the `read:messages` scope."""
        return {"message": SCOPED_MESSAGE}
