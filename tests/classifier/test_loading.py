"""Loading: the real detoxify.Detoxify path, offline, with SHA-256 pinning."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from comments.classifier import DETOXIFY_LABELS, Classifier, ClassifierUnavailable, load_classifier
from comments.classifier.testmodel import TestModelInfo


def test_loads_offline_through_detoxify(classifier_settings: dict[str, Any], detox_model: TestModelInfo, no_network):
    import detoxify

    clf = load_classifier(classifier_settings)

    assert isinstance(clf, Classifier)
    assert isinstance(clf.detoxify, detoxify.Detoxify)  # the real object holds model and tokenizer
    assert type(clf.detoxify.model).__name__ == "BertForSequenceClassification"
    assert clf.name == "detoxify-original"
    assert clf.version == f"sha256:{detox_model.sha256[:12]}"
    assert clf.labels == DETOXIFY_LABELS
    assert clf.threads == 2
    # detoxify's own predict works on the same object
    assert set(clf.detoxify.predict("hello there")) == set(DETOXIFY_LABELS)


def test_detoxify_loader_is_restored_after_construction(fp32_classifier):
    module = importlib.import_module("detoxify.detoxify")
    assert module.get_model_and_tokenizer.__module__ == "detoxify.detoxify"


def test_plain_detoxify_would_go_to_the_hub(detox_model: TestModelInfo, no_network):
    """Why the workaround exists: detoxify 0.5.4 looks up 'bert-base-uncased' on the hub even
    with huggingface_config_path given (with the hub offline, that fails)."""
    from detoxify import Detoxify
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache("bert-base-uncased", "config.json"), str):
        pytest.skip("bert-base-uncased is in the local Hugging Face cache")
    with pytest.raises(OSError):
        Detoxify(
            model_type="original",
            checkpoint=str(detox_model.checkpoint_path),
            huggingface_config_path=str(detox_model.config_dir),
        )


def test_pin_mismatch_is_refused(classifier_settings: dict[str, Any]):
    settings = {**classifier_settings, "CLASSIFIER_CHECKPOINT_SHA256": "0" * 64}
    with pytest.raises(ClassifierUnavailable, match="refusing to load"):
        load_classifier(settings)


def test_pin_accepts_prefix_and_upper_case(classifier_settings: dict[str, Any], detox_model: TestModelInfo):
    settings = {**classifier_settings, "CLASSIFIER_CHECKPOINT_SHA256": "sha256:" + detox_model.sha256.upper()}
    assert load_classifier(settings).version == f"sha256:{detox_model.sha256[:12]}"


def test_malformed_pin_is_refused(classifier_settings: dict[str, Any]):
    settings = {**classifier_settings, "CLASSIFIER_CHECKPOINT_SHA256": "abc123"}
    with pytest.raises(ClassifierUnavailable, match="64 hex digits"):
        load_classifier(settings)


def test_unpinned_is_refused_unless_allowed(classifier_settings: dict[str, Any], detox_model: TestModelInfo):
    settings = {k: v for k, v in classifier_settings.items() if k != "CLASSIFIER_CHECKPOINT_SHA256"}
    with pytest.raises(ClassifierUnavailable, match=f"unpinned.*{detox_model.sha256}"):
        load_classifier(settings)
    with pytest.raises(ClassifierUnavailable, match="unpinned"):
        load_classifier({**settings, "CLASSIFIER_ALLOW_UNPINNED": "false"})
    clf = load_classifier({**settings, "CLASSIFIER_ALLOW_UNPINNED": "true"})
    assert clf.version == f"sha256:{detox_model.sha256[:12]}"


def test_tampered_checkpoint_is_refused_before_unpickling(
    classifier_settings: dict[str, Any], detox_model: TestModelInfo, tmp_path: Path, monkeypatch
):
    import torch

    tampered = tmp_path / "tampered.ckpt"
    tampered.write_bytes(detox_model.checkpoint_path.read_bytes() + b"\0")
    calls = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a))
    with pytest.raises(ClassifierUnavailable, match="SHA-256"):
        load_classifier({**classifier_settings, "CLASSIFIER_CHECKPOINT": str(tampered)})
    assert calls == []


def test_missing_checkpoint(classifier_settings: dict[str, Any], tmp_path: Path):
    with pytest.raises(ClassifierUnavailable, match="not found"):
        load_classifier({**classifier_settings, "CLASSIFIER_CHECKPOINT": str(tmp_path / "nope.ckpt")})


def test_checkpoint_is_a_directory(classifier_settings: dict[str, Any], tmp_path: Path):
    with pytest.raises(ClassifierUnavailable, match="cannot read"):
        load_classifier({**classifier_settings, "CLASSIFIER_CHECKPOINT": str(tmp_path)})


def test_garbage_checkpoint_is_wrapped(classifier_settings: dict[str, Any], tmp_path: Path):
    import hashlib

    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"this is not a checkpoint")
    settings = {
        **classifier_settings,
        "CLASSIFIER_CHECKPOINT": str(garbage),
        "CLASSIFIER_CHECKPOINT_SHA256": hashlib.sha256(garbage.read_bytes()).hexdigest(),
    }
    with pytest.raises(ClassifierUnavailable, match="cannot load detoxify model") as info:
        load_classifier(settings)
    assert info.value.__cause__ is not None


def test_default_checkpoint_is_never_downloaded(tmp_path: Path, monkeypatch, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ClassifierUnavailable, match=r"toxic_original-c1212f89\.ckpt.*not found"):
        load_classifier({"CLASSIFIER_ALLOW_UNPINNED": True})


def test_missing_config_dir(classifier_settings: dict[str, Any], tmp_path: Path):
    with pytest.raises(ClassifierUnavailable, match="config directory"):
        load_classifier({**classifier_settings, "CLASSIFIER_CONFIG_DIR": str(tmp_path / "none")})


def test_empty_config_dir(classifier_settings: dict[str, Any], tmp_path: Path, no_network):
    with pytest.raises(ClassifierUnavailable, match="cannot load detoxify model"):
        load_classifier({**classifier_settings, "CLASSIFIER_CONFIG_DIR": str(tmp_path)})


def test_model_type_must_match_the_checkpoint(classifier_settings: dict[str, Any]):
    with pytest.raises(ClassifierUnavailable, match="use model_type 'original'"):
        load_classifier({**classifier_settings, "CLASSIFIER_MODEL_TYPE": "unbiased"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("CLASSIFIER_MODEL_TYPE", "gpt", "unknown model_type"),
        ("CLASSIFIER_PRECISION", "fp8", "unknown precision"),
        ("CLASSIFIER_RUNTIME", "tensorrt", "unknown runtime"),
        ("CLASSIFIER_WINDOWS_PER_PASS", "lots", "CLASSIFIER_WINDOWS_PER_PASS: expected an integer, got 'lots'"),
        ("CLASSIFIER_WINDOWS_PER_PASS", "0", "windows_per_pass must be a positive integer"),
        ("CLASSIFIER_THREADS", "-1", "threads must be a positive integer"),
        ("CLASSIFIER_ALLOW_UNPINNED", "perhaps", "CLASSIFIER_ALLOW_UNPINNED: expected true or false"),
    ],
)
def test_bad_settings(classifier_settings: dict[str, Any], key: str, value: str, message: str):
    with pytest.raises(ClassifierUnavailable, match=message):
        load_classifier({**classifier_settings, key: value})


def test_string_settings_are_parsed(classifier_settings: dict[str, Any]):
    clf = load_classifier(
        {
            **classifier_settings,
            "CLASSIFIER_WINDOWS_PER_PASS": "4",
            "CLASSIFIER_THREADS": " 2 ",
            "CLASSIFIER_PRECISION": "FP32",
            "CLASSIFIER_DEVICE": "cpu",
            "CLASSIFIER_RUNTIME": " Torch ",
        }
    )
    assert (clf.windows_per_pass, clf.threads, clf.precision, clf.runtime) == (4, 2, "fp32", "torch")
