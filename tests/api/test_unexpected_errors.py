"""An error nobody foresaw still answers in the API's JSON error shape (500), and is logged with its
traceback; the message gives nothing of the error away."""

import logging

import pytest

from api import selectors

pytestmark = pytest.mark.django_db


def test_an_unexpected_error_answers_json_500_and_is_logged(api, monkeypatch, caplog):
    def broken(token):
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(selectors, "system_list", broken)
    with caplog.at_level(logging.ERROR, logger="api.api"):
        response = api.get("/api/systems")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "server_error" and body["fields"] == {}
    assert "the error was logged" in body["message"]
    assert "hunter2" not in response.content.decode()
    assert "GET /api/systems failed" in caplog.text
    assert "RuntimeError: secret internals" in caplog.text  # the traceback is in the log


def test_known_errors_keep_their_own_answers(api):
    assert api.get("/api/reviews/999999/gate").status_code == 404
