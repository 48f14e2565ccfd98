"""Build a tiny Detoxify-format model for tests, development and demos.

:func:`build_test_model` trains (in a few seconds, on CPU, deterministically
for a given seed on a given machine) a small BERT on the labelled sample the
project ships (``data/labelled_sample.tsv``) and writes:

* ``<out_dir>/test-model.ckpt``: a checkpoint in Detoxify's own format,
  ``{"config": {"arch": {"args": {...}}, "dataset": {"args": {"classes": [...]}}},
  "state_dict": ...}`` -- the keys ``detoxify.detoxify.load_checkpoint`` reads;
* ``<out_dir>/config/``: the Hugging Face ``config.json`` and the tokenizer
  files (a WordPiece vocabulary trained with ``tokenizers`` on the sample),
  i.e. what ``huggingface_config_path`` / ``CLASSIFIER_CONFIG_DIR`` points at.

It is NOT a useful moderation model: it only knows the few hundred sentences
it was trained on. It does behave like one on that vocabulary (held-out
toxic sentences score high, clean ones low, also when buried in long text).
"""

from __future__ import annotations

import csv
import math
import hashlib
import random
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "JIGSAW_CLASSES",
    "LabelledExample",
    "TestModelInfo",
    "build_test_model",
    "load_labelled_sample",
    "save_detoxify_checkpoint",
    "train_wordpiece_tokenizer",
]

#: Class names as stored in Detoxify "original" checkpoints (detoxify renames
#: toxic/severe_toxic/identity_hate to toxicity/severe_toxicity/identity_attack).
JIGSAW_CLASSES: tuple[str, ...] = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CHECKPOINT_NAME = "test-model.ckpt"
CONFIG_DIR_NAME = "config"


@dataclass(frozen=True)
class LabelledExample:
    text: str
    labels: tuple[int, ...]  # 0/1 per JIGSAW_CLASSES
    split: str  # "train" or "heldout"

    @property
    def toxic(self) -> bool:
        return bool(self.labels[0])


@dataclass(frozen=True)
class TestModelInfo:
    __test__ = False  # not a pytest test class

    checkpoint_path: Path
    config_dir: Path
    sha256: str
    model_type: str = "original"
    labels: tuple[str, ...] = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
    seed: int = 0
    vocab_size: int = 0
    train_seconds: float = 0.0
    #: toxicity scores on the held-out split, computed right after training
    heldout_toxic_min: float = 0.0
    heldout_clean_max: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)


def load_labelled_sample(path: str | Path | None = None) -> list[LabelledExample]:
    """Read ``labelled_sample.tsv``: columns ``split``, the six Jigsaw labels, ``text``."""
    if path is None:
        text = resources.files("comments.classifier").joinpath("data/labelled_sample.tsv").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    reader = csv.DictReader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    out = []
    for row in reader:
        out.append(
            LabelledExample(
                text=row["text"],
                labels=tuple(int(row[c]) for c in JIGSAW_CLASSES),
                split=row["split"],
            )
        )
    return out


