"""The moderators' dashboard at /mod/: server-rendered Jinja with htmx (vendored under static/).

Views here are thin: every rule and every change goes through ``comments.services`` (review,
stats, sites, accounts), the same functions the moderation API calls.
"""

from comments.dashboard.views import bp

__all__ = ["bp"]
