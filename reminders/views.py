"""The signed-in person's open actions, their reminder choice, and what was sent to them."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services
from .forms import PreferenceForm
from .models import Reminder, ReminderPreference


@login_required
@require_GET
def open_actions(request: HttpRequest) -> HttpResponse:
    now, today = timezone.now(), timezone.localdate()
    pref = ReminderPreference.objects.filter(user=request.user).first()
    actions = selectors.open_actions(request.user, now=now, today=today)
    return render(
        request,
        "reminders/actions.html",
        {
            "actions": actions,
            "total": sum(len(v) for v in actions.values()),
            "form": PreferenceForm(initial={"others": pref.others if pref else True}),
            "recent": Reminder.objects.filter(recipient=request.user).select_related("digest")[:20],
            "now": now,
            "has_email": bool(request.user.email),
        },
    )


@login_required
@require_POST
def preferences(request: HttpRequest) -> HttpResponse:
    form = PreferenceForm(request.POST)
    if form.is_valid():
        services.set_preference(user=request.user, others=form.cleaned_data["others"])
        messages.success(request, "Reminder choice saved.")
    return redirect("open_actions")


@login_required
@require_GET
def open_action_count(request: HttpRequest) -> HttpResponse:
    """The count beside "Actions" in the top bar, loaded after each page (one query), so no page's own
    query count grows."""
    n = selectors.open_action_count(request.user, now=timezone.now(), today=timezone.localdate())
    return render(request, "reminders/_count.html", {"open_action_count": n})
