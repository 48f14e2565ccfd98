"""Deterministic, realistic-looking Markdown comments for the benchmarks.

Bodies are 50-800 characters of conversational Markdown: plain sentences, *emphasis*,
**strong**, `code`, links (inline and bare), quotes of the article or of another reader, and
short lists. Same seed, same comments: both servers get exactly the same text.
"""

from __future__ import annotations

import random
import re
import unicodedata

_FIRST = [
    "Anna",
    "Ben",
    "Chloé",
    "Dmitri",
    "Elif",
    "Farah",
    "Gustav",
    "Hana",
    "Ivo",
    "Jun",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Owen",
    "Priya",
    "Quentin",
    "Rosa",
    "Sami",
    "Tomás",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoë",
]
_LAST = [
    "Berg",
    "Costa",
    "Duarte",
    "Engel",
    "Fischer",
    "García",
    "Haddad",
    "Ito",
    "Jansen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Yilmaz",
    "Zhou",
]

_SENTENCES = [
    "I think the article glosses over the cost side of this.",
    "This matches what we saw in our town last year.",
    "Great piece, thanks for writing it up.",
    "Does anyone have the original numbers behind the second chart?",
    "The interview with the council member was the most interesting part for me.",
    "I'm not convinced the comparison with 2019 is fair, the baseline was different.",
    "We tried something similar at work and it took twice as long as planned.",
    "Honestly the headline oversells it a bit.",
    "My neighbour works there and says the reality is more complicated.",
    "That's a good point, I hadn't considered the maintenance budget.",
    "The map in the middle of the article would be easier to read with a legend.",
    "Is there a follow-up planned once the pilot ends?",
    "It would help to know how many people actually responded to the survey.",
    "Fair enough, but the timeline seems optimistic.",
    "This is the kind of local reporting I'm happy to pay for.",
    "I read the report itself and the summary here is accurate.",
    "Some of the quotes seem to be taken out of context.",
    "Thanks for the correction at the bottom, appreciated.",
]
_WORDS = [
    "really",
    "exactly",
    "not",
    "twice",
    "budget",
    "pilot",
    "survey",
    "timeline",
    "data",
    "context",
    "cost",
    "trains",
    "housing",
    "schools",
    "parking",
    "rent",
    "policy",
]
_LINKS = [
    "https://example.org/reports/2024/transport-survey",
    "https://data.example.gov/datasets/housing-permits",
    "https://en.wikipedia.org/wiki/Participatory_budgeting",
    "https://www.example.com/news/2023/11/council-vote",
    "https://archive.example.net/2019/pilot-results.pdf",
]
_LINK_TEXT = ["the full report", "this dataset", "the earlier story", "here", "the minutes"]
_CODE = ["`SELECT count(*)`", "`v2.1`", "`--dry-run`", "`NULL`", "`404`"]


def _sentence(rng: random.Random) -> str:
    text = rng.choice(_SENTENCES)
    roll = rng.random()
    if roll < 0.25:  # emphasis on one word
        word = rng.choice(_WORDS)
        text = text[:-1] + f", *{word}* so." if text.endswith(".") else text + f" *{word}*"
    elif roll < 0.35:
        text = f"**{text}**"
    elif roll < 0.45:
        text = text[:-1] + f" (see [{rng.choice(_LINK_TEXT)}]({rng.choice(_LINKS)}))."
    elif roll < 0.50:
        text = text + f" Source: {rng.choice(_LINKS)}"
    elif roll < 0.55:
        text = text + f" The value was {rng.choice(_CODE)} in the export."
    return text


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(1, 3)))


def _block(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.15:
        return "> " + _sentence(rng)
    if roll < 0.25:
        return "\n".join(f"- {_sentence(rng)}" for _ in range(rng.randint(2, 4)))
    if roll < 0.30:
        return "\n".join(f"{i}. {_sentence(rng)}" for i in range(1, rng.randint(3, 4)))
    return _paragraph(rng)


def body(rng: random.Random, minimum: int = 50, maximum: int = 800) -> str:
    """One comment body of ``minimum``..``maximum`` characters, Markdown."""
    # Mixed lengths: many short comments, some medium, a few long ones.
    roll = rng.random()
    target = (
        rng.randint(minimum, 160)
        if roll < 0.45
        else (rng.randint(160, 420) if roll < 0.85 else rng.randint(420, maximum))
    )
    for _attempt in range(1000):
        blocks = [_paragraph(rng)]
        for _block_count in range(100):
            nxt = _block(rng)
            if len("\n\n".join(blocks + [nxt])) > target:
                break
            blocks.append(nxt)
        text = "\n\n".join(blocks)
        if minimum <= len(text) <= maximum:
            return text
        # the first paragraph alone was too long or too short: try again with a new draw
    raise RuntimeError("could not draw a body of the requested length")


def author(rng: random.Random, index: int) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)} {index}"


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold()))


def thread(seed: int = 1, roots: int = 200, replies_per_root: int = 4) -> list[dict]:
    """The seeded thread as a list of {"body", "author", "parent": index-of-root | None}, in
    posting order: each root followed by its replies (all direct replies to that root).

    No two bodies have the same words: servers may refuse a repeated comment (ours does, per
    author, and every benchmark post comes from the same address)."""
    rng = random.Random(seed)
    seen: set[tuple[str, ...]] = set()

    def fresh_body() -> str:
        for _attempt in range(1000):
            text = body(rng)
            if _words(text) not in seen:
                seen.add(_words(text))
                return text
        raise RuntimeError("could not draw a new distinct body")

    items: list[dict] = []
    for _ in range(roots):
        root_index = len(items)
        items.append({"body": fresh_body(), "author": author(rng, len(items)), "parent": None})
        for _ in range(replies_per_root):
            items.append({"body": fresh_body(), "author": author(rng, len(items)), "parent": root_index})
    return items


if __name__ == "__main__":  # a quick look at the data
    data = thread()
    lengths = sorted(len(c["body"]) for c in data)
    print(
        f"{len(data)} comments, body length min {lengths[0]}, median {lengths[len(lengths) // 2]}, "
        f"max {lengths[-1]}, total {sum(lengths)} chars"
    )
    for c in data[:3]:
        print("---", c["author"], "\n" + c["body"])
