"""GET /api/public: no token needed."""

from flask_restx import Namespace, Resource

from swagger import message_model

ns = Namespace("public", description="Routes anyone can call, without a token.")
ns.add_model(message_model.name, message_model)

PUBLIC_MESSAGE = "Hello from a public endpoint! You don't need to be authenticated to see this."


@ns.route("/public")
class PublicMessage(Resource):
    @ns.doc("get_public_message", security=[])
    @ns.marshal_with(message_model, description="The public message.")
    def get(self):
        """Get the public message. Needs no access token and no scope."""
        return {"message": PUBLIC_MESSAGE}
