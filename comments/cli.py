"""``flask --app wsgi comments ...``: what an operator needs.

A command that changes data is its own unit of work (``with transaction.unit_of_work():``):
committed when it ends, rolled back when it fails. Long ones commit at named points (a purge
batch, a rescored comment).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from comments import transaction
from comments.classifier.cli import build_test_model_command
from comments.extensions import db
from comments.models import Site
from comments.services import sites as site_service
from comments.services.accounts import AccountError, create_moderator
from comments.services.apikeys import SCOPES, issue_key, list_keys, revoke_key
from comments.services.audit import Actor
from comments.services.calibration import report
from comments.services.errors import ServiceError
from comments.services.importers import ImportFailed, import_file
from comments.services.privacy import PURGE_BATCH_SIZE, Purge, Retention, purge_batch, record_purge
from comments.services.scoring import rescore
from comments.services.sso import issue_secret
from comments.services.submission import NewComment, submit
from comments.tasks import ClassifierHolder
from comments.tasks.calibration import calibrate_due

comments_cli = AppGroup("comments", help="Manage sites, moderators and workers.")


def _site_or_exit(slug: str) -> Site:
    site = site_service.get_site(slug)
    if site is None:
        raise click.ClickException(f"No site '{slug}'. See: flask comments list-sites")
    return site


@comments_cli.command("create-site")
@click.argument("slug")
@click.option("--origin", "origins", multiple=True, help="An allowed origin, e.g. https://news.example (repeatable).")
@click.option("--name", default="", help="A display name.")
def create_site_command(slug: str, origins: tuple[str, ...], name: str) -> None:
    """Create a site and print its API key (shown only this once)."""
    try:
        with transaction.unit_of_work():
            site, key = site_service.create_site(slug, list(origins), name)
    except site_service.SiteError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created site '{site.slug}' (origins: {', '.join(site.allowed_origins) or 'none'}).")
    click.echo(f"API key (store it now, it is not shown again): {key}")


@comments_cli.command("list-sites")
def list_sites_command() -> None:
    """List sites with their origins and API key prefixes."""
    for site in db.session.execute(select(Site).order_by(Site.slug)).scalars():
        keys = ", ".join(k.prefix + "…" for k in site.api_keys if k.revoked_at is None) or "no active key"
        click.echo(f"{site.slug}\torigins: {', '.join(site.allowed_origins) or '-'}\tkeys: {keys}")


@comments_cli.command("rotate-key")
@click.argument("slug")
@click.option("--keep-old", is_flag=True, help="Keep the old keys working (revoke them later).")
def rotate_key_command(slug: str, keep_old: bool) -> None:
    """Issue a new API key for a site; by default the old ones stop working."""
    with transaction.unit_of_work():
        key = site_service.rotate_api_key(_site_or_exit(slug), revoke_old=not keep_old)
    click.echo(f"New API key for '{slug}' (store it now): {key}")


@comments_cli.command("add-key")
@click.argument("slug")
@click.option("--label", default="", help="What the key is for, e.g. 'cms production'.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(list(SCOPES)),
    help="host (the host-site API, default), moderate (the moderation API, this site only) and/or analyze"
    " (the Perspective-compatible analysis, /v1alpha1/comments:analyze).",
)
def add_key_command(slug: str, label: str, scopes: tuple[str, ...]) -> None:
    """Issue one more API key for a site (the others keep working)."""
    with transaction.unit_of_work():
        row, key = issue_key(_site_or_exit(slug), label, list(scopes) or None)
    click.echo(f"New API key {row.prefix}… for '{slug}' (scopes: {', '.join(row.scope_list)}; store it now): {key}")


@comments_cli.command("list-keys")
@click.argument("slug")
def list_keys_command(slug: str) -> None:
    """A site's API keys: id, prefix, scopes, label, state."""
    for row in list_keys(_site_or_exit(slug)):
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        used = f"last used {row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never used"
        click.echo(f"{row.id}\t{row.prefix}…\t{' '.join(row.scope_list)}\t{row.label or '-'}\t{state}\t{used}")


