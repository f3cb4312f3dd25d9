"""GET /api/public: no token needed."""

from flask_restx import Namespace, Resource

from swagger import greeting_model, returns

ns = Namespace("public", description="Routes anyone can call, without a token.")

PUBLIC_MESSAGE = "Hello from a public endpoint! You don't need to be authenticated to see this."


@ns.route("/public")
class PublicMessage(Resource):
    @ns.doc("get_public_message", security=[])
    @returns(ns, greeting_model, {"message": PUBLIC_MESSAGE}, "The public message.")
    def get(self):
        """Get the public message. Needs no access token and no scope."""
        return {"message": PUBLIC_MESSAGE}
