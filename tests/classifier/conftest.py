"""Fixtures for the classifier tests: the tiny test model, built once per session.

Everything runs offline: ``HF_HUB_OFFLINE=1`` is set before transformers is
used, and the loading tests additionally forbid any network connection.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from comments.classifier.testmodel import TestModelInfo, load_labelled_sample


@pytest.fixture(scope="session", autouse=True)
def _hub_offline() -> Iterator[None]:
    """HF_HUB_OFFLINE is read by huggingface_hub at import time: force it on for the session,
    even if another module imported huggingface_hub before this conftest ran."""
    import huggingface_hub.constants as hub_constants

    previous = hub_constants.HF_HUB_OFFLINE
    hub_constants.HF_HUB_OFFLINE = True
    yield
    hub_constants.HF_HUB_OFFLINE = previous


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="session")
def detox_model(test_model: TestModelInfo) -> TestModelInfo:
    """The tiny Detoxify-format model (tests/conftest.py trains it once and caches it)."""
    return test_model


@pytest.fixture(scope="session")
def classifier_settings(detox_model: TestModelInfo) -> dict[str, Any]:
    """Settings as the app passes them (values as strings, like env vars)."""
    return {
        "CLASSIFIER_MODEL_TYPE": "original",
        "CLASSIFIER_CHECKPOINT": str(detox_model.checkpoint_path),
        "CLASSIFIER_CHECKPOINT_SHA256": detox_model.sha256,
        "CLASSIFIER_CONFIG_DIR": str(detox_model.config_dir),
        "CLASSIFIER_THREADS": "2",
    }


@pytest.fixture(scope="session")
def fp32_classifier(classifier_settings: dict[str, Any]):
    """One fp32 classifier shared by the scoring tests (loaded like the app does)."""
    from comments.classifier import load_classifier

    return load_classifier(classifier_settings)


@pytest.fixture(scope="session")
def heldout() -> dict[str, list[str]]:
    sample = [e for e in load_labelled_sample() if e.split == "heldout"]
    return {
        "clean": [e.text for e in sample if not e.toxic],
        "toxic": [e.text for e in sample if e.toxic],
    }


@pytest.fixture(scope="session")
def clean_train_sentences() -> list[str]:
    return [e.text for e in load_labelled_sample() if e.split == "train" and not e.toxic]