@comments_cli.command("revoke-key")
@click.argument("slug")
@click.argument("key")
def revoke_key_command(slug: str, key: str) -> None:
    """Revoke a site's key, given by its id or its prefix (see list-keys)."""
    site = _site_or_exit(slug)
    matches = [k for k in list_keys(site) if str(k.id) == key or k.prefix == key.rstrip("…")]
    if len(matches) != 1:
        raise click.ClickException(f"No single key '{key}' for '{slug}'. See: flask comments list-keys {slug}")
    try:
        with transaction.unit_of_work():
            revoke_key(site, matches[0].id)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Revoked {matches[0].prefix}… of '{slug}'.")


@comments_cli.command("sso-secret")
@click.argument("slug")
def sso_secret_command(slug: str) -> None:
    """Print a new SSO secret for the site's sign-in tokens (the previous one works 24 hours more)."""
    with transaction.unit_of_work():
        secret = issue_secret(_site_or_exit(slug), Actor("operator", "cli"))
    click.echo(f"New SSO secret for '{slug}' (store it now, it is not shown again; the previous one works 24 hours):")
    click.echo(secret)


@comments_cli.command("purge")
@click.option(
    "--ip-older-than",
    "days",
    type=click.IntRange(min=0),
    default=None,
    help="Days; default COMMENTS_IP_RETENTION_DAYS.",
)
@click.option(
    "--deliveries-older-than",
    "delivery_days",
    type=click.IntRange(min=0),
    default=None,
    help="Days; finished webhook deliveries to forget. Default COMMENTS_WEBHOOK_LOG_DAYS.",
)
@click.option(
    "--feedback-older-than",
    "feedback_days",
    type=click.IntRange(min=0),
    default=None,
    help="Days; suggested scores (comments:suggestscore) to forget. Default COMMENTS_ANALYSIS_FEEDBACK_DAYS.",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Rows of each kind per transaction (default 200)."
)
def purge_command(
    days: int | None, delivery_days: int | None, feedback_days: int | None, batch_size: int | None
) -> None:
    """Drop IP hashes (comments and reports) older than the retention period, old webhook
    deliveries (they carry comment texts) and old suggested scores (texts a Perspective client
    sent). Run it daily, from cron.

    In small transactions, one per batch: posts wait for each batch, not for the whole purge,
    and an interrupted purge keeps what it did (the next run goes on from there)."""
    days = current_app.config["IP_RETENTION_DAYS"] if days is None else days
    delivery_days = current_app.config["WEBHOOK_LOG_DAYS"] if delivery_days is None else delivery_days
    feedback_days = current_app.config["ANALYSIS_FEEDBACK_DAYS"] if feedback_days is None else feedback_days
    retention = Retention.days(days, delivery_days, feedback_days)
    result = Purge()
    with transaction.unit_of_work():
        while (batch := purge_batch(retention, batch_size or PURGE_BATCH_SIZE)).total:
            result.add(batch)
            transaction.commit()  # one batch per transaction: posts wait for a batch, not the purge
        record_purge(retention, result)
    click.echo(f"Dropped IP hashes older than {days} days: {result.comments} comments, {result.reports} reports.")
    click.echo(f"Dropped {result.deliveries} finished webhook deliveries older than {delivery_days} days.")
    click.echo(f"Dropped {result.revoked_tokens} signed-out SSO tokens past their expiry.")
    click.echo(f"Dropped {result.feedback} suggested scores older than {feedback_days} days.")


