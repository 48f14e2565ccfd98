"""Configuration read from environment variables with the ``COMMENTS_`` prefix.

Every setting has a default that runs the embedded mode: SQLite in the instance folder, an
in-process worker, in-memory rate limits, no Redis. ``COMMENTS_DATABASE_URL`` and
``COMMENTS_REDIS_URL`` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

PREFIX = "COMMENTS_"

#: The words a boolean setting may be (any case); an empty variable means the default.
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class SettingError(ValueError):
    """A setting's value cannot be parsed; the message names the variable."""


def parse_bool(value: str | bool) -> bool:
    """The one boolean parser: ``true``/``1``/``yes``/``on`` or ``false``/``0``/``no``/``off``.

    Anything else is an error, not False: a typo must not quietly turn a protection off (or on).
    """
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"expected true or false ({'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)}), got {value!r}")


def parse_int(value: str | int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise ValueError(f"expected an integer, got {value!r}") from None


def parse_float(value: str | float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None


def parse_text(value: str) -> str:
    """A path or name: surrounding blanks are a copy-and-paste accident, not part of it."""
    return str(value).strip()


def parse_word(value: str) -> str:
    """A choice among fixed lower-case words (checked by the code that uses it)."""
    return str(value).strip().lower()


class Setting(NamedTuple):
    default: Any
    parse: Callable[[Any], Any]
    #: what the setting does, as the README's table says it
    help: str
    #: the default as the README shows it, where it is not simply the value (derived, or unset)
    shown: str | None = None


# The README's configuration table is written from this list (`write_readme()`), and
# tests/test_config.py checks that it was.
SETTINGS: dict[str, Setting] = {
    "DATABASE_URL": Setting(
        None, str, "SQLAlchemy URL; `postgresql://user@host/db` uses psycopg 3", "`sqlite:///instance/comments.db`"
    ),
    "SECRET_KEY": Setting(
        None,
        str,
        "signs edit tokens and sessions; set the same value on every machine",
        "generated once into `instance/secret_key`",
    ),
    "HASH_KEY": Setting(None, str, "key for the IP and email hashes", "derived from the secret key"),
    "SSO_ENCRYPTION_KEY": Setting(
        None,
        str,
        "encrypts the sites' SSO secrets in the database; several, comma-separated, while rotating"
        " (the first encrypts, any decrypts)",
        "derived from the secret key",
    ),
    "REDIS_URL": Setting(
        None, str, "Redis for rate limits shared by all processes, and the RQ queue; unset = in-memory / in-process"
    ),
    "TRUSTED_PROXY_COUNT": Setting(0, parse_int, "reverse proxies in front; only then is `X-Forwarded-For` believed"),
    "RATELIMIT_POST": Setting("5 per minute;60 per hour", str, "posts, edits and deletes per site and client IP"),
    "RATELIMIT_REPORT": Setting("10 per minute;100 per day", str, "reports per site and client IP"),
    "RATELIMIT_READ": Setting("300 per minute", str, "thread reads and counts per site and client IP"),
    "RATELIMIT_PREVIEW": Setting("30 per minute;300 per hour", str, "Markdown previews per site and client IP"),
    "RATELIMIT_LOGIN": Setting("10 per minute", str, "moderator logins per client IP"),
    "RATELIMIT_API_KEY_FAILURES": Setting(
        "10 per minute;100 per hour", str, "failed host API key attempts per client IP before 429"
    ),
    "RATELIMIT_ANALYZE": Setting(
        "10 per second;20000 per day",
        str,
        "Perspective-compatible requests (`comments:analyze`, `comments:suggestscore`) per API key; over it:"
        " 429 RESOURCE_EXHAUSTED",
    ),
    "RATELIMIT_ENABLED": Setting(True, parse_bool, "`false` turns rate limiting off (tests, benchmarks)"),
    "DEMO_PAGE": Setting(False, parse_bool, "serve the demo news page at `/demo/` (`./manage serve` turns it on)"),
    "EDIT_TOKEN_MAX_AGE": Setting(
        7 * 24 * 3600, parse_int, "seconds an edit token lets its author read their comment and delete it"
    ),
    "MAX_PAGE_SIZE": Setting(200, parse_int, "largest `limit` accepted on list endpoints"),
    "DEFAULT_PAGE_SIZE": Setting(50, parse_int, "page size (roots per page of a thread) when `limit` is not given"),
    "PUBLIC_URL": Setting(
        "http://127.0.0.1:8000", str, "where the service is reached (demo site origin, printed links)"
    ),
    "READ_CACHE_MB": Setting(64, parse_int, "memory per process for rendered thread pages (0 turns the cache off)"),
    "MODERATOR_TOKEN_HOURS": Setting(12, parse_int, "lifetime of a moderator's bearer token"),
    "SCORING_MODE": Setting(
        "inprocess",
        str,
        "`inprocess` (a scoring thread in each web process), `rq` (workers "
        'apart, needs Redis) or `off` (see "Where scoring runs")',
    ),
    # Every batch costs a few statements, a commit and a forward pass whatever its size: under a
    # stream of posts, 48 instead of 16 cut the scoring CPU per comment by ~25% (bench/README.md).
    "SCORING_COMMENTS_PER_BATCH": Setting(
        48, parse_int, "comments per scoring batch (one transaction, as few forward passes as pay)"
    ),
    "SCORING_LINGER_MS": Setting(
        20,
        parse_int,
        "how long the in-process worker waits for one more comment to join a batch (again while more keep coming)",
    ),
    "SCORING_MAX_LINGER_MS": Setting(
        200, parse_int, "the longest the in-process worker waits for a batch to fill while comments keep coming"
    ),
    "SCORING_SWEEP_SECONDS": Setting(
        15, parse_int, "how often workers sweep the database for waiting comments (lost jobs, classifier outages)"
    ),
    "SCORING_GRACE_SECONDS": Setting(
        20, parse_int, "how long a pending comment is left to its job before a sweep takes it"
    ),
    "WEBHOOK_DELIVERY": Setting(
        "inprocess",
        str,
        "`inprocess`: a delivery thread in each web process (and workers); "
        "`worker`: only `flask comments worker` delivers",
    ),
    "WEBHOOK_ALLOW_PRIVATE": Setting(
        False, parse_bool, "let webhooks reach loopback, private and link-local addresses (local testing only)"
    ),
    "WEBHOOK_MAX_ATTEMPTS": Setting(8, parse_int, "attempts before a delivery is given up"),
    "WEBHOOK_RETRY_BASE_SECONDS": Setting(
        30, parse_int, "first retry delay, doubled each time (with jitter), at most 6 h"
    ),
    "WEBHOOK_TIMEOUT_SECONDS": Setting(10, parse_int, "connect and read timeout of one attempt"),
    "WEBHOOK_POLL_SECONDS": Setting(2, parse_float, "how often delivery threads look at the outbox"),
    "IP_RETENTION_DAYS": Setting(90, parse_int, "`flask comments purge` drops IP hashes older than this"),
    "WEBHOOK_LOG_DAYS": Setting(
        30,
        parse_int,
        "`flask comments purge` drops finished webhook deliveries (which carry comment texts) older than this",
    ),
    "ANALYSIS_FEEDBACK_DAYS": Setting(
        365,
        parse_int,
        "`flask comments purge` drops suggested scores (`comments:suggestscore`: texts with the scores a"
        " Perspective client suggested) older than this",
    ),
    "ANALYZE_TIMEOUT_MS": Setting(
        2000,
        parse_int,
        "how long a `comments:analyze` request waits for the classifier before answering 503 UNAVAILABLE",
    ),
    # The classifier's settings (comments/classifier/ checks the values: known model types, etc.).
    "CLASSIFIER_MODEL_TYPE": Setting(
        "original",
        parse_word,
        "Detoxify model type: `original`, `unbiased`, "
        "`multilingual`, `original-small` or `unbiased-small`; must match the checkpoint",
    ),
    "CLASSIFIER_CHECKPOINT": Setting(
        None, parse_text, "path of the `.ckpt` (nothing is ever downloaded)", "the hub cache's file for the model type"
    ),
    "CLASSIFIER_CHECKPOINT_SHA256": Setting(
        None, parse_text, "pin of that file (required unless `COMMENTS_CLASSIFIER_ALLOW_UNPINNED=true`)"
    ),
    "CLASSIFIER_ALLOW_UNPINNED": Setting(
        False,
        parse_bool,
        "load a checkpoint without a pin (it is unpickled with `weights_only=False`): development only",
    ),
    "CLASSIFIER_CONFIG_DIR": Setting(
        None,
        parse_text,
        "local Hugging Face config + tokenizer folder, for offline hosts; unset: the Hugging Face hub/cache",
    ),
    "CLASSIFIER_DEVICE": Setting("cpu", parse_text, "torch device"),
    "CLASSIFIER_THREADS": Setting(
        None,
        parse_int,
        "torch intra-op threads; in a web process more threads spin "
        "against the request threads (57 ms instead of 3.4 ms of CPU per comment on 2 busy "
        "cores)",
        "1 in web processes (`inprocess`), all CPUs in `flask comments worker`",
    ),
    "CLASSIFIER_WINDOWS_PER_PASS": Setting(
        16, parse_int, "size of a forward pass, in full 512-token windows (shorter texts are packed more densely)"
    ),
    "CLASSIFIER_PRECISION": Setting(
        "fp32",
        parse_word,
        "`fp32` or `bf16` (faster on CPUs with AMX or AVX512-BF16, "
        'torch scores within 0.02 of fp32; slower elsewhere): see "Speed settings"',
    ),
    "CLASSIFIER_RUNTIME": Setting(
        "torch",
        parse_word,
        "`torch` or `openvino` (the loaded model converted to OpenVINO "
        'at start-up; fastest; optional extra): see "Speed settings"',
    ),
}

#: Old names still read from the environment (with a warning at start-up): old -> new.
DEPRECATED_NAMES: dict[str, str] = {
    # Two "batch sizes" counted different things: comments per transaction, windows per forward pass.
    "SCORING_BATCH_SIZE": "SCORING_COMMENTS_PER_BATCH",
    "CLASSIFIER_BATCH_SIZE": "CLASSIFIER_WINDOWS_PER_PASS",
}


def parse_setting(name: str, value: Any) -> Any:
    """``value`` as setting ``name`` holds it: strings parsed, a blank string is the default.

    Raises ValueError (saying what was expected) for a value the setting's parser refuses.
    """
    setting = SETTINGS[name]
    if isinstance(value, str):
        if value.strip() == "":
            return setting.default
        return setting.parse(value)
    if value is None:
        return setting.default
    # Values set in code (tests, a config mapping) are already typed; the typed parsers still check them.
    return setting.parse(value) if setting.parse in (parse_bool, parse_int, parse_float) else value


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings present in the environment, parsed, without the prefix.

    Raises :class:`SettingError`, naming the variable, for a value that cannot be parsed.
    Deprecated names are read when the new one is not set, with a warning.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, tuple[str, str]] = {}  # name -> (variable it was read from, value)
    for old, new in DEPRECATED_NAMES.items():
        value = environ.get(PREFIX + old, "")
        if value == "":
            continue
        if environ.get(PREFIX + new, "") != "":
            warnings.warn(f"{PREFIX}{old} is deprecated and ignored: {PREFIX}{new} is set", FutureWarning, stacklevel=2)
        else:
            warnings.warn(f"{PREFIX}{old} is deprecated: rename it {PREFIX}{new}", FutureWarning, stacklevel=2)
            raw[new] = (PREFIX + old, value)
    for name in SETTINGS:
        value = environ.get(PREFIX + name, "")
        if value != "":
            raw[name] = (PREFIX + name, value)
    found: dict[str, Any] = {}
    for name, (variable, value) in raw.items():
        try:
            found[name] = SETTINGS[name].parse(value)
        except ValueError as exc:
            raise SettingError(f"{variable}: {exc}") from None
    return found


def defaults() -> dict[str, Any]:
    return {name: setting.default for name, setting in SETTINGS.items()}


def shown_default(setting: Setting) -> str:
    if setting.shown is not None:
        return setting.shown
    if setting.default is None:
        return "unset"
    if isinstance(setting.default, bool):
        return "`true`" if setting.default else "`false`"
    return f"`{setting.default}`"


README_PATH = Path(__file__).resolve().parent.parent / "README.md"
README_START = "<!-- settings: written from comments/config.py by comments.config.write_readme() -->"
README_END = "<!-- end of settings -->"


def readme_section() -> str:
    """The README's configuration table and the deprecated names, from :data:`SETTINGS`."""
    lines = [README_START, "", "| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{PREFIX}{name}` | {shown_default(s)} | {s.help} |" for name, s in SETTINGS.items()]
    true_words, false_words = "`/`".join(TRUE_WORDS), "`/`".join(FALSE_WORDS)
    lines += [
        "",
        (
            f"Boolean settings take `{true_words}` or `{false_words}` (any case); any other value, or a number "
            "setting that is not a number, stops the service at start-up with a message naming the variable."
        ),
        "",
        (
            "Renamed settings: the old names still work for now, with a warning at start-up (the new name wins "
            "when both are set):"
        ),
        "",
    ]
    lines += [f"- `{PREFIX}{old}` is now `{PREFIX}{new}`" for old, new in DEPRECATED_NAMES.items()]
    lines += ["", README_END]
    return "\n".join(lines)


def write_readme(path: Path = README_PATH) -> bool:
    """Replace the section between the markers in ``path``; True if it changed."""
    text = path.read_text()
    start = text.index(README_START)
    end = text.index(README_END, start) + len(README_END)
    updated = text[:start] + readme_section() + text[end:]
    if updated != text:
        path.write_text(updated)
    return updated != text


def instance_secret(instance_path: str) -> str:
    """A secret key kept in the instance folder, so restarts keep tokens valid without setup."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Written with 0600 so other local users cannot forge edit tokens.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
