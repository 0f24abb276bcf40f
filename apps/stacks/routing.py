"""Websocket routes, mounted under the Channels router in dstack_platform.asgi."""

from django.urls import re_path

from apps.stacks.consumers import StackConsumer

websocket_urlpatterns = [
    re_path(r"^ws/stacks/(?P<team>[^/]+)/(?P<path>.+)$", StackConsumer.as_asgi()),
]
