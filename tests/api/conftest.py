"""Tokens and a JSON client for the API tests: the owner team's token, another team's, and helpers that
score a review the way the pages do (evidence first, then the score)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from api import services as api_services
from evidence import services as evidence_services
from reviews import services as review_services
from tests.factories import SystemFactory, category

ALL_SCOPES = ["read", "write:evidence", "run:probes"]


class Api:
    """The Django test client speaking JSON with a bearer token."""

    def __init__(self, client, secret: str | None):
        self.client = client
        self.secret = secret

    def headers(self, key: str | None = None, **extra) -> dict:
        headers = dict(extra)
        if self.secret is not None:
            headers["Authorization"] = f"Bearer {self.secret}"
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def get(self, path: str, **params):
        return self.client.get(path, params, headers=self.headers())

    def post(self, path: str, body, *, key: str | None = None, raw: bytes | str | None = None):
        data = raw if raw is not None else json.dumps(body, default=str)
        return self.client.post(path, data=data, content_type="application/json", headers=self.headers(key))


@pytest.fixture
def make_token(db):
    def make(team, creator, scopes=ALL_SCOPES, system=None, name=None, **kwargs):
        token, secret = api_services.create_token(
            team=team,
            actor=creator,
            name=name or f"pipeline {len(scopes)}-{timezone.now().timestamp()}",
            scopes=list(scopes),
            system=system,
            **kwargs,
        )
        return token, secret

    return make


@pytest.fixture
def token_and_secret(make_token, team, architect):
    return make_token(team, architect)


@pytest.fixture
def api(client, token_and_secret):
    return Api(client, token_and_secret[1])


@pytest.fixture
def other_api(client, make_token, other_team, outsider):
    """Bob's token: an architect of another team."""
    SystemFactory(team=other_team, name="Directory", slug="directory")
    return Api(client, make_token(other_team, outsider)[1])


def drill_body(**overrides) -> dict:
    """A restore drill that passed (seed §11.3), ended an hour ago."""
    now = timezone.now()
    body = {
        "title": "Quarterly restore drill",
        "database": "ledger",
        "backup_source": "pgBackRest repo2",
        "target_environment": "staging",
        "requested_recovery_point": (now - timedelta(hours=5)).isoformat(),
        "actual_recovery_point": (now - timedelta(hours=5, minutes=3)).isoformat(),
        "started_at": (now - timedelta(hours=3)).isoformat(),
        "ended_at": (now - timedelta(hours=1)).isoformat(),
        "rpo_target_minutes": 15,
        "rto_target_minutes": 180,
        "validation_queries": "select count(*) from journal;",
        "validation_passed": True,
        "validation_result": "counts match",
    }
    return {**body, **overrides}


def attach_and_score(review, code: str, actor, score: int, *, observed_at=None):
    """Evidence first, then the score (a 2 or 3 needs evidence)."""
    evidence_services.add_link(
        review=review,
        category=category(review, code),
        title=f"{code} proof",
        url=f"https://ci.example.com/{code}",
        actor=actor,
        observed_at=observed_at,
    )
    return review_services.set_score(review=review, category=category(review, code), score=score, actor=actor)


def score_everything(review, actor, score: int = 2) -> None:
    from tests.factories import answer_critical

    answer_critical(review, actor)  # else each unanswered critical item caps its category at 1
    for cat in review.catalogue.categories.all():
        attach_and_score(review, cat.code, actor, score)
