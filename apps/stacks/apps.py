from django.apps import AppConfig


class StacksConfig(AppConfig):
    name = "apps.stacks"
    label = "stacks"
