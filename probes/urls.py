"""URLs of the probe engine: targets, runs, invariant checks."""

from django.urls import path

from . import views

urlpatterns = [
    path("systems/<slug:slug>/probes/", views.target_list, name="probe_targets"),
    path("systems/<slug:slug>/probes/new/", views.target_create, name="probe_target_create"),
    path("probes/targets/<int:target_id>/", views.target_detail, name="probe_target_detail"),
    path("probes/targets/<int:target_id>/edit/", views.target_edit, name="probe_target_edit"),
    path("probes/targets/<int:target_id>/test/", views.target_test, name="probe_target_test"),
    path(
        "probes/targets/<int:target_id>/test/status/",
        views.target_test_status,
        name="probe_target_test_status",
    ),
    path("probes/targets/<int:target_id>/checks/new/", views.invariant_create, name="invariant_create"),
    path("probes/targets/<int:target_id>/runs/new/", views.run_start, name="probe_run_start"),
    path("probes/reviews/<int:review_id>/panel/", views.review_panel, name="probe_review_panel"),
    path("probes/reviews/<int:review_id>/meeting/", views.meeting_panel, name="probe_meeting_panel"),
    path(
        "probes/reviews/<int:review_id>/meeting/targets/<int:target_id>/run/",
        views.meeting_run,
        name="probe_meeting_run",
    ),
    path("probes/checks/<int:check_id>/delete/", views.invariant_delete, name="invariant_delete"),
    path("probes/runs/<int:run_id>/", views.run_detail, name="probe_run_detail"),
    path("probes/runs/<int:run_id>/progress/", views.run_progress, name="probe_run_progress"),
]
