#!/bin/sh
# The image's entry point: the first argument picks the process to run.
#
#   web       uvicorn on DSTACK_HOST:DSTACK_PORT (0.0.0.0:8080)
#   worker    a Celery worker; DSTACK_WORKER_CONCURRENCY processes (default 2),
#             DSTACK_WORKER_QUEUES a comma-separated list (default: all)
#   beat      Celery beat with the database scheduler; run exactly one
#   migrate   wait for the database, then apply migrations under a lock
#   wait-for-migrations
#             wait until every migration is applied (workers' init step)
#   manage    any `manage.py` command: `manage createadmin alice`
#
# Anything else is run as it is (`sh`, `python`). Each role is exec'd, so it
# is process 1 and receives the container's SIGTERM.
set -eu

role="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$role" in
    web)
        # uvicorn keeps the proxy's address as the peer: the server reads
        # X-Forwarded-For itself, only from DSTACK_TRUSTED_PROXIES
        # (apps/core/forwarded.py), and needs the peer to decide that.
        exec uvicorn dstack_platform.asgi:application \
            --host "${DSTACK_HOST:-0.0.0.0}" \
            --port "${DSTACK_PORT:-8080}" \
            --no-proxy-headers \
            --no-server-header \
            --timeout-graceful-shutdown "${DSTACK_WEB_GRACEFUL_SECONDS:-20}" \
            "$@"
        ;;
    worker)
        set -- --concurrency "${DSTACK_WORKER_CONCURRENCY:-2}" "$@"
        if [ -n "${DSTACK_WORKER_QUEUES:-}" ]; then
            set -- --queues "$DSTACK_WORKER_QUEUES" "$@"
        fi
        exec celery --app dstack_platform worker \
            --loglevel "${DSTACK_LOG_LEVEL:-INFO}" --without-mingle "$@"
        ;;
    beat)
        # The database scheduler keeps its state in PostgreSQL: no schedule
        # file, and no pid file in the read-only image.
        exec celery --app dstack_platform beat \
            --loglevel "${DSTACK_LOG_LEVEL:-INFO}" --pidfile= "$@"
        ;;
    migrate)
        exec python manage.py migrate_when_ready "$@"
        ;;
    wait-for-migrations)
        exec python manage.py wait_for_migrations "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
