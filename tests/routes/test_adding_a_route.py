"""Adding a route with a new scope, as docs/extending.md says: the contract-level checks pass unchanged.

The ``test-orders`` namespace below is all a new route takes (its route, its scope and that scope's
description); the ``namespaces`` fixture stands for its line in ``namespaces/__init__.py``. (Its name is
not the page's ``orders``, so this test still passes once someone follows the page.) The checks
imported below are the suite's own, collected again here with the namespace added: both documents
valid, the scope in the docs' flows, the local issuer minting it, the route refusing without it and
answering with it, every documented example equal to the live answer, schemathesis.
"""

from __future__ import annotations

import pytest
from flask_restx import Namespace, Resource
from openapi_spec_validator import validate

from app import create_app
from namespaces import NAMESPACES
from swagger import Scope, greeting_model, protected, returns

# The suite's own contract-level checks, collected again in this module, where `namespaces` adds test-orders.
from tests.docs_page.test_docs_security import (
    test_auth0_mode,
    test_local_mode_spec_and_page_follow_the_host,
    test_per_operation_security,
)
from tests.local_issuer.test_local_issuer import (
    test_discovery_and_public_only_jwks,
    test_every_declared_scope_is_granted_and_opens_its_routes,
)
from tests.local_issuer.test_local_token_cli import test_prints_only_a_token_that_the_server_accepts
from tests.routes.test_examples import (
    test_every_documented_example_is_the_live_answer,
    test_examples_appear_only_on_responses,
)
from tests.routes.test_openapi import (
    documents,
    test_both_documents_are_valid,
    test_info,
    test_openapi3_twin,
    test_swagger_models_and_security,
    test_swagger_operations,
    test_tags_are_the_namespaces_with_descriptions,
)
from tests.routes.test_schemathesis import test_schemathesis_finds_nothing
from tests.support.oauth import client_of

ns = Namespace("test-orders", description="Routes about orders, added by a test.")

READ_ORDERS = Scope("read:test-orders", "Read the orders (GET /api/test-orders).")
ORDERS = "You have no orders yet."


@ns.route("/test-orders")
class Orders(Resource):
    @ns.doc("get_test_orders")
    @returns(ns, greeting_model, {"message": ORDERS}, "The orders.")
    @protected(ns, READ_ORDERS)
    def get(self):
        """Get the orders. Needs a valid access token with the `read:test-orders` scope."""
        return {"message": ORDERS}


@pytest.fixture(scope="session")
def namespaces():
    return [*NAMESPACES, (ns, "/api")]


def test_the_new_route_is_documented_and_guarded_by_its_scope(local_server, http):
    spec = http.get(local_server.url + "/swagger.json").json()
    assert spec["securityDefinitions"]["authorization_code"]["scopes"][READ_ORDERS.name] == READ_ORDERS.description
    assert {"authorization_code": [READ_ORDERS.name]} in spec["paths"]["/api/test-orders"]["get"]["security"]
    client = client_of(local_server)
    for scope, status in [(READ_ORDERS.name, 200), ("", 403)]:
        token = http.post(local_server.url + "/oauth/token", auth=(client.client_id, client.client_secret),
                          data={"grant_type": "client_credentials", "scope": scope}).json()["access_token"]
        answer = http.get(local_server.url + "/api/test-orders", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == status
    assert answer.json()["error"] == "insufficient_scope"
    assert f'scope="{READ_ORDERS.name}", resource_metadata="' in answer.headers["WWW-Authenticate"]  # Bearer challenge


def test_a_namespace_that_never_mentions_the_error_model_has_a_valid_spec(instance, http):
    """``protected`` registers the models it documents; without that, /swagger.json answered 500."""
    bare = Namespace("bare")

    @bare.route("/bare")
    class Bare(Resource):
        @protected(bare)
        def get(self):
            return {}

    client = create_app({}, instance_path=instance, namespaces=[(bare, "/api")]).test_client()
    swagger = client.get("/swagger.json")
    assert swagger.status_code == 200, swagger.text
    assert swagger.json["paths"]["/api/bare"]["get"]["responses"]["401"]["schema"] == {"$ref": "#/definitions/Error"}
    validate(swagger.json)
    validate(client.get("/openapi.json").json)
