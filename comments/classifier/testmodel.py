"""Build a tiny Detoxify-format model for tests, development and demos.

:func:`build_test_model` trains a small BERT (in ~20 s on one CPU core;
deterministic for a given seed on a given machine type and library versions)
on the labelled sample the project ships (``data/labelled_sample.tsv``) and
writes:

* ``<out_dir>/test-model.ckpt``: a checkpoint in Detoxify's own format,
  ``{"config": {"arch": {"args": {...}}, "dataset": {"args": {"classes": [...]}}},
  "state_dict": ...}`` -- the keys ``detoxify.detoxify.load_checkpoint`` reads;
* ``<out_dir>/config/``: the Hugging Face ``config.json`` and the tokenizer
  files (a BERT WordPiece tokenizer whose vocabulary is built from the
  sample), i.e. what ``huggingface_config_path`` / ``CLASSIFIER_CONFIG_DIR``
  points at.

It is NOT a useful moderation model: it only knows the few hundred sentences
it was trained on, words it has never seen are ``[UNK]`` to it, and it does
not use word order. On that vocabulary it behaves like one: held-out toxic
sentences score high, clean ones low, also when buried in long texts.
"""

from __future__ import annotations

import csv
import hashlib
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .base import DETOXIFY_LABELS

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
    labels: tuple[str, ...] = DETOXIFY_LABELS
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
    return [
        LabelledExample(text=row["text"], labels=tuple(int(row[c]) for c in JIGSAW_CLASSES), split=row["split"])
        for row in reader
    ]


# --------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------


def _words(texts: list[str]) -> Counter[str]:
    """Word counts, split exactly as BERT's normaliser and pre-tokeniser do."""
    from tokenizers import normalizers, pre_tokenizers  # deferred: heavy, only to build the model

    normaliser = normalizers.BertNormalizer(lowercase=True)
    pre_tokeniser = pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        words.update(w for w, _ in pre_tokeniser.pre_tokenize_str(normaliser.normalize_str(text)))
    return words


# Only real inflections become "##" pieces. Arbitrary word endings let unseen words be spelt out of
# known ones ("hello" as "hell ##o", "important" as "i ##m ##port ##ant"), and a clean greeting
# then scored as toxic.
INFLECTIONS = frozenset({"s", "es", "ed", "ing", "er", "ers", "est", "ly", "y", "ies"})


def train_wordpiece_tokenizer(
    texts: list[str], *, min_word_count: int = 1, min_suffix_words: int = 3, model_max_length: int = 512
):
    """Build a lower-casing BERT WordPiece tokenizer from ``texts``.

    Vocabulary: the special tokens, every word seen at least
    ``min_word_count`` times (split by the ``tokenizers`` library's own BERT
    normaliser and pre-tokeniser), and the ``##`` suffixes of 1-4 characters
    that are English inflections (``INFLECTIONS``) shared by at least
    ``min_suffix_words`` distinct words, so that e.g.
    "morons" is ``moron ##s``. Other unseen words become ``[UNK]``, which the
    model learns to ignore (see ``word_dropout`` in :func:`build_test_model`).

    ``tokenizers.trainers.WordPieceTrainer`` is deliberately not used: its
    merge tie-breaking follows Rust hash-map order, so the vocabulary (and
    the checkpoint's SHA-256) would change on every run; and the sub-word
    pieces it makes out of a few hundred sentences get too little training to
    mean anything, which made the model's scores of unseen words erratic.

    Returns a ``transformers.BertTokenizer`` (backed by a ``tokenizers``
    WordPiece model).
    """
    from transformers import BertTokenizer  # deferred: heavy, only to build the model

    words = _words(texts)
    suffix_words: Counter[str] = Counter()
    for w in words:
        suffix_words.update({w[-n:] for n in (1, 2, 3, 4) if len(w) > n and w[-n:] in INFLECTIONS})
    tokens = list(SPECIAL_TOKENS)
    tokens += sorted((w for w, n in words.items() if n >= min_word_count), key=lambda w: (-words[w], w))
    tokens += ["##" + s for s, n in sorted(suffix_words.items()) if n >= min_suffix_words]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    return BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=model_max_length)


