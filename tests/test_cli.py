"""The operator's command line."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select

from comments.models import ApiKey, Comment, Moderator, Site, SsoSecret, Thread
from comments.security import hash_api_key
from comments.services import moderation, sso
from tests.helpers import sso_token


def test_create_site_prints_a_key_stored_only_as_a_hash(app, db):
    result = app.test_cli_runner().invoke(
        args=["comments", "create-site", "daily", "--origin", "https://daily.example/", "--name", "The Daily"]
    )
    assert result.exit_code == 0, result.output
    key = result.output.split("store it now, it is not shown again): ")[1].strip()
    site = db.session.query(Site).filter_by(slug="daily").one()
    assert site.allowed_origins == ["https://daily.example"]
    stored = db.session.query(ApiKey).filter_by(site_id=site.id).one()
    assert stored.key_hash == hash_api_key(key) and key not in stored.key_hash
    assert key.startswith(stored.prefix)


def test_create_site_refuses_bad_input(app, db):
    runner = app.test_cli_runner()
    for args in (["BAD_SLUG"], ["ok", "--origin", "not a url"], ["ok", "--origin", "https://x.example/path"]):
        result = runner.invoke(args=["comments", "create-site", *args])
        assert result.exit_code != 0
        assert "Error" in result.output
    runner.invoke(args=["comments", "create-site", "dup"])
    assert "exists already" in runner.invoke(args=["comments", "create-site", "dup"]).output


def test_list_sites_and_rotate_key(app, db, site):
    runner = app.test_cli_runner()
    assert "news" in runner.invoke(args=["comments", "list-sites"]).output
    result = runner.invoke(args=["comments", "rotate-key", "news"])
    assert result.exit_code == 0
    db.session.expire_all()
    keys = db.session.query(ApiKey).filter_by(site_id=site.id).all()
    assert len(keys) == 2 and sum(k.revoked_at is None for k in keys) == 1
    assert runner.invoke(args=["comments", "rotate-key", "nope"]).exit_code != 0


def test_set_origins(app, db, site):
    result = app.test_cli_runner().invoke(
        args=["comments", "set-origins", "news", "https://a.example", "http://localhost:3000"]
    )
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Site, site.id).allowed_origins == ["http://localhost:3000", "https://a.example"]


def test_create_moderator_with_argon2_hash(app, db, site):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["comments", "create-moderator", "Mod@News.Example", "--site", "news"],
        input="a long password\na long password\n",
    )
    assert result.exit_code == 0, result.output
    moderator = db.session.query(Moderator).one()
    assert moderator.email == "mod@news.example"
    assert moderator.password_hash.startswith("$argon2")
    assert moderator.site_slugs == ["news"]
    assert runner.invoke(args=["comments", "create-moderator", "x@y.example", "--password", "short"]).exit_code != 0
    assert (
        runner.invoke(
            args=["comments", "create-moderator", "x@y.example", "--password", "long enough pw", "--site", "nope"]
        ).exit_code
        != 0
    )


def test_ensure_demo_is_idempotent(app, db):
    runner = app.test_cli_runner()
    assert "Created demo site" in runner.invoke(args=["comments", "ensure-demo"]).output
    assert "exists" in runner.invoke(args=["comments", "ensure-demo"]).output
    assert db.session.query(Site).filter_by(slug="demo").count() == 1


def test_ensure_demo_allows_the_current_public_url(app, db):
    runner = app.test_cli_runner()
    first = app.config["PUBLIC_URL"]
    runner.invoke(args=["comments", "ensure-demo"])
    app.config["PUBLIC_URL"] = "http://127.0.0.1:9000"  # ./manage serve with PORT=9000
    try:
        output = runner.invoke(args=["comments", "ensure-demo"]).output
    finally:
        app.config["PUBLIC_URL"] = first
    assert "allowed origins now" in output
    db.session.expire_all()
    origins = db.session.query(Site).filter_by(slug="demo").one().allowed_origins
    assert {first, "http://127.0.0.1:9000", "http://localhost:9000"} <= set(origins)


def _committed(db, model) -> int:
    """Rows as another connection sees them: only what the command committed."""
    with db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar_one()


def test_an_import_that_fails_midway_leaves_nothing(app, db, site, monkeypatch):
    """The command is the import's one unit of work: comments already stored go with the failure."""
    change_status = moderation.change_status
    calls = []

    def fails_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the disk filled up")
        return change_status(*args, **kwargs)

    monkeypatch.setattr(moderation, "change_status", fails_on_the_third)
    sample = Path(__file__).resolve().parent / "data" / "disqus_sample.xml"
    result = app.test_cli_runner().invoke(args=["comments", "import", "news", str(sample)])
    assert isinstance(result.exception, RuntimeError), result.output
    assert len(calls) == 3
    assert _committed(db, Comment) == 0 and _committed(db, Thread) == 0
    monkeypatch.setattr(moderation, "change_status", change_status)
    assert app.test_cli_runner().invoke(args=["comments", "import", "news", str(sample)]).exit_code == 0
    assert _committed(db, Comment) == 6


