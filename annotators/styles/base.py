"""What an answer style is, and the styles known to this process.

A style is how an LLM annotator asks for verdicts and reads them back, in one place (as a
distilabel task owns its template, output schema and parser): the name of its prompt template
(annotators/prompts/<template>.txt, or a path), the tags its prompt wraps user text in
(``delimiters``: ``annotators.prompts.neutralise`` escapes every registered style's tags in user
text), its verdict block's shape (``shape``: a JSON schema or grammar engines enforce), the
longest block that shape allows (``longest``: what the reasoning's token budget leaves room
for) and its parser (``parse``: text -> Verdicts, strict). ``register_style`` makes a style
known; annotators/styles/builtin.py imports the built-in ones.
"""

from __future__ import annotations

from typing import ClassVar, Sequence, TypeVar

from annotators.shapes import two_part_shape
from annotators.verdicts import Verdicts
from engines.base import Constraint, TwoPart

__all__ = ["AnswerStyle", "STYLES", "delimiters", "longest", "register_style", "two_part"]


class AnswerStyle:
    """One answer style. Subclasses set the class attributes and implement ``shape``,
    ``longest`` and ``parse``; ``n_reference`` is the reference solution's step count, for
    styles that align steps to one (0 otherwise)."""

    name: ClassVar[str]  # the style's name (a judge's ``style`` setting)
    template: ClassVar[str]  # its prompt template
    delimiters: ClassVar[tuple[str, ...]]  # tag names (regex) its prompt wraps user text in
    family: ClassVar[str] = ""  # the verdict block's format when shared with another style
    step_tag: ClassVar[str] = "step"  # steps are shown as <step_tag_i> ...
    first_index: ClassVar[int] = 1  # ... numbered from this index

    def shape(self, n_steps: int, chars: int = 0, n_reference: int = 0) -> Constraint:
        """The verdict block for ``n_steps`` steps, per-step rationales capped at ``chars``."""
        raise NotImplementedError

    def longest(self, n_steps: int, chars: int = 0, n_reference: int = 0) -> str:
        """The longest block ``shape`` allows (rationales at their cap, written as 'x's)."""
        raise NotImplementedError

    def parse(self, text: str, n_steps: int, material: Sequence[str] = (),
              n_reference: int = 0) -> Verdicts:
        """The answer's verdicts (ParseError when unreadable); verdict blocks copied from
        ``material`` (the problem, the steps) are not the model's."""
        raise NotImplementedError

    @property
    def block_name(self) -> str:
        return self.family or self.name

    def answer_shape(self, n_steps: int, chars: int = 0, n_reference: int = 0) -> TwoPart:
        """Free reasoning, then this style's verdict block (engines size the reasoning's budget
        from ``max_tokens`` and the block's longest form)."""
        return two_part_shape(self.block_name, self.shape(n_steps, chars, n_reference),
                              self.longest(n_steps, chars, n_reference), n_steps, chars)


STYLES: dict[str, AnswerStyle] = {}

S = TypeVar("S", bound=type[AnswerStyle])


def register_style(style: S) -> S:
    """Make ``style`` (a class; usable as a decorator) known under its name: its delimiters
    are then neutralised in user text and ``two_part``/``longest`` find it by name."""
    STYLES[style.name] = style()
    return style


def delimiters() -> tuple[str, ...]:
    """Every registered style's tag names, each once, in registration order."""
    return tuple(dict.fromkeys(tag for style in STYLES.values() for tag in style.delimiters))


def longest(style: str, n_steps: int, chars: int = 0, n_reference: int = 0) -> str:
    """The longest verdict block of the registered style ``style``."""
    return _style(style).longest(n_steps, chars, n_reference)


def two_part(style: str, block: Constraint, n_steps: int, chars: int = 0,
             n_reference: int = 0) -> TwoPart:
    """Free reasoning, then ``block`` (a shape of the registered style ``style``)."""
    found = _style(style)
    return two_part_shape(found.block_name, block, found.longest(n_steps, chars, n_reference),
                          n_steps, chars)


def _style(name: str) -> AnswerStyle:
    if name not in STYLES:
        raise ValueError(f"unknown style {name!r}")
    return STYLES[name]
