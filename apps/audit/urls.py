from django.urls import path

from apps.audit import views

urlpatterns = [
    path("settings/teams/<str:team>/audit", views.team_log, name="team-audit"),
    path("-/audit", views.staff_log, name="staff-audit"),
]
