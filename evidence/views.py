"""Attaching evidence and downloading evidence files (permission-checked, as attachments)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from reviews import audit, policy
from reviews.models import Category
from reviews.views import _apply, _get_review_for_user

from . import imports, kinds, services, typed
from .forms import FORMS, ImportForm
from .models import Evidence, EvidenceKind

TITLES = {
    "link": "Attach a link",
    "file": "Upload a file",
    **{kind: spec.add_title for kind, spec in kinds.ALL.items()},
}


def _back(request: HttpRequest, review) -> str:
    """Where the form returns: the meeting's step it was opened from (?step=N), else the review's evidence."""
    step = request.GET.get("step", "")
    if step.isdigit() and 1 <= int(step) <= 13:
        return reverse("meeting_step", args=[review.pk, int(step)])
    return f"{review.get_absolute_url()}#evidence"


@login_required
@require_http_methods(["GET", "POST"])
def evidence_create(request: HttpRequest, review_id: int, kind: str) -> HttpResponse:
    review = _get_review_for_user(request, review_id, write=True)
    back = _back(request, review)
    form_class = FORMS.get(kind)
    if form_class is None:
        raise Http404
    kwargs = {"review": review} if kind in ("link", "file") else {}
    initial = {}
    if kind in ("link", "file") and (code := request.GET.get("category")):
        initial["category"] = Category.objects.filter(version_id=review.catalogue_id, code=code).first()
    form = form_class(request.POST or None, request.FILES or None, initial=initial, **kwargs)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        if kind == "link":
            add = lambda: services.add_link(review=review, actor=request.user, **data)  # noqa: E731
        elif kind == "file":
            upload = data.pop("file")
            add = lambda: services.add_file(review=review, actor=request.user, upload=upload, **data)  # noqa: E731
        else:
            add = lambda: typed.add_record(review=review, actor=request.user, kind=kind, **data)  # noqa: E731
        item = _apply(form, add)
        if item:
            messages.success(request, f"Evidence attached to {item.category.name}.")
            return redirect(back)
    return render(
        request,
        "evidence/evidence_form.html",
        {
            "form": form,
            "review": review,
            "system": review.system,
            "kind": kind,
            "title": TITLES[kind],
            "spec": kinds.lookup(kind),
            "back": back,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def evidence_import(request: HttpRequest, review_id: int) -> HttpResponse:
    """Rows of a CSV or YAML file as records of one kind: all of them, or none and every error."""
    review = _get_review_for_user(request, review_id, write=True)
    form = ImportForm(request.POST or None, request.FILES or None, initial={"kind": request.GET.get("kind")})
    refused: imports.ImportRefused | None = None
    if request.method == "POST" and form.is_valid():
        kind, upload = form.cleaned_data["kind"], form.cleaned_data["file"]
        try:
            stored = imports.import_file(
                review=review,
                actor=request.user,
                kind=kind,
                file_name=upload.name,
                # One byte past the limit is enough to refuse a larger file without reading it whole.
                content=upload.read(imports.MAX_BYTES + 1),
            )
        except imports.ImportRefused as err:
            refused = err
        else:
            messages.success(request, f"Imported {imports.SHEETS[kind].words(len(stored))}.")
            return redirect(f"{review.get_absolute_url()}#evidence")
    return render(
        request,
        "evidence/evidence_import.html",
        {
            "form": form,
            "review": review,
            "system": review.system,
            "sheets": list(imports.SHEETS.values()),
            "refused": refused,
            "file_name": request.FILES["file"].name if refused and "file" in request.FILES else "",
            "max_rows": imports.MAX_ROWS,
        },
    )


@login_required
@require_GET
def evidence_import_template(request: HttpRequest, review_id: int, sheet: str) -> HttpResponse:
    """A CSV of one kind to fill in: its header row and one example row, which imports as it is."""
    _get_review_for_user(request, review_id, write=True)
    if sheet not in imports.SHEETS:
        raise Http404
    # A byte order mark, so a spreadsheet opens the file as UTF-8 (the import reads it either way).
    response = HttpResponse("\ufeff" + imports.template_csv(sheet), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{imports.SHEETS[sheet].template_name}"'
    return response


@login_required
@require_GET
def evidence_file(request: HttpRequest, evidence_id: int) -> FileResponse:
    item = get_object_or_404(
        Evidence.objects.select_related("review__system"), pk=evidence_id, kind=EvidenceKind.FILE
    )
    if not policy.can_view_system(request.user, item.review.system):
        raise Http404
    try:
        handle = item.file.open("rb")
    except FileNotFoundError:
        raise Http404("The stored file is missing.")
    filename = item.file.name.rsplit("/", 1)[-1]
    # Who took a copy of which evidence file is an auditable fact, as for decision records.
    audit.record(
        actor=request.user, action="evidence.download", obj=item, review=item.review, after={"file": filename}
    )
    response = FileResponse(handle, as_attachment=True, filename=filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response
