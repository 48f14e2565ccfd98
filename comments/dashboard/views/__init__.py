"""The dashboard's screens, one module each; importing them registers their routes on ``bp``."""

from comments.dashboard.views import (  # noqa: F401  (each registers its routes)
    auth,
    authors,
    calibration,
    context,
    decisions,
    queue,
    settings,
    stats,
    template_helpers,
)
from comments.dashboard.views.common import bp

__all__ = ["bp"]
