"""Settings: one declaration each (default, parser, help), the README's table written from them,
one boolean parser, and a clear error at start-up for a value that cannot be parsed."""

from __future__ import annotations

import re
import warnings

import pytest

from comments import config
from comments.config import (
    DEPRECATED_NAMES,
    PREFIX,
    SETTINGS,
    SettingError,
    from_environment,
    parse_bool,
    parse_setting,
    readme_section,
)

# Variables of the test and setup scripts (tests/, .ci/run, manage), not of the service.
HARNESS_VARIABLES = {
    "COMMENTS_TEST_DATABASE_URL",
    "COMMENTS_TEST_REDIS_URL",
    "COMMENTS_REQUIRE_BROWSER",
    "COMMENTS_SAVE_SCREENSHOTS",
    "COMMENTS_WRITE_SCREENSHOTS",
    "COMMENTS_VENV",
}


def test_the_readme_table_is_written_from_the_settings():
    readme = config.README_PATH.read_text()
    start = readme.index(config.README_START)
    end = readme.index(config.README_END) + len(config.README_END)
    assert readme[start:end] == readme_section(), (
        "README.md's settings table is out of date: run "
        "`.venv/bin/python -c 'from comments.config import write_readme; write_readme()'`"
    )


def test_every_documented_variable_exists():
    documented = set(re.findall(r"\bCOMMENTS_[A-Z0-9_]*[A-Z0-9]", config.README_PATH.read_text()))
    known = {PREFIX + name for name in SETTINGS} | {PREFIX + old for old in DEPRECATED_NAMES} | HARNESS_VARIABLES
    assert documented - known == set()


def test_every_setting_has_help_that_fits_in_a_table_cell():
    for name, setting in SETTINGS.items():
        assert setting.help.strip(), name
        assert "|" not in setting.help + (setting.shown or ""), name


@pytest.mark.parametrize("name", [n for n, s in SETTINGS.items() if s.default is not None])
def test_the_default_as_written_reads_back_as_the_default(name: str):
    setting = SETTINGS[name]
    written = str(setting.default).lower() if isinstance(setting.default, bool) else str(setting.default)
    assert setting.parse(written) == setting.default


def test_deprecated_names_point_at_settings():
    for old, new in DEPRECATED_NAMES.items():
        assert new in SETTINGS and old not in SETTINGS


@pytest.mark.parametrize("word", ["1", "true", "True", "YES", "on", " on "])
def test_bool_true_words(word: str):
    assert parse_bool(word) is True


@pytest.mark.parametrize("word", ["0", "false", "FALSE", "no", "Off", " off"])
def test_bool_false_words(word: str):
    assert parse_bool(word) is False


@pytest.mark.parametrize("word", ["perhaps", "2", "t", "enabled", "nein", "-"])
def test_bool_anything_else_is_an_error_not_false(word: str):
    with pytest.raises(ValueError, match="expected true or false"):
        parse_bool(word)


def test_bool_passes_bools_through():
    assert parse_bool(True) is True and parse_bool(False) is False


def test_the_environment_is_parsed_into_typed_values():
    found = from_environment(
        {
            "COMMENTS_TRUSTED_PROXY_COUNT": "2",
            "COMMENTS_RATELIMIT_ENABLED": "off",
            "COMMENTS_WEBHOOK_POLL_SECONDS": "0.5",
            "COMMENTS_CLASSIFIER_THREADS": " 3 ",
            "COMMENTS_CLASSIFIER_ALLOW_UNPINNED": "yes",
            "COMMENTS_CLASSIFIER_RUNTIME": " OpenVINO ",
            "COMMENTS_CLASSIFIER_CHECKPOINT": " /srv/model.ckpt ",
            "COMMENTS_PUBLIC_URL": "",  # blank: the default
            "COMMENTS_CLASSIFIER_UNKNOWN": "x",  # not a setting: not passed on
            "PATH": "/usr/bin",
        }
    )
    assert found == {
        "TRUSTED_PROXY_COUNT": 2,
        "RATELIMIT_ENABLED": False,
        "WEBHOOK_POLL_SECONDS": 0.5,
        "CLASSIFIER_THREADS": 3,
        "CLASSIFIER_ALLOW_UNPINNED": True,
        "CLASSIFIER_RUNTIME": "openvino",
        "CLASSIFIER_CHECKPOINT": "/srv/model.ckpt",
    }


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("COMMENTS_RATELIMIT_ENABLED", "perhaps", "expected true or false"),
        ("COMMENTS_CLASSIFIER_ALLOW_UNPINNED", "sure", "expected true or false"),
        ("COMMENTS_TRUSTED_PROXY_COUNT", "two", "expected an integer, got 'two'"),
        ("COMMENTS_WEBHOOK_POLL_SECONDS", "soon", "expected a number"),
        ("COMMENTS_CLASSIFIER_WINDOWS_PER_PASS", "1.5", "expected an integer"),
    ],
)
def test_an_invalid_value_is_an_error_naming_the_variable(variable: str, value: str, message: str):
    with pytest.raises(SettingError, match=f"^{variable}: {message}"):
        from_environment({variable: value})


def test_an_invalid_value_stops_the_app_at_start_up(monkeypatch: pytest.MonkeyPatch):
    from comments import create_app

    monkeypatch.setenv("COMMENTS_WEBHOOK_ALLOW_PRIVATE", "ja")
    with pytest.raises(SettingError, match="COMMENTS_WEBHOOK_ALLOW_PRIVATE"):
        create_app({"TESTING": True})


@pytest.mark.parametrize(("old", "new"), sorted(DEPRECATED_NAMES.items()))
def test_a_deprecated_name_still_works_with_a_warning(old: str, new: str):
    with pytest.warns(FutureWarning, match=f"COMMENTS_{old} is deprecated: rename it COMMENTS_{new}"):
        found = from_environment({f"COMMENTS_{old}": "7"})
    assert found == {new: 7}


def test_the_new_name_wins_over_the_deprecated_one():
    with pytest.warns(FutureWarning, match="COMMENTS_SCORING_BATCH_SIZE is deprecated and ignored"):
        found = from_environment({"COMMENTS_SCORING_BATCH_SIZE": "7", "COMMENTS_SCORING_COMMENTS_PER_BATCH": "9"})
    assert found == {"SCORING_COMMENTS_PER_BATCH": 9}


def test_an_invalid_value_under_a_deprecated_name_names_that_name():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(SettingError, match="^COMMENTS_CLASSIFIER_BATCH_SIZE: expected an integer"):
            from_environment({"COMMENTS_CLASSIFIER_BATCH_SIZE": "lots"})


def test_parse_setting_takes_strings_blanks_and_typed_values():
    assert parse_setting("CLASSIFIER_THREADS", "4") == 4
    assert parse_setting("CLASSIFIER_THREADS", 4) == 4
    assert parse_setting("CLASSIFIER_THREADS", "  ") is None
    assert parse_setting("CLASSIFIER_THREADS", None) is None
    assert parse_setting("CLASSIFIER_PRECISION", "BF16") == "bf16"
    assert parse_setting("CLASSIFIER_ALLOW_UNPINNED", "") is False
    assert parse_setting("CLASSIFIER_ALLOW_UNPINNED", True) is True
    with pytest.raises(ValueError, match="expected true or false"):
        parse_setting("CLASSIFIER_ALLOW_UNPINNED", "perhaps")
    with pytest.raises(ValueError, match="expected an integer"):
        parse_setting("CLASSIFIER_THREADS", True)
