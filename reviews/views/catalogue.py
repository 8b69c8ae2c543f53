"""The Catalogue page for installation admins: the versions, export as YAML, import an edited file as a new
version (every problem listed), the difference between two versions; and the file's JSON Schema, public so
editors can fetch it."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..catalogue import as_code
from ..catalogue import services as catalogue_services
from ..models import CatalogueVersion, ChecklistItem
from ..services import ServiceError


class ImportForm(forms.Form):
    file = forms.FileField(required=False, label="YAML file", help_text="An exported catalogue, edited.")
    text = forms.CharField(
        required=False,
        label="Or paste the YAML",
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "mono"}),
    )
    publish = forms.BooleanField(
        required=False,
        initial=True,
        label="Publish it: new reviews start on this version",
        help_text="Unticked, it is kept as a draft you can publish later.",
    )

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload:
            if upload.size > as_code.MAX_BYTES:
                raise forms.ValidationError(f"The file is larger than {as_code.MAX_BYTES // 1000} kB.")
            try:
                data["yaml"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.") from None
        elif data.get("text", "").strip():
            data["yaml"] = data["text"]
        else:
            raise forms.ValidationError("Choose a YAML file or paste its text.")
        return data


def _require_admin(request: HttpRequest) -> None:
    if not catalogue_services.may_edit(request.user):
        raise PermissionDenied("Only an installation admin may see and change the checklist catalogue.")


def _version(number: int) -> CatalogueVersion:
    try:
        return CatalogueVersion.objects.get(number=number)
    except CatalogueVersion.DoesNotExist:
        raise Http404("No catalogue version with that number.") from None


def _page(request: HttpRequest, *, form: ImportForm | None = None, problems=(), status: int = 200):
    versions = list(
        CatalogueVersion.objects.annotate(
            n_categories=Count("categories", distinct=True), n_reviews=Count("reviews", distinct=True)
        ).order_by("-number")
    )
    items = dict(
        ChecklistItem.objects.order_by()
        .values("category__version_id")
        .annotate(n=Count("id"))
        .values_list("category__version_id", "n")
    )
    for i, v in enumerate(versions):
        v.n_items = items.get(v.pk, 0)
        v.previous = versions[i + 1].number if i + 1 < len(versions) else None
    current = next((v for v in versions if v.published), None)
    return render(
        request,
        "reviews/catalogue.html",
        {
            "versions": versions,
            "current": current,
            "form": form or ImportForm(),
            "problems": problems,
            "schema_url": request.build_absolute_uri(reverse("catalogue_schema")),
        },
        status=status,
    )


@login_required
@require_GET
def catalogue(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    return _page(request)


@login_required
@require_POST
def catalogue_import(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    previous = CatalogueVersion.objects.order_by("-number").first()
    try:
        version = catalogue_services.import_catalogue(
            text=form.cleaned_data["yaml"], publish=form.cleaned_data["publish"], actor=request.user
        )
    except catalogue_services.CatalogueProblems as e:
        return _page(request, form=form, problems=e.problems, status=400)
    state = "published: new reviews start on it" if version.published else "kept as a draft"
    messages.success(request, f"Imported as version {version.number} ({version.label}), {state}.")
    if previous is None:
        return redirect("catalogue")
    return redirect(f"{reverse('catalogue_diff')}?from={previous.number}&to={version.number}")


@login_required
@require_POST
def catalogue_publish(request: HttpRequest, number: int) -> HttpResponse:
    _require_admin(request)
    try:
        version = catalogue_services.publish_catalogue(version=_version(number), actor=request.user)
    except ServiceError as e:
        messages.error(request, " ".join(e.messages))
        return redirect("catalogue")
    messages.success(request, f"Version {version.number} is published.")
    return redirect("catalogue")


@login_required
@require_GET
def catalogue_export(request: HttpRequest, number: int) -> HttpResponse:
    _require_admin(request)
    version = _version(number)
    text = as_code.export_yaml(version, schema_url=request.build_absolute_uri(reverse("catalogue_schema")))
    response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="catalogue-v{version.number}.yaml"'
    return response


@login_required
@require_http_methods(["GET"])
def catalogue_diff(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    try:
        old_number, new_number = int(request.GET.get("from", "")), int(request.GET.get("to", ""))
    except ValueError:
        messages.error(request, "Choose two versions to compare.")
        return redirect("catalogue")
    old, new = _version(old_number), _version(new_number)
    changes = as_code.diff(as_code.version_data(old), as_code.version_data(new))
    return render(
        request,
        "reviews/catalogue_diff.html",
        {
            "old": old,
            "new": new,
            "changes": changes,
            "versions": CatalogueVersion.objects.order_by("-number"),
            "counts": {
                kind: sum(1 for c in changes if c.kind == kind) for kind in ("added", "changed", "removed")
            },
        },
    )


@require_GET
def catalogue_schema(request: HttpRequest) -> HttpResponse:
    """The file's JSON Schema, public: an editor fetches it without signing in, and it holds no data."""
    schema = {**as_code.SCHEMA, "$id": request.build_absolute_uri()}
    response = HttpResponse(json.dumps(schema, indent=2), content_type="application/schema+json")
    response["Access-Control-Allow-Origin"] = "*"
    return response