def test_ensure_demo_creates_its_site_and_welcome_comment_in_one_unit_of_work(app, db):
    result = app.test_cli_runner().invoke(args=["comments", "ensure-demo", "--slug", "demo-uow"])
    assert result.exit_code == 0, result.output
    with db.engine.connect() as connection:
        demo = connection.execute(select(Site.id).where(Site.slug == "demo-uow")).scalar_one()
        assert connection.execute(select(Comment.body).where(Comment.site_id == demo)).scalars().all() != []


def test_sso_secret_prints_a_new_secret_and_keeps_the_previous_one_a_day(app, db, site):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["comments", "sso-secret", "news"])
    assert first.exit_code == 0, first.output
    old = first.output.strip().splitlines()[-1]
    second = runner.invoke(args=["comments", "sso-secret", "news"])
    new = second.output.strip().splitlines()[-1]
    assert old.startswith("sso_") and new.startswith("sso_") and old != new
    db.session.expire_all()
    rows = db.session.query(SsoSecret).filter_by(site_id=site.id).all()
    assert sorted(r.retired_at is None for r in rows) == [False, True]
    assert not any(s in r.ciphertext for r in rows for s in (old, new))
    for secret in (old, new):
        assert sso.verify_token(site, sso_token(secret)).user_id == "reader-1"
    missing = runner.invoke(args=["comments", "sso-secret", "nope"])
    assert missing.exit_code != 0 and "No site" in missing.output


def test_add_key_issues_a_key_with_the_analyze_scope(app, db, site):
    result = app.test_cli_runner().invoke(
        args=["comments", "add-key", "news", "--label", "coral", "--scope", "analyze"]
    )
    assert result.exit_code == 0, result.output
    assert "scopes: analyze;" in result.output
    key = result.output.rsplit(": ", 1)[1].strip()
    assert db.session.query(ApiKey).filter_by(key_hash=hash_api_key(key)).one().scope_list == ["analyze"]


def test_calibrate_shows_a_sites_figures_and_applies_them(app, db, site):
    from comments.models import utcnow
    from comments.services.sites import effective_settings
    from tests import calibration_data as sim
    from tests.helpers import set_settings

    sim.load_simulation(site, 2000, seed=3, end=utcnow())
    set_settings(site, calibration_objective={"kind": "hold_rate", "target": 0.02})
    db.session.commit()
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["comments", "calibrate", "news"])
    assert shown.exit_code == 0, shown.output
    assert "objective hold_rate 0.02" in shown.output
    assert "toxicity: 0.70," in shown.output and "holds rejected; recommended 0." in shown.output
    assert re.search(r"threat: 0\.70, \d+% of \d+ holds rejected; recommended 0\.\d\d", shown.output)
    applied = runner.invoke(args=["comments", "calibrate", "news", "--apply"])
    assert applied.exit_code == 0 and "Set toxicity: 0.70 -> " in applied.output
    db.session.expire_all()
    assert effective_settings(site)["thresholds"]["toxicity"] != 0.7
    assert runner.invoke(args=["comments", "calibrate", "--due"]).output == ""  # auto_calibrate is off
    assert runner.invoke(args=["comments", "calibrate", "nope"]).exit_code != 0


def test_calibrate_says_when_there_are_not_enough_decisions(app, db, site):
    shown = app.test_cli_runner().invoke(args=["comments", "calibrate", "news", "--apply"])
    assert shown.exit_code == 0, shown.output
    assert "toxicity: 0.70, not enough decisions yet (0)" in shown.output
    assert "No threshold changed." in shown.output
