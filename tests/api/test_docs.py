"""The OpenAPI schema and the docs page: served by the app itself, nothing loaded from the internet."""

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("reader"))
    return client


def test_the_schema_and_docs_are_for_people_signed_in_and_clients_with_a_token(db, team, architect):
    from django.test import Client

    from api import services

    anonymous = Client()
    for path in ("/api/openapi.json", "/api/docs"):
        response = anonymous.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=/api/"), path
    refused = anonymous.get("/api/openapi.json", headers={"Authorization": "Bearer rdy_nonsense"})
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    _token, secret = services.create_token(team=team, actor=architect, name="ci", scopes=["read"])
    schema = anonymous.get("/api/openapi.json", headers={"Authorization": f"Bearer {secret}"})
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "Readiness API"


def test_the_openapi_schema_documents_tokens_idempotency_and_errors(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Readiness API"
    assert schema["components"]["securitySchemes"]["TokenAuth"] == {"type": "http", "scheme": "bearer"}
    post = schema["paths"]["/api/reviews/{review_id}/evidence/restore-drills"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in post["parameters"]]
    assert {"201", "401", "403", "404", "409", "422"} <= set(post["responses"])
    gate = schema["paths"]["/api/systems/{slug}/gate"]["get"]
    assert "exit_code" in schema["components"]["schemas"]["GateOut"]["properties"]
    assert "409" in gate["responses"]


def test_the_docs_page_loads_only_vendored_files(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "nothing from another host"
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "/static/vendor/swagger-ui/swagger-ui.css" in html
    assert "/static/api/docs.js" in html
    assert "<script>" not in html, "no inline script"
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy
    for path in ("vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui.css", "api/docs.js"):
        assert finders.find(path), path


def test_the_vendored_swagger_ui_asks_no_other_host_at_start(client):
    """validatorUrl is off (the default asks validator.swagger.io); the CSS names no remote file."""
    settings = client.get("/api/docs").content.decode()
    assert '"validatorUrl": null' in settings
    with open(finders.find("vendor/swagger-ui/swagger-ui.css"), encoding="utf-8") as css:
        assert not re.search(r"url\((['\"]?)https?:", css.read())
