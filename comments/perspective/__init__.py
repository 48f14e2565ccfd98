"""Google's Perspective API protocol (v1alpha1) served by our classifier: an existing Perspective
client (Coral Talk, plugins, Google's own client libraries) works after changing its base URL and
key. The rules are in ``comments.services.analysis``; this package is the HTTP side (views,
request schemas, Google's error shape, the discovery document); the texts are scored by the
process's shared scorer (``comments.tasks.analyzer``)."""

from __future__ import annotations

from comments.perspective.views import bp

__all__ = ["bp"]
