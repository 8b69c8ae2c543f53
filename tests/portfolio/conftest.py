"""Many systems with current reviews, scores, evidence, findings and decisions, built in bulk."""

from datetime import timedelta

import pytest
from django.utils import timezone

from evidence.models import Evidence
from reviews.models import (
    Category,
    CategoryScore,
    ChecklistAnswer,
    ChecklistItem,
    Decision,
    Finding,
    Review,
    System,
)

from ..factories import catalogue


def build_portfolio(team, user, n: int, *, start: int = 0) -> list[System]:
    """n systems of `team`, each with a current review scored in every category (backup 2 without
    evidence, the others 3 with evidence), an open P0 and a P1, and an overdue decision on an older review."""
    version = catalogue()
    categories = list(Category.objects.filter(version=version).order_by("number"))
    now = timezone.now()
    systems = System.objects.bulk_create(
        [System(team=team, name=f"Sys {start + i:04d}", slug=f"sys-{start + i:04d}") for i in range(n)]
    )
    old = Review.objects.bulk_create(
        [
            Review(
                system=s,
                catalogue=version,
                release_scope="old",
                created_by=user,
                state="decided",
                created_at=now - timedelta(days=200),
            )
            for s in systems
        ]
    )
    Decision.objects.bulk_create(
        [
            Decision(
                review=r,
                system=r.system,
                outcome="APPROVED",
                next_review=(now - timedelta(days=3)).date(),
                approver=user,
                recorded_at=now - timedelta(days=100),
                record={},
                digest=f"{r.pk:064d}",
            )
            for r in old
        ]
    )
    current = Review.objects.bulk_create(
        [
            Review(
                system=s,
                catalogue=version,
                release_scope="current",
                created_by=user,
                schema_changing=False,
                production_traffic=True,
            )
            for s in systems
        ]
    )
    # Every critical checklist item answered Yes (unanswered, each would cap its category at 1).
    critical = list(ChecklistItem.objects.filter(category__version=version, critical_level__isnull=False))
    ChecklistAnswer.objects.bulk_create(
        [ChecklistAnswer(review=r, item=i, answer="yes", answered_by=user) for r in current for i in critical]
    )
    CategoryScore.objects.bulk_create(
        [
            CategoryScore(review=r, category=c, score=2 if c.code == "backup" else 3, updated_by=user)
            for r in current
            for c in categories
        ]
    )
    Evidence.objects.bulk_create(
        [
            Evidence(
                review=r, category=c, kind="link", title="doc", url="https://example.com/", added_by=user
            )
            for r in current
            for c in categories
            if c.code != "backup"
        ]
    )
    Finding.objects.bulk_create(
        [Finding(review=r, category=categories[0], title="p0", level="P0", created_by=user) for r in current]
        + [
            Finding(review=r, category=categories[1], title="p1", level="P1", created_by=user)
            for r in current
        ]
    )
    return systems


@pytest.fixture
def portfolio_of():
    return build_portfolio
