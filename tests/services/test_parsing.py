"""The strict parsers of client text: ASCII digits, plain decimals, RFC 3339 moments in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from comments.services import parsing


@pytest.mark.parametrize("text, value", [("0", 0), ("7", 7), ("007", 7), ("2147483647", 2**31 - 1)])
def test_integers(text, value):
    assert parsing.integer(text, minimum=0, maximum=2**31 - 1) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 1",
        "1 ",
        "+1",
        "-1",
        "1_0",
        "1.0",
        "1e3",
        "0x1",
        "\u00b2",
        "\u2460",
        "\u0661\u0662",
        "\uff11",
        "\u09e7",
        "2147483648",
        "9" * 21,
        "9" * 5000,
        None,
        1,
    ],
)
def test_integers_refused(text):
    with pytest.raises(parsing.ParseError):
        parsing.integer(text, minimum=0, maximum=2**31 - 1)


@pytest.mark.parametrize("text, value", [("0", 0.0), ("1", 1.0), (".5", 0.5), ("0.25", 0.25), ("1.", 1.0)])
def test_decimals(text, value):
    assert parsing.decimal(text, minimum=0, maximum=1) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "Infinity",
        "1e-1",
        "-0.5",
        "+0.5",
        "1.5",
        "0_5",
        "\u0660.\u0665",
        " 0.5",
        ".",
        "1.2.3",
        "9" * 400,
    ],
)
def test_decimals_refused(text):
    with pytest.raises(parsing.ParseError):
        parsing.decimal(text, minimum=0, maximum=1)


@pytest.mark.parametrize(
    "text, value",
    [
        ("2026-03-01T09:15:00Z", datetime(2026, 3, 1, 9, 15, tzinfo=UTC)),
        ("2026-03-01t09:15:00z", datetime(2026, 3, 1, 9, 15, tzinfo=UTC)),
        ("2026-03-01 10:15:00.5+01:00", datetime(2026, 3, 1, 9, 15, 0, 500000, tzinfo=UTC)),
        ("2026-03-01T09:15:00.123456789-00:30", datetime(2026, 3, 1, 9, 45, 0, 123456, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("0001-01-01T00:00:00-01:00", datetime(1, 1, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_moments_are_aware_utc(text, value):
    parsed = parsing.moment(text)
    assert parsed == value and parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",  # no UTC equivalent within years 1-9999
        "2026-03-01T09:15:00",
        "2026-03-01",
        "09:15:00Z",
        "20260301T091500Z",
        "2026-W09-7T09:15:00Z",
        "2026-02-30T00:00:00Z",
        "2026-03-01T24:00:00Z",
        "2026-03-01T23:59:60Z",
        "2026-03-01T09:15:00+24:00",
        "2026-03-01T09:15:00+0100",
        "2026-03-01T09:15:00.Z",
        " 2026-03-01T09:15:00Z",
        "2026-03-01T09:15:00Z ",
        "\u0662026-03-01T09:15:00Z",
        "0000-01-01T00:00:00Z",
        "Infinity",
        "",
        None,
        0,
    ],
)
def test_moments_refused(text):
    with pytest.raises(parsing.ParseError):
        parsing.moment(text)


def test_in_utc_refuses_naive_and_overflowing_datetimes():
    from datetime import timedelta, timezone

    with pytest.raises(parsing.ParseError):
        parsing.in_utc(datetime(2026, 1, 1))
    with pytest.raises(parsing.ParseError):
        parsing.in_utc(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    assert parsing.in_utc(datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == datetime(
        2026, 1, 1, tzinfo=UTC
    )
