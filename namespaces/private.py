"""GET /api/private (any valid token) and GET /api/private-scoped (needs read:messages)."""

from flask_restx import Namespace, Resource

from security import READ_MESSAGES
from swagger import error_model, message_model, protected

ns = Namespace("private", description="Routes that need an access token; one also needs a scope.")
ns.add_model(message_model.name, message_model)
ns.add_model(error_model.name, error_model)

PRIVATE_MESSAGE = "Hello from a private endpoint! You need to be authenticated to see this."
SCOPED_MESSAGE = (
    "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this."
)


@ns.route("/private")
class PrivateMessage(Resource):
    @ns.doc("get_private_message")
    @ns.marshal_with(message_model, description="The private message.")
    @protected(ns)
    def get(self):
        """Get the private message. Needs a valid access token; no scope is required."""
        return {"message": PRIVATE_MESSAGE}


@ns.route("/private-scoped")
class PrivateScopedMessage(Resource):
    @ns.doc("get_private_scoped_message")
    @ns.marshal_with(message_model, description="The scoped private message.")
    @protected(ns, READ_MESSAGES)
    def get(self):
        """Get the scoped private message. Needs a valid access token with the `read:messages` scope."""
        return {"message": SCOPED_MESSAGE}
