"""The shipped labelled sample, the test-model builder and its CLI command."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from click.testing import CliRunner

from comments import config
from comments.classifier import testmodel
from comments.classifier.testmodel import JIGSAW_CLASSES, TestModelInfo, build_test_model, load_labelled_sample

TINY = {"short_epochs": 1, "mixed_epochs": 1, "long_per_epoch": 8, "long_max_tokens": 64}


def test_labelled_sample_is_well_formed():
    sample = load_labelled_sample()
    assert len(sample) >= 200
    assert len({e.text for e in sample}) == len(sample)  # no duplicates
    for e in sample:
        assert e.split in {"train", "heldout"}
        assert set(e.labels) <= {0, 1} and len(e.labels) == len(JIGSAW_CLASSES)
        assert e.text.strip() == e.text and e.text
        # any sub-label implies toxic
        assert e.labels[0] == max(e.labels), e.text
    train = [e for e in sample if e.split == "train"]
    heldout = [e for e in sample if e.split == "heldout"]
    assert sum(e.toxic for e in train) >= 80 and sum(not e.toxic for e in train) >= 80
    assert sum(e.toxic for e in heldout) >= 5 and sum(not e.toxic for e in heldout) >= 5
    assert not {e.text for e in train} & {e.text for e in heldout}
    for i, name in enumerate(JIGSAW_CLASSES):
        assert any(e.labels[i] for e in train), f"no training example for {name}"


def test_built_model_separates_heldout(detox_model: TestModelInfo):
    assert detox_model.heldout_toxic_min > 0.8
    assert detox_model.heldout_clean_max < 0.2
    assert len(detox_model.sha256) == 64


def test_checkpoint_is_in_detoxify_format(detox_model: TestModelInfo):
    import hashlib

    import torch

    assert hashlib.sha256(detox_model.checkpoint_path.read_bytes()).hexdigest() == detox_model.sha256
    # only plain containers and tensors: loadable without unpickling arbitrary objects
    loaded = torch.load(detox_model.checkpoint_path, weights_only=True)
    assert set(loaded) == {"config", "state_dict"}
    assert loaded["config"]["arch"]["args"] == {
        "model_type": "bert-base-uncased",
        "model_name": "BertForSequenceClassification",
        "tokenizer_name": "BertTokenizer",
        "num_classes": 6,
    }
    assert loaded["config"]["dataset"]["args"]["classes"] == list(JIGSAW_CLASSES)
    assert loaded["state_dict"]["classifier.weight"].shape[0] == 6
    files = {p.name for p in detox_model.config_dir.iterdir()}
    assert {"config.json", "tokenizer_config.json"} <= files


def test_build_is_deterministic(tmp_path: Path):
    a = build_test_model(tmp_path / "a", seed=3, **TINY)
    b = build_test_model(tmp_path / "b", seed=3, **TINY)
    c = build_test_model(tmp_path / "c", seed=4, **TINY)
    assert a.sha256 == b.sha256
    assert a.checkpoint_path.read_bytes() == b.checkpoint_path.read_bytes()
    assert (a.config_dir / "tokenizer.json").read_bytes() == (b.config_dir / "tokenizer.json").read_bytes()
    assert c.sha256 != a.sha256


def test_build_leaves_global_torch_state_alone(tmp_path: Path):
    import torch

    threads = torch.get_num_threads()
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    build_test_model(tmp_path, **TINY)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_tokenizer_is_bert_wordpiece(detox_model: TestModelInfo):
    from transformers import BertTokenizer

    tok = BertTokenizer.from_pretrained(detox_model.config_dir, local_files_only=True)
    assert tok.model_max_length == 512
    ids = tok("Hello, IDIOTS!")["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert tok.tokenize("You IDIOTS") == ["you", "idiots"]
    assert tok.tokenize("morons") == ["moron", "##s"]  # known word + common suffix
    assert tok.tokenize("zyzzyva") == ["[UNK]"]  # unseen words are unknown to this model


def test_cli_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from comments.classifier.cli import build_test_model_command

    monkeypatch.setattr(testmodel, "build_test_model", functools.partial(build_test_model, **TINY))
    result = CliRunner().invoke(build_test_model_command, [str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    checkpoint = tmp_path / "model" / "test-model.ckpt"
    assert checkpoint.exists()
    import hashlib

    sha = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert f"sha256:     {sha}" in result.output
    assert f"COMMENTS_CLASSIFIER_CHECKPOINT_SHA256={sha}" in result.output
    assert f"COMMENTS_CLASSIFIER_CONFIG_DIR={(tmp_path / 'model' / 'config').resolve()}" in result.output
    assert build_test_model_command.name == "build-test-model"
    # ./manage serve sources the lines that start with COMMENTS_ as the app's environment
    environ = dict(line.split("=", 1) for line in result.output.splitlines() if line.startswith("COMMENTS_"))
    assert config.from_environment(environ) == {
        "CLASSIFIER_MODEL_TYPE": "original",
        "CLASSIFIER_CHECKPOINT": str(checkpoint.resolve()),
        "CLASSIFIER_CHECKPOINT_SHA256": sha,
        "CLASSIFIER_CONFIG_DIR": str((tmp_path / "model" / "config").resolve()),
    }
