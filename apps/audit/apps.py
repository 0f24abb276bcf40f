from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"

    def ready(self) -> None:
        # Connects the sign-in and lockout receivers.
        from apps.audit import signals  # noqa: F401
