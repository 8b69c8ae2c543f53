"""The top menu for the signed-in person: only the entries their roles can use (reviews.policy), with
what waits for their signature or confirmation counted on the entry itself.

A context processor, evaluated lazily: only a page that draws the menu (base.html) pays for it, with the
access read the page's own checks share (one query per request, policy._access) and one query for the
count, read only for an architect or lead. htmx fragments never draw the menu and pay nothing."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from . import needs_you, policy
from .models import Role


@dataclass(frozen=True)
class Menu:
    portfolio: bool = False  # the heatmap and the audit pages: whoever sees a team
    audit: bool = False
    actions: bool = False  # open actions: who may own findings, request or sign exceptions, chair
    sign: bool = False  # the queue of exceptions to sign and loosenings to confirm
    sign_label: str = ""
    waiting: needs_you.Waiting = needs_you.Waiting()
    api: bool = False  # API tokens: who may create them
    admin: bool = False

    @property
    def waiting_label(self) -> str:
        """What the count on the queue's entry counts, for screen readers and the tooltip."""
        parts = []
        if self.waiting.signatures:
            n = self.waiting.signatures
            parts.append(f"{n} exception{'s' if n != 1 else ''} awaiting your signature")
        if self.waiting.loosenings:
            n = self.waiting.loosenings
            parts.append(f"{n} loosening{'s' if n != 1 else ''} awaiting your confirmation")
        if self.waiting.raises:
            n = self.waiting.raises
            parts.append(f"{n} score raise{'s' if n != 1 else ''} awaiting your confirmation")
        return ", ".join(parts)


def menu_for(user) -> Menu:
    if not user.is_authenticated:
        return Menu()
    sees_teams = policy.has_team(user)
    leads = bool(policy.team_ids_with_role(user, {Role.LEAD}))
    chairs = bool(policy.team_ids_with_role(user, policy.CHAIR_ROLES))
    return Menu(
        portfolio=sees_teams,
        audit=sees_teams,
        actions=bool(policy.team_ids_with_role(user, policy.EDITOR_ROLES)),
        sign=chairs,
        sign_label="Exceptions to sign" if leads else "Loosenings to confirm",
        waiting=needs_you.waiting(user, now=timezone.now()) if chairs else needs_you.Waiting(),
        api=policy.can_create_tokens(user),
        admin=user.is_staff,
    )


def menu(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"menu": SimpleLazyObject(lambda: menu_for(user))}
