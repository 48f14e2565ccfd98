"""Auto-calibration: for sites that turned ``auto_calibrate`` on, apply the recommended thresholds
once a day, within the site's bounds and by at most its step.

Run from the workers' periodic sweep (``CalibrationSchedule.run_if_due``: the in-process scoring
thread, each ``flask comments worker``) and by ``flask comments calibrate`` (a cron job may call it
instead). Every run, with changes or without, is in the audit log as system/calibration, which is
also what keeps it to one run a day per site, however many processes sweep.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from comments import metrics, transaction
from comments.extensions import db
from comments.models import AuditEvent, Site, utcnow
from comments.services.calibration import report
from comments.services.calibration.report import CALIBRATION_ACTOR, ApplyResult
from comments.services.sites import effective_settings, lock_settings

log = logging.getLogger(__name__)

RUN_EVERY = timedelta(days=1)
# How often a sweeping process asks whether a site is due (the answer is a few indexed reads).
CHECK_SECONDS = 3600.0


@dataclass(frozen=True)
class SiteRun:
    site_slug: str
    result: ApplyResult


def _last_run(site: Site) -> datetime | None:
    return db.session.execute(
        select(AuditEvent.created_at)
        .where(
            AuditEvent.site_id == site.id,
            AuditEvent.actor_type == CALIBRATION_ACTOR.type,
            AuditEvent.actor_id == CALIBRATION_ACTOR.id,
        )
        .order_by(AuditEvent.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def calibrate_site(site: Site, now: datetime | None = None) -> ApplyResult | None:
    """One site's run, if it has auto-calibration on and did not run in the last day; the caller
    commits. The site's row is locked first (PostgreSQL), so two sweeping processes cannot both run it."""
    now = now or utcnow()
    if not effective_settings(site)["auto_calibrate"]["enabled"]:
        return None  # (most sites: no lock taken)
    lock_settings(site)  # the settings as they are now that the row is ours
    bounds = effective_settings(site)["auto_calibrate"]
    if not bounds["enabled"]:
        return None
    last = _last_run(site)
    if last is not None and now - last < RUN_EVERY:
        return None
    result = report.apply(site, CALIBRATION_ACTOR, bounds=bounds, now=now)
    if not result.applied:
        report.record_unchanged_run(site, result)
    return result


def calibrate_due(now: datetime | None = None) -> list[SiteRun]:
    """Every due site's run, each committed on its own (one site's failure leaves the others)."""
    runs = []
    site_ids = list(db.session.execute(select(Site.id).order_by(Site.id)).scalars())
    for site_id in site_ids:
        try:
            with transaction.unit_of_work():
                site = db.session.get(Site, site_id)
                if site is None:
                    continue
                result = calibrate_site(site, now)
                slug = site.slug
        except Exception:  # one site's data must not stop the others' runs
            log.exception("auto-calibration of site %s failed", site_id)
            metrics.AUTO_CALIBRATION_RUNS.labels("failed").inc()
            continue
        if result is not None:
            metrics.AUTO_CALIBRATION_RUNS.labels("changed" if result.applied else "unchanged").inc()
            runs.append(SiteRun(slug, result))
            log.info(
                "auto-calibration of %s: %s",
                slug,
                ", ".join(f"{c.label} {c.before:.2f}→{c.after:.2f}" for c in result.applied) or "no change",
            )
    return runs


class CalibrationSchedule:
    """Called from a worker's loop: runs ``calibrate_due`` at most every ``CHECK_SECONDS``."""

    def __init__(self, check_seconds: float = CHECK_SECONDS):
        self.check_seconds = check_seconds
        self._next = 0.0  # the first sweep checks at once

    def run_if_due(self) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.check_seconds
        try:
            calibrate_due()
        except Exception:  # a database outage: the next check tries again
            log.exception("auto-calibration check failed")
            db.session.rollback()
