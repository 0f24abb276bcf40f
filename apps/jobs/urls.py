"""Page routes of jobs, under `/<team>/-/jobs` and `/<team>/-/runs`."""

from django.urls import path

from apps.jobs import views

TEAM = "<str:team>/-/"

urlpatterns = [
    path(TEAM + "jobs", views.job_list, name="job-list"),
    path(TEAM + "jobs/new", views.job_new, name="job-new"),
    path(TEAM + "jobs/<str:name>", views.job_detail, name="job-detail"),
    path(TEAM + "jobs/<str:name>/edit", views.job_edit, name="job-edit"),
    path(TEAM + "jobs/<str:name>/run", views.job_run_now, name="job-run-now"),
    path(TEAM + "jobs/<str:name>/pause", views.job_pause_toggle, name="job-pause"),
    path(TEAM + "jobs/<str:name>/delete", views.job_remove, name="job-delete"),
    path(TEAM + "runs/<int:run_id>", views.run_detail, name="job-run"),
    path(
        TEAM + "runs/<int:run_id>/cancel", views.run_cancel_view, name="job-run-cancel"
    ),
]
