"""validation: the checks on text from outside, as pure functions (no app, no database)."""

from __future__ import annotations

import marshmallow as ma
import pytest

from comments.services import validation
from comments.services.errors import Invalid
from comments.services.validation import (
    AUTHOR_NAME_MAX,
    BODY_MAX,
    THREAD_KEY_MAX,
    StorableSchema,
    TextError,
    check_author_name,
    check_body,
    check_text,
    check_thread_key,
    checked_thread_key,
    is_one_clean_line,
    unstorable_strings,
)


def _code(call, *args, **kwargs) -> str:
    with pytest.raises(TextError) as raised:
        call(*args, **kwargs)
    return raised.value.code


def test_a_body_is_returned_unchanged_never_trimmed_or_truncated():
    body = "  Line one\n\tindented line two\r\n"
    assert check_body(body) is body
    assert check_body("x" * BODY_MAX) == "x" * BODY_MAX


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("", "too_short"),
        (" \n\t ", "too_short"),
        ("x" * (BODY_MAX + 1), "too_long"),
        ("bell\x07", "invalid_characters"),
        ("nul\x00", "invalid_characters"),
        ("del\x7f", "invalid_characters"),
        ("c1\x85", "invalid_characters"),
        ("lone \ud800 surrogate", "invalid_characters"),
    ],
)
def test_a_body_is_refused_with_a_code_saying_why(body, code):
    assert _code(check_body, body) == code


def test_the_message_of_a_long_text_counts_its_characters():
    with pytest.raises(TextError) as raised:
        check_text("abcdef", minimum=1, maximum=5, multiline=True, what="note")
    assert raised.value.message == "The note is 6 characters; at most 5 are allowed."
    assert str(raised.value) == raised.value.message


def test_a_name_is_stripped_and_must_be_one_line():
    assert check_author_name("  Ann  ") == "Ann"
    assert check_author_name(" " + "n" * AUTHOR_NAME_MAX + " ") == "n" * AUTHOR_NAME_MAX
    assert _code(check_author_name, "n" * (AUTHOR_NAME_MAX + 1)) == "too_long"
    assert _code(check_author_name, "   ") == "too_short"
    # What a body may hold, a name may not: it is shown on one line.
    assert _code(check_author_name, "Ann\nBob") == "invalid_characters"
    assert _code(check_author_name, "Ann\tBob") == "invalid_characters"


@pytest.mark.parametrize(
    ("value", "clean"),
    [
        ("article-1", True),
        ("Ünïcödé and emoji 🙂", True),
        ("", True),
        ("tab\there", False),
        ("new\nline", False),
        ("carriage\rreturn", False),
        ("\x9b", False),
        ("\udfff", False),
    ],
)
def test_one_clean_line(value, clean):
    assert is_one_clean_line(value) is clean


def test_thread_keys_are_one_to_255_characters_of_one_line():
    assert check_thread_key("k") == "k"
    assert check_thread_key("k" * THREAD_KEY_MAX) == "k" * THREAD_KEY_MAX
    assert _code(check_thread_key, "") == "invalid_thread_key"
    assert _code(check_thread_key, "k" * (THREAD_KEY_MAX + 1)) == "invalid_thread_key"
    assert _code(check_thread_key, "a\nb") == "invalid_thread_key"


def test_unstorable_strings_names_the_path_of_each_bad_string():
    data = {
        "body": "fine",
        "title": "nul\x00",
        "reasons": [{"note": "ok"}, {"note": "\ud800"}],
        "nested": {"deeper": ("ok", "bad\x00")},
    }
    assert sorted(unstorable_strings(data)) == ["nested.deeper.1", "reasons.1.note", "title"]


def test_unstorable_strings_checks_keys_too_and_names_a_bad_key_printably():
    found = unstorable_strings({"ok": {"bad\ud800key": 1}})
    assert list(found) == ["ok.bad?key"]


def test_unstorable_strings_of_a_bare_string_and_of_clean_data():
    assert list(unstorable_strings("\x00")) == ["_schema"]
    assert unstorable_strings({"a": ["b", 1, None, 2.5], "c": "tab\tand newline\n are storable"}) == {}


def test_a_storable_schema_refuses_before_its_fields_are_loaded():
    class Note(StorableSchema):
        text = ma.fields.String()
        labels = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())

    assert Note().load({"text": "fine", "labels": {"a": "b"}}) == {"text": "fine", "labels": {"a": "b"}}
    with pytest.raises(ma.ValidationError) as raised:
        Note().load({"text": "fine", "labels": {"a": "b\x00"}})
    assert raised.value.messages == {"labels.a": validation.unstorable_strings("\x00")["_schema"]}


def test_a_thread_key_a_client_sent_is_refused_on_its_field():
    assert checked_thread_key("article-1") == "article-1"
    with pytest.raises(Invalid) as refused:
        checked_thread_key("a\nb")
    assert refused.value.code == "invalid_thread_key" and list(refused.value.fields) == ["key"]
