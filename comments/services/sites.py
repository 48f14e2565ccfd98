"""Sites: creation, API keys, origins and the moderation settings with their defaults."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from sqlalchemy import bindparam, select

from comments.classifier import DETOXIFY_LABELS
from comments.extensions import db
from comments.models import ApiKey, Site, utcnow
from comments.security import new_api_key
from comments.services.audit import Actor, record
from comments.services.calibration.estimates import Objective, parse_objective
from comments.services.errors import Invalid
from comments.services.validation import SLUG_PATTERN, StorableSchema, is_one_clean_line

# Detoxify's labels; thresholds are probabilities in [0, 1] at or above which a comment is held.
CLASSIFIER_LABELS = DETOXIFY_LABELS
PREMODERATION_MODES = ("none", "all", "first-comment", "links")

DEFAULT_SETTINGS: dict[str, Any] = {
    "premoderation": "none",
    "banned_words": [],  # reject
    "suspect_words": [],  # hold
    "edit_window_seconds": 15 * 60,
    "max_depth": 6,
    "report_threshold": 3,
    "duplicate_window_seconds": 24 * 3600,
    "repeat_window_seconds": 3600,
    "thresholds": dict.fromkeys(CLASSIFIER_LABELS, 0.7),
    "reject_thresholds": {},  # auto-reject is off unless a site sets these
    "failure_policy": "hold",  # or "publish" when the classifier is down
    "shadow_mode": False,
    # Readers' identity: "anonymous" (names typed in), "sso" (only readers signed in by the host), "both".
    "identity": "anonymous",
    "sso_login_url": None,  # where the widget's "Sign in to comment" goes
    # Recent history: an author whose rejected share of their last N decided comments reaches the
    # threshold (with at least RECENT_HISTORY_MIN_DECIDED decided) goes on premod. 0 comments: off.
    "recent_history_count": 10,
    "recent_history_threshold": 0.6,
    # Calibration: the share of machine-published comments drawn for a moderator's spot check
    # (weighted towards scores just under the thresholds; services.calibration). 0: none.
    "spot_check_rate": 0.01,
    # What a recommended threshold aims for (estimates.parse_objective reads it). "balance" (the
    # best F1 of holds) is the only objective that needs no number of the site's own: a precision
    # or hold-rate target is a site's policy, to be chosen, not guessed for it.
    "calibration_objective": {"kind": "balance"},
    # Applying the recommendation without a moderator: off unless a site turns it on, and then only
    # within [min, max] and by at most max_step per daily run (tasks.calibration).
    "auto_calibrate": {"enabled": False, "min": 0.3, "max": 0.95, "max_step": 0.05},
}
IDENTITY_MODES = ("anonymous", "sso", "both")


def _probability(value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ma.ValidationError("Must be a probability between 0 and 1.")


class ObjectiveField(ma.fields.Field[dict[str, Any]]):
    """A calibration objective, read by ``estimates.parse_objective`` (the one parser): stored as
    ``{"kind": ..., "target": ...}`` (``target`` only for "precision" and "hold_rate")."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            objective = parse_objective(value)
        except (TypeError, ValueError) as exc:
            raise ma.ValidationError(str(exc)) from None
        return objective_setting(objective)


def objective_setting(objective: Objective) -> dict[str, Any]:
    """An objective as the settings store it (and the audit log shows it)."""
    stored: dict[str, Any] = {"kind": objective.kind}
    if objective.target is not None:
        stored["target"] = objective.target
    return stored