# --------------------------------------------------------------------------
# Checkpoint
# --------------------------------------------------------------------------


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
    """Save ``model`` as a Detoxify checkpoint plus an HF config dir; returns the SHA-256.

    ``model_type`` is what Detoxify's released checkpoints name (only used by
    detoxify for a hub look-up, which the offline loader skips).
    """
    import torch  # deferred: heavy (seconds to load), only to build the model

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


# --------------------------------------------------------------------------
# Training data
# --------------------------------------------------------------------------

Example = tuple[list[int], list[float]]


class _Sentence:
    """A training sentence: token ids per word, and its labels."""

    def __init__(self, tokenizer: Any, text: str, labels: list[float]) -> None:
        backend = tokenizer.backend_tokenizer
        normalised = backend.normalizer.normalize_str(text)
        words = [w for w, _ in backend.pre_tokenizer.pre_tokenize_str(normalised)]
        self.words = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(w)) for w in words]
        self.labels = labels
        self.unk = tokenizer.unk_token_id

    def ids(self, rng: random.Random, word_dropout: float) -> list[int]:
        """The sentence's ids, each word replaced by ``[UNK]`` with probability ``word_dropout``."""
        out: list[int] = []
        for ids in self.words:
            out += [self.unk] if rng.random() < word_dropout else ids
        return out


def _epoch_items(
    rng: random.Random, sentences: list[_Sentence], n_long: int, max_body: int, word_dropout: float
) -> list[Example]:
    """One epoch: every sentence, plus ``n_long`` synthetic long "comments".

    A long comment is a run of clean sentences (24 to ``max_body`` tokens,
    log-uniform), half of the time with one toxic sentence at a random place
    (and that sentence's labels). This teaches the model that one abusive
    sentence makes a long text toxic and that a long run of clean sentences
    is clean.
    """
    items = [(s.ids(rng, word_dropout), list(s.labels)) for s in sentences]
    clean = [s for s in sentences if not s.labels[0]]
    toxic = [s for s in sentences if s.labels[0]]
    for _ in range(n_long):
        length = round(math.exp(rng.uniform(math.log(24), math.log(max_body))))
        body: list[int] = []
        while len(body) < length + 40:
            body += rng.choice(clean).ids(rng, word_dropout)
        start = rng.randint(0, len(body) - length)
        body = body[start : start + length]
        labels = [0.0] * len(JIGSAW_CLASSES)
        if rng.random() < 0.5:
            sentence = rng.choice(toxic)
            tox_ids, labels = sentence.ids(rng, word_dropout), list(sentence.labels)
            body = body[: max(0, max_body - len(tox_ids))]
            cut = rng.randint(0, len(body))
            body = body[:cut] + tox_ids + body[cut:]
        items.append((body, labels))
    return items


def _batches(rng: random.Random, items: list[Example], batch_size: int) -> list[list[Example]]:
    items = list(items)
    rng.shuffle(items)
    items.sort(key=lambda it: len(it[0]))  # similar lengths together: less padding
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    rng.shuffle(batches)
    return batches


# --------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------