@comments_cli.command("import")
@click.argument("slug")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["auto", "disqus", "wxr"]), default="auto", show_default=True)
@click.option(
    "--key-from",
    type=click.Choice(["id", "url"]),
    default="id",
    show_default=True,
    help="Thread keys from the source's article id (Disqus identifier, WordPress post id) or its URL.",
)
@click.option("--dry-run", is_flag=True, help="Read and check everything, change nothing.")
def import_command(slug: str, path: Path, fmt: str, key_from: str, dry_run: bool) -> None:
    """Import comments from a Disqus XML export or a WordPress WXR file (safe to run twice)."""
    site = _site_or_exit(slug)
    try:
        # One transaction for the whole file: an import that fails leaves nothing behind.
        with transaction.unit_of_work():
            summary = import_file(site, path, fmt, key_from, score=current_app.config["SCORING_MODE"] != "off")
            if dry_run:
                db.session.rollback()  # everything was checked and written; nothing of it stays
    except ImportFailed as exc:
        raise click.ClickException(f"Nothing was imported. {exc}") from None
    for line in summary.lines():
        click.echo(line)
    if dry_run:
        click.echo("Dry run: nothing was changed.")


@comments_cli.command("set-origins")
@click.argument("slug")
@click.argument("origins", nargs=-1, required=True)
def set_origins_command(slug: str, origins: tuple[str, ...]) -> None:
    """Replace a site's allowed origins."""
    site = _site_or_exit(slug)
    try:
        with transaction.unit_of_work():
            site_service.set_origins(site, list(origins))
    except site_service.SiteError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Origins of '{slug}': {', '.join(site.allowed_origins)}")


@comments_cli.command("create-moderator")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Asked for when not given.")
@click.option("--site", "sites", multiple=True, help="Limit to these site slugs (repeatable); default all.")
def create_moderator_command(email: str, password: str, sites: tuple[str, ...]) -> None:
    """Create a moderator account."""
    for slug in sites:
        _site_or_exit(slug)
    try:
        with transaction.unit_of_work():
            moderator = create_moderator(email, password, list(sites))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    scope = ", ".join(moderator.site_slugs) or "all sites"
    click.echo(f"Created moderator {moderator.email} ({scope}).")


@comments_cli.command("ensure-demo")
@click.option("--slug", default="demo")
def ensure_demo_command(slug: str) -> None:
    """Create the demo site if it does not exist (used by the README's quick start)."""
    public_url = current_app.config["PUBLIC_URL"].rstrip("/")
    origins = [public_url, public_url.replace("127.0.0.1", "localhost")]
    site = site_service.get_site(slug)
    if site is not None:
        # The demo page is served from COMMENTS_PUBLIC_URL: a run on another port must still be allowed.
        missing = [o for o in origins if o not in (site.allowed_origins or [])]
        if missing:
            with transaction.unit_of_work():
                site_service.set_origins(site, [*(site.allowed_origins or []), *missing])
            click.echo(f"Demo site '{slug}' exists; allowed origins now: {', '.join(site.allowed_origins)}.")
        else:
            click.echo(f"Demo site '{slug}' exists.")
        return
    welcome = NewComment(
        body="Welcome! This is the demo thread. Comments support *Markdown*, "
        "`code`, > quotes and links like https://example.org.",
        author_name="The editors",
        thread_title="Welcome to the demo",
    )
    with transaction.unit_of_work():
        site, key = site_service.create_site(slug, origins, name="Demo news site")
        submit(site, "welcome", welcome)
    click.echo(f"Created demo site '{slug}' with a 'welcome' thread. Its API key (shown once): {key}")


