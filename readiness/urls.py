"""URL map of Readiness."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from evidence import views as evidence_views
from readiness import health, metrics
from reviews import views
from reviews.views import history, loosening, meeting, portfolio
from sso import views as sso_views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("health/", health.health, name="health"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("login/", sso_views.LoginView.as_view(), name="login"),
    path("", include("sso.urls")),  # /oidc/authenticate/ and /oidc/callback/: 404 while SSO is off
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("portfolio/", portfolio.portfolio, name="portfolio"),
    path("systems/new/", views.system_create, name="system_create"),
    path("systems/<slug:slug>/", views.system_detail, name="system_detail"),
    path("systems/<slug:slug>/edit/", views.system_edit, name="system_edit"),
    path("systems/<slug:slug>/history/", history.system_history, name="system_history"),
    path("reviews/<int:review_id>/changes/", history.review_changes, name="review_changes"),
    path("systems/<slug:slug>/reviews/new/", views.review_create, name="review_create"),
    path("reviews/<int:review_id>/", views.review_detail, name="review_detail"),
    path("reviews/<int:review_id>/edit/", views.review_edit, name="review_edit"),
    path("reviews/<int:review_id>/audit/", views.review_audit, name="review_audit"),
    path("reviews/<int:review_id>/audit.csv", views.review_audit_csv, name="review_audit_csv"),
    path("reviews/<int:review_id>/checklist/<slug:code>/", views.review_checklist, name="review_checklist"),
    path("reviews/<int:review_id>/answers/<int:item_id>/", views.checklist_answer, name="checklist_answer"),
    path(
        "reviews/<int:review_id>/answers/<int:item_id>/undo/",
        views.checklist_answer_undo,
        name="checklist_answer_undo",
    ),
    path("reviews/<int:review_id>/scores/<slug:code>/", views.score_edit, name="score_edit"),
    path("reviews/<int:review_id>/findings/new/", views.finding_create, name="finding_create"),
    path("reviews/<int:review_id>/claims/new/", views.claim_create, name="claim_create"),
    path(
        "reviews/<int:review_id>/evidence/new/<slug:kind>/",
        evidence_views.evidence_create,
        name="evidence_create",
    ),
    path("reviews/<int:review_id>/evidence/import/", evidence_views.evidence_import, name="evidence_import"),
    path(
        "reviews/<int:review_id>/evidence/import/template/<slug:sheet>.csv",
        evidence_views.evidence_import_template,
        name="evidence_import_template",
    ),
    path("reviews/<int:review_id>/decide/", views.decision_create, name="decision_create"),
    path("reviews/<int:review_id>/meeting/", meeting.meeting, name="meeting"),
    path("reviews/<int:review_id>/meeting/<int:step>/", meeting.meeting_step, name="meeting_step"),
    path("reviews/<int:review_id>/meeting/<int:step>/here/", meeting.meeting_here, name="meeting_here"),
    path("reviews/<int:review_id>/meeting/decision/", meeting.meeting_decision, name="meeting_decision"),
    path("reviews/<int:review_id>/meeting/decide/", meeting.meeting_decide, name="meeting_decide"),
    path("reviews/<int:review_id>/meeting/scope/", meeting.meeting_scope, name="meeting_scope"),
    path(
        "reviews/<int:review_id>/meeting/next-review/",
        meeting.meeting_next_review,
        name="meeting_next_review",
    ),
    path("reviews/<int:review_id>/meeting/scores/<slug:code>/", meeting.meeting_score, name="meeting_score"),
    path(
        "reviews/<int:review_id>/meeting/scores/<slug:code>/undo/",
        meeting.meeting_score_undo,
        name="meeting_score_undo",
    ),
    path(
        "reviews/<int:review_id>/meeting/findings/<slug:code>/",
        meeting.meeting_add_finding,
        name="meeting_add_finding",
    ),
    path("reviews/<int:review_id>/meeting/pulse/", meeting.meeting_pulse, name="meeting_pulse"),
    path(
        "reviews/<int:review_id>/meeting/checklist/<slug:code>/",
        meeting.meeting_checklist,
        name="meeting_checklist",
    ),
    path(
        "reviews/<int:review_id>/meeting/evidence/<slug:code>/",
        meeting.meeting_add_evidence,
        name="meeting_add_evidence",
    ),
    path("findings/<int:finding_id>/meeting/", meeting.meeting_triage, name="meeting_triage"),
    path("findings/<int:finding_id>/meeting/exception/", meeting.meeting_exception, name="meeting_exception"),
    path("findings/<int:finding_id>/edit/", views.finding_edit, name="finding_edit"),
    path("findings/<int:finding_id>/exceptions/new/", views.exception_request, name="exception_request"),
    path("loosenings/<int:loosening_id>/confirm/", loosening.loosening_confirm, name="loosening_confirm"),
    path("loosenings/<int:loosening_id>/reject/", loosening.loosening_reject, name="loosening_reject"),
    path("loosenings/<int:loosening_id>/withdraw/", loosening.loosening_withdraw, name="loosening_withdraw"),
    path("score-raises/<int:raise_id>/confirm/", loosening.score_raise_confirm, name="score_raise_confirm"),
    path("score-raises/<int:raise_id>/reject/", loosening.score_raise_reject, name="score_raise_reject"),
    path(
        "score-raises/<int:raise_id>/withdraw/", loosening.score_raise_withdraw, name="score_raise_withdraw"
    ),
    path("exceptions/", views.exception_queue, name="exception_queue"),
    path("exceptions/<int:exception_id>/", views.exception_detail, name="exception_detail"),
    # Before <slug:action>, which would take "edit" for an action.
    path("exceptions/<int:exception_id>/edit/", views.exception_edit, name="exception_edit"),
    path("exceptions/<int:exception_id>/<slug:action>/", views.exception_decide, name="exception_decide"),
    path("evidence/<int:evidence_id>/file/", evidence_views.evidence_file, name="evidence_file"),
    path("decisions/<int:decision_id>/", views.decision_detail, name="decision_detail"),
    path("decisions/<int:decision_id>/record.json", views.decision_json, name="decision_json"),
    path("decisions/<int:decision_id>/record.pdf", views.decision_pdf, name="decision_pdf"),
    path("audit/decisions/", views.auditor_decisions, name="auditor_decisions"),
    path("audit/trail/", views.audit_trail, name="audit_trail"),
    path("audit/trail.csv", views.audit_trail_csv, name="audit_trail_csv"),
    path("audit/verify/", views.verify, name="verify_decision"),
    path("", include("probes.urls")),
    path("", include("reminders.urls")),  # /actions/: open actions and reminder choice
    path("", include("guide.urls")),  # /guide/: the review guide
    path("", include("reviews.catalogue.urls")),  # /catalogue/: the checklist catalogue as code
    path("", include("api.urls")),  # /api/ (JSON, docs at /api/docs) and /api-tokens/
    path("admin/", admin.site.urls),
]

# Django's 404, 403 and 400 views render templates/404.html, 403.html and 400.html; the 500 page must not
# need the database or a context processor.
handler500 = "readiness.errors.server_error"