class StrictBoolean(ma.fields.Boolean):
    """JSON's true or false only: a switch that changes thresholds unattended is not turned on by
    "yes" or 1 sent by mistake."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ma.ValidationError("Must be true or false.")
        return value


class AutoCalibrateSchema(StorableSchema):
    """``auto_calibrate``: on or off, the bounds a threshold stays within, the largest step per run.
    Partial: a change merges into the stored value (then the whole is checked)."""

    class Meta:
        unknown = ma.RAISE

    enabled = StrictBoolean()
    min = ma.fields.Float(validate=_probability)
    max = ma.fields.Float(validate=_probability)
    max_step = ma.fields.Float(validate=ma.validate.Range(0.01, 1.0))


class SiteSettingsSchema(StorableSchema):
    """The site settings a host or moderator may change; every field optional on update."""

    premoderation = ma.fields.String(validate=ma.validate.OneOf(PREMODERATION_MODES))
    banned_words = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(1, 100)), validate=ma.validate.Length(max=1000)
    )
    suspect_words = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(1, 100)), validate=ma.validate.Length(max=1000)
    )
    edit_window_seconds = ma.fields.Integer(strict=True, validate=ma.validate.Range(0, 7 * 24 * 3600))
    max_depth = ma.fields.Integer(strict=True, validate=ma.validate.Range(1, 20))
    report_threshold = ma.fields.Integer(strict=True, validate=ma.validate.Range(1, 1000))
    # At most 30 days, like the rejections the author-history rule counts (submission.HISTORY_DAYS).
    duplicate_window_seconds = ma.fields.Integer(strict=True, validate=ma.validate.Range(0, 30 * 24 * 3600))
    repeat_window_seconds = ma.fields.Integer(strict=True, validate=ma.validate.Range(0, 30 * 24 * 3600))
    thresholds = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.OneOf(CLASSIFIER_LABELS)),
        values=ma.fields.Float(validate=_probability),
    )
    reject_thresholds = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.OneOf(CLASSIFIER_LABELS)),
        values=ma.fields.Float(validate=_probability),
    )
    failure_policy = ma.fields.String(validate=ma.validate.OneOf(("hold", "publish")))
    shadow_mode = ma.fields.Boolean()
    identity = ma.fields.String(validate=ma.validate.OneOf(IDENTITY_MODES))
    sso_login_url = ma.fields.Url(schemes={"http", "https"}, allow_none=True, validate=ma.validate.Length(max=2000))
    recent_history_count = ma.fields.Integer(strict=True, validate=ma.validate.Range(0, 100))
    recent_history_threshold = ma.fields.Float(validate=_probability)
    spot_check_rate = ma.fields.Float(validate=_probability)
    calibration_objective = ObjectiveField()
    auto_calibrate = ma.fields.Nested(AutoCalibrateSchema)


def effective_settings(site: Site) -> dict[str, Any]:
    merged = {**DEFAULT_SETTINGS, **(site.settings or {})}
    merged["thresholds"] = {**DEFAULT_SETTINGS["thresholds"], **(site.settings or {}).get("thresholds", {})}
    merged["auto_calibrate"] = {**DEFAULT_SETTINGS["auto_calibrate"], **(site.settings or {}).get("auto_calibrate", {})}
    return merged


def validate_origin(origin: str) -> str:
    """An origin is scheme://host[:port], nothing more; returned normalised."""
    if not is_one_clean_line(origin):
        raise ValueError(f"{origin!r} is not an origin like https://news.example")
    parts = urlsplit(origin.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
    ):
        raise ValueError(f"{origin!r} is not an origin like https://news.example")
    host = parts.hostname
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


# Built once: every public request looks its site up, and building a statement (and its cache
# key) costs more than running it.
_SITE_BY_SLUG = select(Site).where(Site.slug == bindparam("slug"))


def get_site(slug: str) -> Site | None:
    if not SLUG_PATTERN.fullmatch(slug):
        return None  # not a slug (NUL would even make PostgreSQL fail): no such site
    return db.session.execute(_SITE_BY_SLUG, {"slug": slug}).scalar_one_or_none()


class SiteError(ValueError):
    pass


def create_site(slug: str, origins: list[str], name: str = "", actor: Actor = Actor("operator")) -> tuple[Site, str]:
    """A new site and its first API key (returned once, stored only as a hash)."""
    if not SLUG_PATTERN.fullmatch(slug):
        raise SiteError("A site slug is 1–64 characters of a-z, 0-9 and '-'.")
    if get_site(slug) is not None:
        raise SiteError(f"A site '{slug}' exists already.")
    try:
        normalised = sorted({validate_origin(o) for o in origins})
    except ValueError as exc:
        raise SiteError(str(exc)) from None
    site = Site(slug=slug, name=name or slug, allowed_origins=normalised, settings={})
    db.session.add(site)
    db.session.flush()
    key = add_api_key(site, label="initial")
    record("site_created", actor, site_id=site.id, reasons=[{"kind": "origins", "origins": normalised}])
    return site, key


def add_api_key(site: Site, label: str = "") -> str:
    key, prefix, key_hash = new_api_key()
    site.api_keys.append(ApiKey(prefix=prefix, key_hash=key_hash, label=label))
    return key


