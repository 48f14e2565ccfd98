"""Moderation that learns from its moderators: spot checks, measured precision and estimated
misses per label, thresholds the data recommends, and drift of the score distributions.

``estimates`` is the statistics alone (no database); ``evidence`` keeps the tables it reads up to
date as comments are scored and decided; ``report`` assembles a site's figures and applies a
recommendation.
"""
