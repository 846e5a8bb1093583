"""Versioned prompt templates of the LLM annotators (judge, spare, spark), and the safe
rendering of user text into them.

Templates live in ``annotators/prompts/<name>.txt``, one file per prompt, split into sections by
lines ``=== system ===``, ``=== user ===`` and ``=== format ===`` (the format reminder sent back
with a parse error). Placeholders are ``{{name}}``; rendering substitutes them in one pass, so
user text holding ``{{...}}`` is never expanded, and a missing or unexpected value is an error.

Each template's ``digest`` is a hash of its file's text; an annotator's version includes the
``fingerprint`` of the templates it uses, so editing a prompt changes the version and labels
from different prompt versions never mix silently.

User text (problem, steps, reference, a verification being critiqued) goes inside tags such as
``<problem>`` / ``<step_3>``, the ``delimiters`` each answer style declares (annotators/styles/);
``neutralise`` escapes every registered style's tags already present in the text, so a problem
cannot close its own block and pose as instructions. Lookalikes count as tags: the
check reads the text with invisible format characters (zero-width space, joiners, soft hyphen)
dropped and each other character NFKC-folded (full-width ``＜／ｐｒｏｂｌｅｍ＞``, small and
angle-bracket forms); only the matched spans are rewritten, so ``x²`` stays ``x²``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import annotators.styles.builtin  # noqa: F401  (registers the built-in styles' delimiters)
from annotators.styles.base import delimiters

TEMPLATE_DIR = Path(__file__).resolve().parent / "prompts"
SECTION = re.compile(r"^=== (system|user|format) ===[ \t]*$", re.M)
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# brackets and slashes a model may read as ``<``, ``/``, ``>`` that NFKC leaves alone
_LOOKALIKES = str.maketrans({"\u2329": "<", "\u3008": "<", "\u27e8": "<", "\u2039": "<",
                             "\u232a": ">", "\u3009": ">", "\u27e9": ">", "\u203a": ">",
                             "\u2044": "/", "\u2215": "/", "\u29f8": "/"})


@dataclass(frozen=True)
class Template:
    """One prompt file: its sections and the hash of its text."""

    name: str
    sections: dict[str, str]
    digest: str

    def placeholders(self, section: str) -> set[str]:
        return set(PLACEHOLDER.findall(self.sections.get(section, "")))

    def render(self, section: str, **values: object) -> str:
        """Section text with every ``{{name}}`` replaced (all must be given, none extra)."""
        if section not in self.sections:
            raise KeyError(f"template {self.name!r} has no {section!r} section")
        wanted = self.placeholders(section)
        if wanted != set(values):
            raise KeyError(f"template {self.name!r} [{section}] needs {sorted(wanted)}, "
                           f"got {sorted(values)}")
        return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), self.sections[section])

    def messages(self, **values: object) -> list[dict[str, str]]:
        """The chat messages: the system section (if any) then the rendered user section."""
        out = []
        if "system" in self.sections:
            out.append({"role": "system", "content": self.sections["system"]})
        out.append({"role": "user", "content": self.render("user", **values)})
        return out


def parse_template(name: str, text: str) -> Template:
    """Split a template file's text into its sections (the ``user`` one is required)."""
    parts = SECTION.split(text)
    if parts[0].strip():
        raise ValueError(f"template {name!r}: text before the first '=== section ===' line")
    sections: dict[str, str] = {}
    for kind, body in zip(parts[1::2], parts[2::2]):
        if kind in sections:
            raise ValueError(f"template {name!r}: section {kind!r} appears twice")
        sections[kind] = body.strip("\n")
    if "user" not in sections:
        raise ValueError(f"template {name!r} has no '=== user ===' section")
    return Template(name, sections, hashlib.sha256(text.encode()).hexdigest()[:10])


@functools.cache
def load(name: str) -> Template:
    """The template ``annotators/prompts/<name>.txt`` (read once per process); a name ending
    in ``.txt`` is a path (a plugin's template kept outside annotators/prompts/)."""
    path = Path(name) if name.endswith(".txt") else TEMPLATE_DIR / f"{name}.txt"
    if not path.is_file():
        known = sorted(p.stem for p in TEMPLATE_DIR.glob("*.txt"))
        raise FileNotFoundError(f"no prompt template {name!r} in {TEMPLATE_DIR} (have {known})")
    return parse_template(name, path.read_text(encoding="utf-8"))


def fingerprint(*names: str) -> str:
    """A short hash of the named templates' texts: part of an annotator's version."""
    joined = "|".join(f"{name}:{load(name).digest}" for name in names)
    return "p" + hashlib.sha256(joined.encode()).hexdigest()[:8]


def neutralise(text: str) -> str:
    """``text`` with our delimiter tags escaped (``<problem>`` -> ``&lt;problem&gt;``), so user
    text cannot open or close a block of the prompt, lookalikes included (zero-width characters
    inside a tag, full-width brackets or letters). Other ``<`` (``x < 3``) are kept."""
    text = text.strip()
    tag = tag_pattern()
    if text.isascii():
        return tag.sub(_escaped, text)
    folded, origin = _fold(text)
    out, last = [], 0
    for match in tag.finditer(folded):
        start, end = origin[match.start()], origin[match.end() - 1] + 1
        if start < last:  # one original character folded into two matches
            continue
        out += [text[last:start], _escaped(match)]
        last = end
    return "".join(out) + text[last:]


def tag_pattern() -> re.Pattern[str]:
    """The tags the registered styles' templates use to delimit user text (any case, optional
    spaces and attributes)."""
    return _tags("|".join(delimiters()))


@functools.cache
def _tags(names: str) -> re.Pattern[str]:
    return re.compile(rf"<\s*(/?)\s*({names})\b([^<>]*)>", re.I)


def _escaped(match: re.Match[str]) -> str:
    return f"&lt;{match.group(1)}{match.group(2)}{match.group(3)}&gt;"


def _fold(text: str) -> tuple[str, list[int]]:
    """``text`` as a model may read it (format characters dropped, others NFKC-folded) and, per
    folded character, the index of the original character it comes from."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isascii():
            chars.append(char)
            origin.append(index)
            continue
        if unicodedata.category(char) == "Cf":  # zero-width space, joiners, BOM, soft hyphen
            continue
        folded = unicodedata.normalize("NFKC", char).translate(_LOOKALIKES)
        chars += folded
        origin += [index] * len(folded)
    return "".join(chars), origin


def tagged_steps(steps: Sequence[str], tag: str = "step", start: int = 1) -> str:
    """Steps as ``<step_1>\\n...\\n</step_1>`` blocks, numbered from ``start`` (ProcessBench's
    paragraphs count from 0), text neutralised."""
    return "\n".join(f"<{tag}_{i}>\n{neutralise(step)}\n</{tag}_{i}>"
                     for i, step in enumerate(steps, start))


def bracketed_steps(steps: Sequence[str]) -> str:
    """Steps as ``[1] ...`` lines (SPARE's numbering), text neutralised."""
    return "\n".join(f"[{i}] {neutralise(step)}" for i, step in enumerate(steps, 1))


def retry_messages(template: Template, bad_answer: str, error: str,
                   **values: object) -> list[dict[str, str]]:
    """The turns appended after an unreadable answer: the answer itself, then a user message
    naming the parse error and restating ``template``'s expected format."""
    reminder = template.render("format", **values) if "format" in template.sections else ""
    content = load("retry").render("user", error=error, format=reminder).strip()
    return [{"role": "assistant", "content": bad_answer}, {"role": "user", "content": content}]

