"""Who may see and change what. Every view and service asks here; templates only hide buttons."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, QuerySet

from .models import InstallationAuditor, Review, Role, System, Team

EDITOR_ROLES = {Role.ARCHITECT, Role.LEAD, Role.MEMBER}
CHAIR_ROLES = {Role.ARCHITECT, Role.LEAD}


def _access(user: AbstractBaseUser) -> tuple[dict[int, str], bool]:
    """The user's role per team and whether they audit the whole installation: one query per request,
    kept on the user object."""
    cached = getattr(user, "_readiness_access", None)
    if cached is None:
        rows = (
            get_user_model()
            .objects.filter(pk=user.pk)
            .annotate(audits_all=Exists(InstallationAuditor.objects.filter(user_id=OuterRef("pk"))))
            .values_list("audits_all", "memberships__team_id", "memberships__role")
        )
        roles, audits_all = {}, False
        for audits, team_id, role in rows:
            audits_all = audits_all or audits
            if team_id is not None:
                roles[team_id] = role
        cached = user._readiness_access = (roles, audits_all)
    return cached


def role_in(user: AbstractBaseUser, team: Team | int) -> str | None:
    if not user.is_authenticated:
        return None
    team_id = team if isinstance(team, int) else team.pk
    return _access(user)[0].get(team_id)


def reads_everything(user: AbstractBaseUser) -> bool:
    """An installation-wide auditor reads every team and changes nothing through these pages: every
    change check below asks for a team role. The Django superuser is for the admin only: in the app it
    sees what its own memberships show, like anyone else."""
    if not user.is_authenticated:
        return False
    return _access(user)[1]


def visible_teams(user) -> QuerySet[Team]:
    if reads_everything(user):
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user)


def visible_systems(user) -> QuerySet[System]:
    if reads_everything(user):
        return System.objects.all()
    return System.objects.filter(team__memberships__user=user)


def can_view_system(user, system: System) -> bool:
    return reads_everything(user) or role_in(user, system.team_id) is not None


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


def team_ids_with_role(user: AbstractBaseUser, roles) -> list[int]:
    """The teams where the user holds one of `roles`, from the access already read (no query of its own
    once `_access` ran for the request)."""
    if not user.is_authenticated:
        return []
    return sorted(team_id for team_id, role in _access(user)[0].items() if role in roles)


def has_team(user: AbstractBaseUser) -> bool:
    """Whether the user sees anything at all in the app: a team role, or the whole installation."""
    return user.is_authenticated and (bool(_access(user)[0]) or _access(user)[1])


def can_create_tokens(user: AbstractBaseUser) -> bool:
    """API tokens are created (and revoked) by a team's architects and leads (api.views)."""
    return bool(team_ids_with_role(user, CHAIR_ROLES))