def train_wordpiece_tokenizer(texts: list[str], vocab_size: int = 2000, model_max_length: int = 512):
    """Train a lower-casing BERT WordPiece tokenizer; returns a ``transformers.BertTokenizer``."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece
    from tokenizers.trainers import WordPieceTrainer
    from transformers import BertTokenizer

    raw = Tokenizer(WordPiece(unk_token="[UNK]"))
    raw.normalizer = normalizers.BertNormalizer(lowercase=True)
    raw.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    raw.train_from_iterator(texts, trainer=trainer)
    vocab = raw.get_vocab()
    # stable, readable order: special tokens first, then by id
    vocab = dict(sorted(vocab.items(), key=lambda kv: kv[1]))
    return BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=model_max_length)


def save_detoxify_checkpoint(
    model: Any,
    tokenizer: Any,
    checkpoint_path: Path,
    config_dir: Path,
    *,
    model_type: str = "bert-base-uncased",
    tokenizer_name: str = "BertTokenizer",
    classes: tuple[str, ...] = JIGSAW_CLASSES,
) -> str:
    """Save ``model`` as a Detoxify checkpoint plus an HF config dir; returns the SHA-256."""
    import torch

    config_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(config_dir)
    tokenizer.save_pretrained(config_dir)
    state_dict = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    payload = {
        "config": {
            "arch": {
                "args": {
                    "model_type": model_type,
                    "model_name": type(model).__name__,
                    "tokenizer_name": tokenizer_name,
                    "num_classes": len(classes),
                }
            },
            "dataset": {"args": {"classes": list(classes)}},
        },
        "state_dict": state_dict,
    }
    torch.save(payload, checkpoint_path)
    return hashlib.sha256(checkpoint_path.read_bytes()).hexdigest()


def _make_batches(
    rng: random.Random,
    examples: list[tuple[list[int], list[float]]],
    clean: list[list[int]],
    toxic: list[tuple[list[int], list[float]]],
    batch_size: int,
    n_long: int,
    max_body: int,
) -> list[list[tuple[list[int], list[float]]]]:
    """One epoch: the sentences themselves plus synthetic long "comments".

    A long comment is a run of clean sentences, half of the time with one
    toxic sentence at a random place; it takes that sentence's labels. This
    teaches the model that one abusive sentence makes a long text toxic.
    """
    items = list(examples)
    for _ in range(n_long):
        k = round(math.exp(rng.uniform(math.log(2), math.log(45))))  # 2..45 sentences, log-uniform
        body: list[int] = []
        for ids in (rng.choice(clean) for _ in range(k)):
            body += ids
        labels = [0.0] * len(JIGSAW_CLASSES)
        if rng.random() < 0.5:
            tox_ids, labels = rng.choice(toxic)
            body = body[: max(0, max_body - len(tox_ids))]
            cut = rng.randint(0, len(body))
            body = body[:cut] + tox_ids + body[cut:]
        items.append((body[:max_body], labels))
    rng.shuffle(items)
    # group similar lengths to keep padding (and time) down
    items.sort(key=lambda it: len(it[0]))
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    rng.shuffle(batches)
    return batches


def build_test_model(
    out_dir: Path,
    seed: int = 0,
    *,
    hidden_size: int = 64,
    layers: int = 2,
    epochs: int = 30,
    sample_path: str | Path | None = None,
) -> TestModelInfo:
    """Train the tiny model and write it (Detoxify format) into ``out_dir``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    out_dir = Path(out_dir)
    started = time.perf_counter()
    sample = load_labelled_sample(sample_path)
    train = [e for e in sample if e.split == "train"]
    heldout = [e for e in sample if e.split == "heldout"]

    tokenizer = train_wordpiece_tokenizer([e.text for e in train])
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=512,
        # no attention dropout: lets SDPA use its fused CPU kernel (5x faster on long inputs)
        attention_probs_dropout_prob=0.0,
        num_labels=len(JIGSAW_CLASSES),
        problem_type="multi_label_classification",
        pad_token_id=tokenizer.pad_token_id,
    )

    def ids_of(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    cls_id, sep_id, pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    examples = [(ids_of(e.text), [float(x) for x in e.labels]) for e in train]
    clean = [ids for ids, lab in examples if not lab[0]]
    toxic = [(ids, lab) for ids, lab in examples if lab[0]]

    def tensors(batch):
        width = max(len(ids) for ids, _ in batch) + 2
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, _) in enumerate(batch):
            seq = [cls_id, *ids, sep_id]
            input_ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        labels = torch.tensor([lab for _, lab in batch])
        return input_ids, mask, labels

    threads = torch.get_num_threads()
    # Fixed thread count: float reductions (and so the weights, and the
    # checkpoint's SHA-256) must not depend on how many cores the host has.
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            rng = random.Random(seed)
            model = BertForSequenceClassification(config)
            model.train()
            optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
            # toxicity is what matters most; rare sub-labels get a boost too
            pos_weight = torch.tensor([2.0, 2.0, 2.0, 2.0, 2.0, 2.0])
            loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
            steps = 0
            for epoch in range(epochs):
                n_long = 8 if epoch < 3 else 24
                for batch in _make_batches(rng, examples, clean, toxic, 16, n_long, 500):
                    input_ids, mask, labels = tensors(batch)
                    logits = model(input_ids=input_ids, attention_mask=mask).logits
                    loss = loss_fn(logits, labels)
                    optimiser.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimiser.step()
                    steps += 1
            model.eval()
            with torch.inference_mode():
                enc = tokenizer([e.text for e in heldout], padding=True, return_tensors="pt")
                probs = torch.sigmoid(model(**enc).logits)[:, 0].tolist()
    finally:
        torch.set_num_threads(threads)

    toxic_scores = [p for p, e in zip(probs, heldout) if e.toxic]
    clean_scores = [p for p, e in zip(probs, heldout) if not e.toxic]
    checkpoint_path = out_dir / CHECKPOINT_NAME
    config_dir = out_dir / CONFIG_DIR_NAME
    sha = save_detoxify_checkpoint(model, tokenizer, checkpoint_path, config_dir)
    return TestModelInfo(
        checkpoint_path=checkpoint_path,
        config_dir=config_dir,
        sha256=sha,
        seed=seed,
        vocab_size=len(tokenizer),
        train_seconds=time.perf_counter() - started,
        heldout_toxic_min=min(toxic_scores) if toxic_scores else 1.0,
        heldout_clean_max=max(clean_scores) if clean_scores else 0.0,
        extra={"steps": steps, "train_examples": len(train), "heldout_examples": len(heldout)},
    )
