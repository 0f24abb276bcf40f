"""The API under /api, without trailing slashes."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.artifacts import views as transfers
from apps.audit.api import views as audit
from apps.core.api import endpoint_not_found
from apps.reports.api import views as reports
from apps.jobs.api import views as jobs
from apps.registry.api import shares as model_shares
from apps.registry.api import views as registry
from apps.stacks.api import shares
from apps.stacks.api import views as stacks
from apps.users.api import device, team_tokens, teams
from apps.users.api import views as users

TEAM = "teams/<str:team>"
STACK = TEAM + "/stacks/<path:path>"
REVISION = STACK + "/-/revisions/<int:number>"
ATTACHMENT = REVISION + "/attachments/<int:index>"
REPORT = TEAM + "/reports/<int:report>"
MODEL = TEAM + "/models/<str:name>"
MODEL_VERSION = MODEL + "/versions/<int:version>"
MODEL_FILE = MODEL_VERSION + "/files/<int:index>"

urlpatterns = [
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"
    ),
    path("user", users.UserView.as_view(), name="api-user"),
    path("auth/device", device.DeviceCodeView.as_view(), name="api-device"),
    path(
        "auth/device/token",
        device.DeviceTokenView.as_view(),
        name="api-device-token",
    ),
    path("tokens", users.TokenListView.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>", users.TokenView.as_view(), name="api-token"),
    path(TEAM + "/audit", audit.TeamAuditView.as_view(), name="api-team-audit"),
    path(
        TEAM + "/tokens",
        team_tokens.TeamTokenListView.as_view(),
        name="api-team-tokens",
    ),
    path(
        TEAM + "/tokens/<int:token_id>",
        team_tokens.TeamTokenView.as_view(),
        name="api-team-token",
    ),
    path("teams", teams.TeamListView.as_view(), name="api-teams"),
    path(TEAM, teams.TeamView.as_view(), name="api-team"),
    path(TEAM + "/members", teams.MemberListView.as_view(), name="api-members"),
    path(
        TEAM + "/members/<str:username>",
        teams.MemberView.as_view(),
        name="api-member",
    ),
    path(
        TEAM + "/invitations",
        teams.InvitationListView.as_view(),
        name="api-invitations",
    ),
    path(
        TEAM + "/invitations/<int:invitation_id>",
        teams.InvitationView.as_view(),
        name="api-invitation",
    ),
    path(
        "invitations/<str:token>/accept",
        teams.InvitationAcceptView.as_view(),
        name="api-invitation-accept",
    ),
    path("shared", shares.SharedWithMeView.as_view(), name="api-shared"),
    path(TEAM + "/reports", reports.ReportListView.as_view(), name="api-reports"),
    path(REPORT, reports.ReportView.as_view(), name="api-report"),
    path(REPORT + "/cards", reports.CardListView.as_view(), name="api-report-cards"),
    path(
        REPORT + "/cards/order",
        reports.CardOrderView.as_view(),
        name="api-report-card-order",
    ),
    path(
        REPORT + "/cards/<int:card>",
        reports.CardView.as_view(),
        name="api-report-card",
    ),
    path(
        REPORT + "/shares",
        reports.ReportShareListView.as_view(),
        name="api-report-shares",
    ),
    path(
        REPORT + "/shares/<int:share_id>",
        reports.ReportShareView.as_view(),
        name="api-report-share",
    ),
    path(
        REPORT + "/export", reports.ReportExportView.as_view(), name="api-report-export"
    ),
    path(TEAM + "/stacks", stacks.StackListView.as_view(), name="api-stacks"),
    path(
        TEAM + "/uploads/<uuid:upload_id>",
        stacks.UploadView.as_view(),
        name="api-upload",
    ),
    path(
        ATTACHMENT + "/download",
        stacks.AttachmentDownloadView.as_view(),
        name="api-download",
    ),
    path(ATTACHMENT + "/table", stacks.AttachmentTableView.as_view(), name="api-table"),
    path(
        ATTACHMENT + "/verify",
        stacks.AttachmentVerifyView.as_view(),
        name="api-attachment-verify",
    ),
    path(ATTACHMENT, stacks.AttachmentView.as_view(), name="api-attachment"),
    path(REVISION + "/commit", stacks.CommitView.as_view(), name="api-commit"),
    path(REVISION, stacks.RevisionView.as_view(), name="api-revision"),
    path(
        STACK + "/-/revisions", stacks.RevisionListView.as_view(), name="api-revisions"
    ),
    path(STACK + "/-/shares", shares.ShareListView.as_view(), name="api-shares"),
    path(
        STACK + "/-/shares/<int:share_id>",
        shares.ShareView.as_view(),
        name="api-share",
    ),
    path(STACK, stacks.StackView.as_view(), name="api-stack"),
    path(TEAM + "/jobs", jobs.JobListView.as_view(), name="api-jobs"),
    path(TEAM + "/jobs/<str:name>", jobs.JobView.as_view(), name="api-job"),
    path(TEAM + "/jobs/<str:name>/pause", jobs.JobPauseView.as_view(), name="api-job-pause"),
    path(
        TEAM + "/jobs/<str:name>/resume",
        jobs.JobResumeView.as_view(),
        name="api-job-resume",
    ),
    path(TEAM + "/jobs/<str:name>/runs", jobs.JobRunListView.as_view(), name="api-job-runs"),
    path(
        TEAM + "/jobs/<str:name>/runs/latest",
        jobs.LatestRunView.as_view(),
        name="api-job-latest-run",
    ),
    path("runs/<str:run_id>", jobs.RunView.as_view(), name="api-run"),
    path("runs/<str:run_id>/cancel", jobs.RunCancelView.as_view(), name="api-run-cancel"),
    path("runs/<str:run_id>/events", jobs.RunEventsView.as_view(), name="api-run-events"),
    path("runs/<str:run_id>/log", jobs.RunLogView.as_view(), name="api-run-log"),
    path(
        "schedule-preview",
        jobs.SchedulePreviewView.as_view(),
        name="api-schedule-preview",
    ),
    path(TEAM + "/models", registry.ModelListView.as_view(), name="api-models"),
    path(MODEL, registry.ModelView.as_view(), name="api-model"),
    path(
        MODEL + "/versions",
        registry.VersionListView.as_view(),
        name="api-model-versions",
    ),
    path(
        MODEL + "/pushes/<str:push>/commit",
        registry.PushCommitView.as_view(),
        name="api-model-commit",
    ),
    path(MODEL_VERSION, registry.VersionView.as_view(), name="api-model-version"),
    path(MODEL_FILE, registry.FileView.as_view(), name="api-model-file"),
    path(
        MODEL_FILE + "/download",
        registry.FileDownloadView.as_view(),
        name="api-model-download",
    ),
    path(
        MODEL_FILE + "/verify",
        registry.FileVerifyView.as_view(),
        name="api-model-file-verify",
    ),
    path(
        MODEL + "/aliases", registry.AliasListView.as_view(), name="api-model-aliases"
    ),
    path(
        MODEL + "/aliases/<str:alias>",
        registry.AliasView.as_view(),
        name="api-model-alias",
    ),
    path(
        MODEL + "/shares",
        model_shares.ModelShareListView.as_view(),
        name="api-model-shares",
    ),
    path(
        MODEL + "/shares/<int:share_id>",
        model_shares.ModelShareView.as_view(),
        name="api-model-share",
    ),
    path("transfers/parts/<str:token>", transfers.upload_part, name="transfer-part"),
    path("transfers/blobs/<str:token>", transfers.download_blob, name="transfer-blob"),
    re_path(r"", endpoint_not_found, name="api-not-found"),
]
