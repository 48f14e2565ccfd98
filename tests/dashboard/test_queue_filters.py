"""The dashboard reads the queue's filters through the API's QueueQuerySchema (pure: no app)."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import BadRequest

from comments.dashboard.views.queue import filter_args, queue_filters


def test_empty_filters_are_the_defaults():
    assert queue_filters({}) == {"queue": "held", "site": None, "reason": None, "sort": "oldest", "author": None}
    assert queue_filters({"queue": "", "site": "", "sort": ""}) == queue_filters({})


def test_a_decision_form_sends_them_prefixed():
    form = {
        "filter_queue": "reported",
        "filter_site": "news",
        "filter_reason": "toxicity",
        "filter_sort": "score",
        "filter_author": "17",
        "queue": "ignored",
    }
    assert queue_filters(form, "filter_") == {
        "queue": "reported",
        "site": "news",
        "reason": "toxicity",
        "sort": "score",
        "author": 17,
    }


@pytest.mark.parametrize(
    "args",
    [
        {"queue": "everything"},
        {"sort": "random"},
        {"site": "Bad Slug"},
        {"site": "news\n"},
        {"reason": "a%"},
        {"reason": "toxicity\n"},
        {"site": "x" * 65},
        {"author": "abc"},
        {"author": "0"},
        {"author": "-3"},
        {"author": "1e3"},
        {"author": "99999999999"},
    ],
)
def test_what_the_api_refuses_the_dashboard_refuses(args):
    with pytest.raises(BadRequest):
        queue_filters(args)


def test_links_leave_out_the_defaults():
    assert filter_args(queue_filters({})) == {}
    assert filter_args(queue_filters({"queue": "rejected", "site": "news"})) == {"queue": "rejected", "site": "news"}
