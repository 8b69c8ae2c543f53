"""Who may see and change what. Every view and service asks here; templates only hide buttons."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from .models import Membership, Review, Role, System, Team

EDITOR_ROLES = {Role.ARCHITECT, Role.LEAD, Role.MEMBER}
CHAIR_ROLES = {Role.ARCHITECT, Role.LEAD}


def role_in(user: AbstractBaseUser, team: Team | int) -> str | None:
    team_id = team if isinstance(team, int) else team.pk
    cache = getattr(user, "_readiness_roles", None)
    if cache is None:
        cache = dict(Membership.objects.filter(user_id=user.pk).values_list("team_id", "role"))
        user._readiness_roles = cache
    return cache.get(team_id)


def visible_teams(user) -> QuerySet[Team]:
    if user.is_superuser:
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user)


def visible_systems(user) -> QuerySet[System]:
    if user.is_superuser:
        return System.objects.all()
    return System.objects.filter(team__memberships__user=user)


def can_view_system(user, system: System) -> bool:
    return user.is_superuser or role_in(user, system.team_id) is not None


def can_edit_system(user, system: System) -> bool:
    return role_in(user, system.team_id) in CHAIR_ROLES


def can_create_system(user, team: Team) -> bool:
    return role_in(user, team) in CHAIR_ROLES


def can_edit_review(user, review: Review) -> bool:
    """Scores, answers, findings, evidence, claims: any non-auditor member of the owning team."""
    return role_in(user, review.system.team_id) in EDITOR_ROLES


def can_chair(user, review: Review) -> bool:
    """Start reviews, change the scope and record the decision."""
    return role_in(user, review.system.team_id) in CHAIR_ROLES


def can_sign_exceptions(user, system: System) -> bool:
    return role_in(user, system.team_id) == Role.LEAD