def rotate_api_key(site: Site, actor: Actor = Actor("operator"), revoke_old: bool = True) -> str:
    key = add_api_key(site, label="rotated")
    if revoke_old:
        for old in site.api_keys:
            if old.revoked_at is None and old.key_hash is not None and old.id is not None:
                old.revoked_at = utcnow()
    record("api_key_rotated", actor, site_id=site.id, reasons=[{"kind": "rotation", "revoked_old": revoke_old}])
    return key


def set_origins(site: Site, origins: list[str], actor: Actor = Actor("operator")) -> None:
    try:
        normalised = sorted({validate_origin(o) for o in origins})
    except ValueError as exc:
        raise SiteError(str(exc)) from None
    before = list(site.allowed_origins or [])
    site.allowed_origins = normalised
    record(
        "origins_changed", actor, site_id=site.id, reasons=[{"kind": "origins", "before": before, "after": normalised}]
    )


def _invalid(fields: dict[str, Any]) -> Invalid:
    return Invalid("validation_failed", "Some fields are not valid.", fields)


def lock_settings(site: Site) -> None:
    """Lock the site's row (PostgreSQL; SQLite writers take turns anyway) and read its settings
    afresh. The settings are one JSON value written whole: without this, a change another request
    committed after this one read the site (a calibration's apply computes its report first)
    would be written over."""
    db.session.execute(select(Site.id).where(Site.id == site.id).with_for_update())
    db.session.refresh(site, ["settings"])


def update_settings(
    site: Site, changes: dict[str, Any], actor: Actor, *, evidence: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Validate and apply a partial settings change; the one writer of ``Site.settings``.

    ``changes`` may hold any field of ``SiteSettingsSchema`` plus ``allowed_origins``. Threshold
    dicts merge label by label (a label set to ``None`` in ``reject_thresholds`` removes it).
    Raises ``Invalid`` (``fields``: field → messages) before anything changes. Every change is
    written to the audit log with the values before and after, and with ``evidence`` when the
    change comes from data (a calibration's figures: ``{"kind": "calibration", ...}``). Returns the
    effective settings.
    """
    changes = dict(changes)
    origins = changes.pop("allowed_origins", None)
    if origins is not None:
        if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
            raise _invalid({"allowed_origins": ["Must be a list of origins."]})
        for origin in origins:
            try:
                validate_origin(origin)
            except ValueError as exc:
                raise _invalid({"allowed_origins": [str(exc)]}) from None
    reject_removals = [label for label, value in (changes.get("reject_thresholds") or {}).items() if value is None]
    if reject_removals:
        changes["reject_thresholds"] = {k: v for k, v in changes["reject_thresholds"].items() if v is not None}
    try:
        loaded = SiteSettingsSchema().load(changes)  # unknown fields are refused too
    except ma.ValidationError as exc:
        # (marshmallow leaves normalized_messages unannotated.)
        raise _invalid(exc.normalized_messages()) from None  # type: ignore[no-untyped-call]
    lock_settings(site)
    before = effective_settings(site)
    if "auto_calibrate" in loaded:
        bounds = {**before["auto_calibrate"], **loaded["auto_calibrate"]}
        if bounds["min"] > bounds["max"]:
            raise _invalid({"auto_calibrate": {"min": ["Must not be over max."]}})
        loaded["auto_calibrate"] = bounds
    stored = dict(site.settings or {})
    for field, value in loaded.items():
        if field in ("thresholds", "reject_thresholds"):
            merged = {**stored.get(field, {}), **value}
            if field == "reject_thresholds":
                for label in reject_removals:
                    merged.pop(label, None)
            stored[field] = merged
        elif field in ("banned_words", "suspect_words"):
            # Matching is case-insensitive; keep each word once, in the order given.
            stored[field] = list(dict.fromkeys(word.strip().lower() for word in value if word.strip()))
        else:
            stored[field] = value
    site.settings = stored  # a new dict, so SQLAlchemy sees the JSON column change
    after = effective_settings(site)
    changed = {
        key: {"before": before.get(key), "after": after.get(key)} for key in after if before.get(key) != after.get(key)
    }
    if changed:
        reasons: list[dict[str, Any]] = [{"kind": "settings", "changes": changed}]
        if evidence is not None:
            reasons.append(evidence)
        record("settings_changed", actor, site_id=site.id, reasons=reasons)
    if origins is not None and sorted(set(origins)) != sorted(site.allowed_origins or []):
        set_origins(site, origins, actor)
    return after
