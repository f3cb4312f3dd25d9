"""Values carried from answer to call: after the page creates, reads or edits a message, the item operations'
message_id and If-Match fields hold its id and current ETag, until the user types their own; If-Match shows an
example with its quotes; a 428 says what was wrong with an If-Match that is not an entity tag."""

from __future__ import annotations

import json

import pytest

from tests.support.browser import DocsPage

pytestmark = pytest.mark.browser

ITEM = "/api/messages/{message_id}"


@pytest.fixture(scope="module")
def docs_server(module_local_server):
    return module_local_server


def logged_in(page, url: str, scopes=("read:messages", "write:messages")) -> DocsPage:
    docs = DocsPage(page, url).open()
    form = docs.scheme("authorization_code")
    for scope in scopes:
        docs.tick_scope(form, scope)
    with page.expect_popup():
        docs.authorize(form)
    docs.wait_authorized(form)
    docs.close_dialog()
    return docs


def field(docs: DocsPage, method: str, name: str):
    """The parameter's field, its operation expanded and in Try it out."""
    return docs.trying(ITEM, method).locator(f'tr[data-param-name="{name}"] input')


def post(docs: DocsPage, text: str) -> tuple[dict, str]:
    status, shown, headers = docs.execute("/api/messages", "post", body=json.dumps({"text": text}))
    assert status == 201, shown
    return json.loads(shown), headers["etag"]


def test_an_edit_with_the_values_of_the_last_answer(docs_server, page, screenshots):
    docs = logged_in(page, docs_server.url)
    posted, tag = post(docs, "Posted, then edited with carried values")
    assert tag == '"1"'
    assert (field(docs, "patch", "message_id").input_value(), field(docs, "patch", "If-Match").input_value()) == (
        posted["id"], '"1"')
    assert field(docs, "get", "message_id").input_value() == posted["id"]
    assert field(docs, "delete", "message_id").input_value() == posted["id"]
    block = docs.trying(ITEM, "patch")
    block.locator("textarea.body-param__text").fill('{"text": "Edited with the carried id and ETag"}')
    screenshots.append(docs.screenshot("docs-edit-carried-values", of=block.locator(".opblock-section").first))
    # Execute as filled: nothing typed but the body
    status, shown, headers = docs.execute(ITEM, "patch", body='{"text": "Edited with the carried id and ETag"}')
    assert (status, headers["etag"]) == (200, '"2"'), shown
    assert json.loads(shown)["id"] == posted["id"]
    assert field(docs, "patch", "If-Match").input_value() == '"2"'  # the edit's own answer, carried again
    status, shown, _ = docs.execute(ITEM, "patch", body='{"text": "And again"}')
    assert status == 200 and json.loads(shown)["version"] == 3, shown


def test_a_read_carries_its_values_and_a_typed_field_is_left_alone(docs_server, page, http):
    docs = logged_in(page, docs_server.url)
    first, _ = post(docs, "First")
    field(docs, "delete", "message_id").fill(first["id"])  # typed by the user: theirs from now on
    second, _ = post(docs, "Second")
    assert field(docs, "delete", "message_id").input_value() == first["id"]
    assert field(docs, "patch", "message_id").input_value() == second["id"]
    status, _, headers = docs.execute(ITEM, "get", parameters={"message_id": first["id"]})
    assert (status, headers["etag"]) == (200, '"1"')
    # the read's answer is carried to the edit; the get's own field was typed, so stays
    assert field(docs, "patch", "message_id").input_value() == first["id"]
    field(docs, "delete", "message_id").fill("")  # emptied: the page's again
    post(docs, "Third")
    assert field(docs, "delete", "message_id").input_value() != first["id"]
    assert field(docs, "get", "message_id").input_value() == first["id"]


def test_if_match_shows_an_example_with_its_quotes(docs_server, page, http):
    documented = http.get(docs_server.url + "/openapi.json").json()
    (if_match,) = [p for p in documented["paths"][ITEM]["patch"]["parameters"] if p["name"] == "If-Match"]
    assert if_match["example"] == '"1"'
    docs = DocsPage(page, docs_server.url).open()
    row = docs.expanded(ITEM, "patch").locator('tr[data-param-name="If-Match"]')
    assert 'Example : "1"' in row.inner_text()
    assert field(docs, "patch", "If-Match").input_value() == '"1"'  # Try it out starts from the example


def test_every_parameter_example_is_taken_by_the_api(docs_server, http):
    """A parameter's example is sent as it is by Try it out: each one is what the API takes (If-Match: a message
    just posted is at version 1)."""
    issuer = docs_server.app.extensions["local_issuer"]
    token = {"Authorization": "Bearer " + issuer.mint(subject="curl", scopes=["write:messages"])}
    swagger = http.get(docs_server.url + "/swagger.json").json()
    examples = {(path, method, p["name"]): p["x-example"] for path, item in swagger["paths"].items()
                for method, operation in item.items() if method != "parameters"
                for p in operation.get("parameters", []) if "x-example" in p}
    assert examples == {(ITEM, "patch", "If-Match"): '"1"'}
    posted = http.post(docs_server.url + "/api/messages", json={"text": "x"}, headers=token).json()
    answer = http.patch(f"{docs_server.url}/api/messages/{posted['id']}", json={"text": "y"},
                        headers={**token, "If-Match": examples[(ITEM, "patch", "If-Match")]})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("sent", ["1", "*", "W/1"])
def test_a_428_says_what_was_wrong(docs_server, page, http, sent):
    """The API's answer to an If-Match that is not an entity tag says so, and so does the page's 428 example."""
    issuer = docs_server.app.extensions["local_issuer"]
    token = {"Authorization": "Bearer " + issuer.mint(subject="curl", scopes=["write:messages"])}
    posted = http.post(docs_server.url + "/api/messages", json={"text": "x"}, headers=token).json()
    answer = http.patch(f"{docs_server.url}/api/messages/{posted['id']}", json={"text": "y"},
                        headers={**token, "If-Match": sent})
    assert answer.status_code == 428
    said = answer.json()["error_description"]
    assert "is not an entity tag" in said and '"1", not 1' in said
    body, _ = DocsPage(page, docs_server.url).open().response_example(ITEM, 428, "patch")
    assert body == answer.json()