@comments_cli.command("worker")
@click.option("--burst", is_flag=True, help="Score what is waiting, then exit.")
def worker_command(burst: bool) -> None:
    """Run a classification worker (with COMMENTS_SCORING_MODE=rq and COMMENTS_REDIS_URL)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config.get("REDIS_URL"):
        raise click.ClickException("A worker needs COMMENTS_REDIS_URL (and the web side COMMENTS_SCORING_MODE=rq).")
    try:
        # Only for this command: rq is an optional dependency (the "rq" extra).
        from comments.tasks.rq import run_worker
    except ModuleNotFoundError as exc:
        raise click.ClickException(f"A worker needs the {exc.name} package: pip install 'comments[rq]'") from exc
    click.echo("Loading the classifier and waiting for comments to score…")
    run_worker(app, burst=burst)


# The classifier package owns its command; it joins the operator's group here.
comments_cli.add_command(build_test_model_command)


@comments_cli.command("rescore")
@click.option("--site", "site_slug", help="Only this site's comments.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Only comments posted since this date (UTC).",
)
@click.option("--all", "everything", is_flag=True, help="Every site, every date.")
@click.option("--apply", is_flag=True, help="Make the changes (without it, only report them).")
def rescore_command(site_slug: str | None, since: datetime | None, everything: bool, apply: bool) -> None:
    """Score comments again after a model or threshold change; reports what would change first."""
    if not (site_slug or since or everything):
        raise click.ClickException("Say which comments: --site SLUG, --since DATE, or --all.")
    site = _site_or_exit(site_slug) if site_slug else None
    classifier, error = ClassifierHolder(current_app.config).get()
    if classifier is None:
        raise click.ClickException(f"The classifier could not be loaded: {error}")
    with transaction.unit_of_work():
        # Applied, each comment's change is committed as soon as it is written (commit_each).
        result = rescore(
            classifier,
            site_id=site.id if site else None,
            since=since.replace(tzinfo=UTC) if since else None,
            apply=apply,
            commit_each=transaction.commit,
        )
    verb = "Changed" if apply else "Would change"
    click.echo(f"Examined {result.examined} comments with {classifier.name}@{classifier.version}.")
    click.echo(f"{verb} {len(result.changes)}:" if result.changes else "No status would change.")
    for transition, count in sorted(result.summary().items()):
        click.echo(f"  {transition}: {count}")
    for change in result.changes[:50]:
        click.echo(
            f"  comment {change['comment_id']}: {change['from']} -> {change['to']} "
            f"(highest score {change['max_score']})"
        )
    if len(result.changes) > 50:
        click.echo(f"  … and {len(result.changes) - 50} more")
    if result.skipped:
        click.echo(f"Skipped {result.skipped} that changed meanwhile.")
    if result.changes and not apply:
        click.echo("Run again with --apply to make these changes.")


@comments_cli.command("calibrate")
@click.argument("slug", required=False)
@click.option("--apply", "apply_it", is_flag=True, help="Set the recommended thresholds (audited, as the operator).")
@click.option("--due", is_flag=True, help="Run auto-calibration for every site that has it on and is due (cron).")
def calibrate_command(slug: str | None, apply_it: bool, due: bool) -> None:
    """Show what a site's decisions say about its thresholds (and apply the recommendation)."""
    if due:
        for run in calibrate_due():
            moved = ", ".join(f"{c.label} {c.before:.2f} -> {c.after:.2f}" for c in run.result.applied)
            click.echo(f"{run.site_slug}: {moved or 'no change'}")
        return
    if slug is None:
        raise click.ClickException("Say which site: flask comments calibrate SLUG (or --due).")
    site = _site_or_exit(slug)
    with transaction.unit_of_work():
        if apply_it:
            result = report.apply(site, Actor("operator", "cli"))
            figures = result.report
        else:
            figures = report.calibration_report(site)
    click.echo(
        f"{site.slug}, last {figures.days} days, objective {figures.objective.kind}"
        + (f" {figures.objective.target}" if figures.objective.target is not None else "")
    )
    for item in figures.labels:
        if not item.enough_decisions:
            click.echo(f"  {item.label}: {item.threshold:.2f}, not enough decisions yet ({item.decisions})")
            continue
        share = item.share_rejected
        rejected = f"{share.value:.0%} of {item.holds_decided} holds rejected" if share else "no decided holds"
        recommended = item.recommendation.threshold
        click.echo(
            f"  {item.label}: {item.threshold:.2f}, {rejected}; recommended "
            + (f"{recommended:.2f}" if recommended is not None else f"none ({item.recommendation.reason})")
        )
    if apply_it:
        for change in result.applied:
            click.echo(f"Set {change.label}: {change.before:.2f} -> {change.after:.2f}")
        if not result.applied:
            click.echo("No threshold changed.")
