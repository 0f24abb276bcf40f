"""Tell people about failed runs: email to the owner and watchers, a webhook.

The webhook receives a JSON POST:

    {"event": "run.failed", "job": "acme/nightly", "run": 12, "status":
     "timed_out", "error": "...", "url": "https://.../acme/-/runs/34"}

It is sent by a Celery task with a 10-second timeout, and tried three times
with growing pauses; the last failure is logged. Redirects are not
followed, and a host that resolves to a loopback, link-local or private
address is refused (at save and at each send) unless
`JOB_WEBHOOK_ALLOW_PRIVATE` is set.
"""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from apps.jobs.models import Run
from apps.jobs.validation import webhook_address_problem

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 10
WEBHOOK_TRIES = 3


def run_url(run: Run) -> str:
    return settings.PUBLIC_URL + reverse(
        "job-run", kwargs={"team": run.team.name, "run_id": run.pk}
    )


def run_failed_notify(*, run_id: int) -> None:
    """Email the job's owner and watchers and send its webhook. Never raises."""
    run = (
        Run.objects.select_related("job", "team", "job__created_by")
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        return
    job = run.job
    recipients = {user.email for user in job.watchers.all() if user.email}
    if job.created_by is not None and job.created_by.email:
        recipients.add(job.created_by.email)
    status = run.get_status_display().lower()
    subject = f"[dstack] {job.team.name}/{job.name} run {run.number} {status}"
    body = (
        f"Run {run.number} of job {job.team.name}/{job.name} ended: {status}.\n\n"
        f"{run.error}\n\nLog: {run_url(run)}\n"
    )
    if recipients:
        try:
            send_mail(subject, body, None, sorted(recipients))
        except Exception:
            # The run's status is recorded; a mail server being down must
            # not turn into a second failure.
            logger.exception("run failure email not sent: run=%s", run.pk)
    if job.webhook_url:
        from apps.jobs import tasks

        try:
            tasks.run_failed_webhook.delay(run.pk)
        except Exception:
            logger.exception("run failure webhook not queued: run=%s", run.pk)


def webhook_payload(run: Run) -> dict[str, object]:
    return {
        "event": "run.failed",
        "job": f"{run.team.name}/{run.job.name}",
        "run": run.number,
        "run_id": run.pk,
        "status": run.status,
        "exit_code": run.exit_code,
        "error": run.error,
        "url": run_url(run),
    }


def webhook_send(*, run_id: int) -> bool:
    run = Run.objects.select_related("job", "team").filter(pk=run_id).first()
    if run is None or not run.job.webhook_url:
        return False
    payload = webhook_payload(run)
    for attempt in range(1, WEBHOOK_TRIES + 1):
        # Checked again at each send: what a name resolves to can change.
        refused = webhook_address_problem(run.job.webhook_url)
        if refused:
            logger.warning("run webhook not sent: run=%s: %s", run.pk, refused)
            return False
        try:
            # A redirect could lead to an address that was not checked.
            response = requests.post(
                run.job.webhook_url,
                json=payload,
                timeout=WEBHOOK_TIMEOUT,
                allow_redirects=False,
            )
            if response.status_code < 400:
                return True
            problem = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            problem = str(error)
        logger.warning(
            "run webhook failed: run=%s try=%s error=%s", run.pk, attempt, problem
        )
        if attempt < WEBHOOK_TRIES:
            import time

            time.sleep(2**attempt)
    return False
