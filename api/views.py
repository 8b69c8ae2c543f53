"""The API tokens page: every token of the user's teams (never a secret), a form for the teams they
manage, the secret shown once after creation, and revocation."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from reviews import policy
from reviews.models import Team
from reviews.views import _apply

from . import services
from .forms import TokenForm
from .models import ApiToken


def _managed_teams(user):
    return Team.objects.filter(
        memberships__user=user, memberships__role__in=list(policy.CHAIR_ROLES)
    ).order_by("name")


def _page(request: HttpRequest, form: TokenForm | None, status: int = 200) -> HttpResponse:
    teams = list(Team.objects.filter(memberships__user=request.user).order_by("name").distinct())
    tokens = ApiToken.objects.filter(team__in=teams).select_related(
        "team", "system", "created_by", "revoked_by"
    )
    by_team = {team.pk: [] for team in teams}
    for token in tokens:
        by_team[token.team_id].append(token)
    managed = {t.pk for t in _managed_teams(request.user)}
    return render(
        request,
        "api/tokens.html",
        {
            "groups": [{"team": t, "tokens": by_team[t.pk], "can_manage": t.pk in managed} for t in teams],
            "form": form,
        },
        status=status,
    )


@login_required
@require_GET
def token_list(request: HttpRequest) -> HttpResponse:
    teams = _managed_teams(request.user)
    form = TokenForm(teams=teams) if teams.exists() else None
    return _page(request, form)


@never_cache
@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    teams = _managed_teams(request.user)
    if not teams.exists():
        raise PermissionDenied("Only an architect or lead of a team may create its API tokens.")
    form = TokenForm(request.POST, teams=teams)
    if form.is_valid():
        data = form.cleaned_data
        created = _apply(
            form,
            lambda: services.create_token(
                team=data["team"],
                system=data["system"],
                name=data["name"],
                scopes=data["scopes"],
                expires_in_days=data["expires_in_days"],
                actor=request.user,
            ),
        )
        if created:
            token, secret = created
            # Rendered, not redirected: the secret exists only in this response (never_cache: no-store).
            return render(request, "api/token_created.html", {"token": token, "secret": secret})
    return _page(request, form, status=422)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken.objects.select_related("team"), pk=token_id)
    if not services.can_view_tokens(request.user, token.team_id):
        raise Http404
    services.revoke_token(token=token, actor=request.user)
    messages.success(request, f"Token {token.name} ({token.prefix}…) is revoked; it no longer works.")
    return redirect("api_tokens")
