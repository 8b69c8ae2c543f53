"""Team roles from the provider's groups claim: the mappings decide, each change is audited."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from reviews import audit
from reviews.models import Membership, Role

from .models import GroupRoleMapping

# When a user's groups give several roles in one team, the first of these wins.
ROLE_PRECEDENCE = (Role.ARCHITECT, Role.LEAD, Role.MEMBER, Role.AUDITOR)
MEMBERSHIP_FIELDS = ("user", "team", "role")


def groups_from_claim(value) -> set[str]:
    """The groups claim as a set of names: a list of strings, or one string."""
    if isinstance(value, str):
        return {value} if value else set()
    if isinstance(value, list | tuple):
        return {g for g in value if isinstance(g, str) and g}
    return set()


def wanted_roles(groups: Iterable[str], mappings: Iterable[tuple[str, int, str]]) -> dict[int, str | None]:
    """{team id: role or None} for every team the mappings (group, team id, role) govern."""
    groups = set(groups)
    wanted: dict[int, str | None] = {}
    for group, team_id, role in mappings:
        wanted.setdefault(team_id, None)
        if group in groups:
            best = wanted[team_id]
            if best is None or ROLE_PRECEDENCE.index(role) < ROLE_PRECEDENCE.index(best):
                wanted[team_id] = role
    return wanted


@transaction.atomic
def set_role_from_claim(*, user, team_id: int, role: str | None, groups: Iterable[str]) -> str | None:
    """Give `user` `role` in the team (None: no role), with its audit record; returns what changed
    ("create", "update", "delete") or None."""
    membership = Membership.objects.select_for_update().filter(user=user, team_id=team_id).first()
    via = {"via": "groups claim", "groups": sorted(groups)}
    if membership is None and role is None:
        return None
    if membership is None:
        membership = Membership.objects.create(user=user, team_id=team_id, role=role)
        after = {**audit.snapshot(membership, MEMBERSHIP_FIELDS), **via}
        audit.record(actor=None, action="membership.create", obj=membership, after=after)
        return "create"
    before = audit.snapshot(membership, MEMBERSHIP_FIELDS)
    if role is None:
        audit.record(actor=None, action="membership.delete", obj=membership, before={**before, **via})
        membership.delete()
        return "delete"
    if membership.role == role:
        return None
    membership.role = role
    membership.save(update_fields=["role"])
    after = {**audit.snapshot(membership, MEMBERSHIP_FIELDS), **via}
    audit.record(actor=None, action="membership.update", obj=membership, before=before, after=after)
    return "update"


@transaction.atomic
def sync_memberships(*, user, groups: Iterable[str]) -> dict[int, str]:
    """Set the user's roles in every team the mappings govern from their groups; other memberships stay.
    Returns {team id: change} for the teams that changed."""
    groups = set(groups)
    mappings = list(GroupRoleMapping.objects.values_list("group", "team_id", "role"))
    changes = {}
    for team_id, role in sorted(wanted_roles(groups, mappings).items()):
        matched = {g for g, t, _r in mappings if t == team_id and g in groups}
        change = set_role_from_claim(user=user, team_id=team_id, role=role, groups=matched)
        if change:
            changes[team_id] = change
    return changes