def build_test_model(
    out_dir: Path,
    seed: int = 0,
    *,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    max_positions: int = 512,
    short_epochs: int = 12,
    mixed_epochs: int = 16,
    long_per_epoch: int = 400,
    long_max_tokens: int = 256,
    word_dropout: float = 0.25,
    ema_decay: float | None = 0.99,
    learn_positions: bool = False,
    lr: float = 1e-3,
    train_threads: int = 1,
    sample_path: str | Path | None = None,
) -> TestModelInfo:
    """Train the tiny model and write it (Detoxify format) into ``out_dir``.

    Architecture: ``BertForSequenceClassification``, ``layers`` layers of
    ``hidden_size``, ``max_positions`` positions (512 like Detoxify's models,
    so long texts are scored in 512-token windows). Unless
    ``learn_positions``, the position embeddings are zero and frozen: with so
    little data a word-order-free model generalises far better from its
    training texts (at most ``long_max_tokens`` long) to full windows.

    Training: ``short_epochs`` over the labelled sentences, then
    ``mixed_epochs`` over the sentences plus ``long_per_epoch`` synthetic long
    texts; AdamW, learning rate decaying linearly from ``lr`` to 0; words
    replaced by ``[UNK]`` with probability ``word_dropout`` (so unseen words
    are neutral); the saved weights are the exponential moving average
    (``ema_decay``) over the mixed epochs. It runs with exactly
    ``train_threads`` torch threads on a forked RNG (both restored
    afterwards), so the result does not depend on the host's core count or
    the global random state.
    """
    import torch  # deferred: heavy (seconds to load), only to build the model
    from transformers import BertConfig, BertForSequenceClassification  # deferred: heavy, only to build the model

    out_dir = Path(out_dir)
    started = time.perf_counter()
    sample = load_labelled_sample(sample_path)
    train = [e for e in sample if e.split == "train"]
    heldout = [e for e in sample if e.split == "heldout"]

    tokenizer = train_wordpiece_tokenizer([e.text for e in train], model_max_length=max_positions)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=max_positions,
        # no attention dropout: lets SDPA use its fused CPU kernel (5x faster on long inputs)
        attention_probs_dropout_prob=0.0,
        # A PretrainedConfig keyword that BertConfig's annotated signature leaves out (it works).
        num_labels=len(JIGSAW_CLASSES),  # type: ignore[call-arg]
        problem_type="multi_label_classification",
        pad_token_id=tokenizer.pad_token_id,
    )
    sentences = [_Sentence(tokenizer, e.text, [float(x) for x in e.labels]) for e in train]
    cls_id, sep_id, pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id

    def tensors(batch: list[Example]):
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
    torch.set_num_threads(train_threads)
    steps = 0
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            rng = random.Random(seed)
            model = BertForSequenceClassification(config)
            if not learn_positions:
                positions = model.bert.embeddings.position_embeddings.weight
                torch.nn.init.zeros_(positions)
                positions.requires_grad_(False)
            model.train()
            max_body = min(long_max_tokens, max_positions) - 2
            epochs = [
                _batches(rng, _epoch_items(rng, sentences, n_long, max_body, word_dropout), 16)
                for n_long in [0] * short_epochs + [long_per_epoch] * mixed_epochs
            ]
            total = sum(len(e) for e in epochs)
            ema_from = sum(len(e) for e in epochs[:short_epochs])
            params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
            optimiser = torch.optim.AdamW([p for _, p in params], lr=lr, weight_decay=0.01)
            schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: max(0.0, 1.0 - step / total))
            loss_fn = torch.nn.BCEWithLogitsLoss()
            ema: dict[str, Any] | None = None
            for batch in (b for epoch in epochs for b in epoch):
                if ema_decay is not None and steps == ema_from:
                    ema = {name: p.detach().clone() for name, p in params}
                input_ids, mask, labels = tensors(batch)
                logits = model(input_ids=input_ids, attention_mask=mask).logits
                loss = loss_fn(logits, labels)
                optimiser.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for _, p in params], 1.0)
                optimiser.step()
                schedule.step()
                steps += 1
                if ema is not None and ema_decay is not None:  # the second follows from the first
                    with torch.no_grad():
                        for name, p in params:
                            ema[name].lerp_(p, 1.0 - ema_decay)
            if ema is not None:  # the moving average is steadier than the last step's weights
                with torch.no_grad():
                    for name, p in params:
                        p.copy_(ema[name])
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
