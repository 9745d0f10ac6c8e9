"""Wildcards: ``{red|blue|green}`` picks one choice (choices may nest), ``__name__`` picks one line of the
list ``name.txt`` in the wildcards folder (``__sub/name__``: ``sub/name.txt``), as sd-dynamic-prompts and
A1111's wildcards extension read them: one choice per line, blank lines and ``#`` lines skipped, and a
line may hold choices and wildcards itself.

The picks are drawn from ``random.Random(seed)``, left to right, so the same template, seed and lists give
the same prompt; image ``i`` of a job expands with its own seed ``seed + i``. Lists are read with a size
bound, names cannot leave the folder, and nesting and the work one prompt may take are bounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from random import Random  # seeded by the job's seed (as A1111's wildcards are): it draws no seed itself

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.core.prompts.lines import read_text_file

MAX_DEPTH = 8  # a list naming a list naming a list…: deeper is a list that names itself
MAX_NESTING = 32  # choices inside choices inside choices, as written
MAX_PICKS = 1000  # choices and list lines drawn for one prompt
MAX_PROMPT_CHARS = 10_000  # an expanded prompt; the text encoder reads the first 77 tokens anyway
MAX_LIST_BYTES = 1 << 20
MAX_VARIANTS = 64  # prompts one template may stand for on a grid axis
_REF = re.compile(r"__([^\s{}|]+?)__")
_NAME_PART = re.compile(r"[\w\-.]+")
_FORM = "one choice per line"


@dataclass(frozen=True)
class _Choice:
    options: tuple[tuple[_Item, ...], ...]


@dataclass(frozen=True)
class _Ref:
    name: str


_Item = str | _Choice | _Ref


def has_wildcards(text: str) -> bool:
    """Whether ``text`` is a template: it holds a choice, a brace, or a ``__name__`` wildcard."""
    return "{" in text or "}" in text or _REF.search(text) is not None


def expand(template: str, seed: int, folder: Path) -> str:
    """The prompt ``template`` stands for with ``seed``, its lists read from ``folder``."""
    return _Expansion(folder, Random(seed)).text(_parse(template), ())


def with_prompt(params: GenerationParams, text: str, folder: Path) -> GenerationParams:
    """``params`` for the prompt ``text``: a template is kept as ``prompt_template`` and expanded with the
    job's seed into ``prompt`` (image 0's; ``expand_images`` gives every image's)."""
    if not has_wildcards(text):
        return params.replace(prompt=text, prompt_template=None)
    return params.replace(prompt=expand(text, params.seed, folder), prompt_template=text)


def expand_images(params: GenerationParams, folder: Path) -> list[GenerationParams]:
    """A job as the images it makes: each with the prompt its own seed expands to. A job with no template
    stays one job."""
    template = params.prompt_template
    if template is None:
        return [params]
    return [p.replace(prompt=expand(template, p.seed, folder)) for p in params.per_image()]


def all_expansions(template: str, folder: Path, limit: int = MAX_VARIANTS) -> list[str]:
    """Every prompt ``template`` stands for, first choices first, each once: a grid's prompt values. A
    template that stands for more than ``limit`` prompts is refused."""
    found = _Enumeration(_Expansion(folder, Random(0)), limit, template).texts(_parse(template), ())
    return list(dict.fromkeys(found))


def prompt_variants(folder: Path) -> Callable[[str], list[str]]:
    """A grid's prompt axis reads each value through this: a template gives one value per prompt."""
    return lambda value: all_expansions(value, folder) if has_wildcards(value) else [value]


def _parse(text: str) -> tuple[_Item, ...]:
    items, end = _sequence(text, 0, 0)
    if end < len(text):  # only a "}" with no "{" stops the top level early
        raise InvalidParams(
            f"The prompt has a “}}” with no “{{” before it (character {end + 1}).",
            "Choices are written {red|blue|green}; remove the stray brace.",
        )
    return items


def _sequence(text: str, at: int, nesting: int) -> tuple[tuple[_Item, ...], int]:
    """Items from ``at`` up to a ``|`` or ``}`` that ends a choice's option (top level: the end)."""
    items: list[_Item] = []
    plain: list[str] = []
    i = at
    while i < len(text):
        c = text[i]
        if c == "}" or (c == "|" and nesting):
            break
        match = _REF.match(text, i) if c == "_" else None
        if c == "{":
            if nesting >= MAX_NESTING:
                raise InvalidParams(f"The prompt nests choices more than {MAX_NESTING} deep.")
            items.append("".join(plain))
            plain = []
            choice, i = _choice(text, i + 1, nesting + 1)
            items.append(choice)
            continue
        if match is not None:
            items.append("".join(plain))
            plain = []
            items.append(_Ref(_checked_name(match.group(1))))
            i = match.end()
            continue
        plain.append(c)
        i += 1
    items.append("".join(plain))
    return tuple(item for item in items if item != ""), i


def _choice(text: str, at: int, nesting: int) -> tuple[_Choice, int]:
    options = []
    i = at
    while True:
        option, i = _sequence(text, i, nesting)
        options.append(option)
        if i >= len(text):
            raise InvalidParams(
                f"The prompt has a “{{” with no “}}” to close it (character {at}).",
                "Choices are written {red|blue|green}.",
            )
        if text[i] == "}":
            return _Choice(tuple(options)), i + 1
        i += 1  # past the "|"


def _checked_name(name: str) -> str:
    parts = name.split("/")
    if not all(_NAME_PART.fullmatch(p) and p.strip(".") for p in parts) or ".." in name:
        raise InvalidParams(
            f"__{name}__ is not a wildcard name: a name is letters, digits, “-” and “_”, with “/” "
            "between subfolders, inside the wildcards folder.",
            "Fix the name.",
        )
    return name


@dataclass
class _Expansion:
    folder: Path
    rng: Random
    lists: dict[str, list[str]] = field(default_factory=dict)
    picks: int = 0

    def text(self, items: tuple[_Item, ...], chain: tuple[str, ...]) -> str:
        out = []
        for item in items:
            if isinstance(item, str):
                out.append(item)
                continue
            self.picks += 1
            if self.picks > MAX_PICKS:
                raise InvalidParams(
                    f"The prompt draws more than {MAX_PICKS} choices: its wildcards expand without end.",
                    "Check the lists that name other lists.",
                )
            if isinstance(item, _Choice):
                out.append(self.text(item.options[self.rng.randrange(len(item.options))], chain))
            else:
                out.append(self.reference(item.name, chain))
        text = "".join(out)
        if len(text) > MAX_PROMPT_CHARS:
            raise InvalidParams(
                f"The prompt expands to more than {MAX_PROMPT_CHARS:,} characters.",
                "Check the lists that name other lists.",
            )
        return text

    def reference(self, name: str, chain: tuple[str, ...]) -> str:
        chain = (*chain, name)
        if len(chain) > MAX_DEPTH:
            path = " → ".join(f"__{n}__" for n in chain[:4])
            raise InvalidParams(
                f"Wildcards nest more than {MAX_DEPTH} deep ({path} → …): a list probably names itself.",
                f"Check {self.path(name)}.",
            )
        lines = self.read(name)
        line = lines[self.rng.randrange(len(lines))]
        return self.text(_parse(line), chain).strip()

    def path(self, name: str) -> Path:
        return self.folder.joinpath(*name.split("/")).with_name(name.split("/")[-1] + ".txt")

    def read(self, name: str) -> list[str]:
        if name in self.lists:
            return self.lists[name]
        path = self.path(name)
        if not path.exists():
            raise InvalidParams(
                f"There is no wildcard list __{name}__: {path} does not exist.",
                f"Put {name}.txt in the wildcards folder {self.folder}, {_FORM}, or fix the name.",
            )
        text = read_text_file(path, MAX_LIST_BYTES, "wildcard list", _FORM)
        lines = [line.strip() for line in text.splitlines()]
        lines = [line for line in lines if line and not line.startswith("#")]
        if not lines:
            raise InvalidParams(
                f"The wildcard list {path} holds no choices.",
                f"Write {_FORM}; lines starting with # are comments.",
            )
        self.lists[name] = lines
        return lines


@dataclass
class _Enumeration:
    """Every expansion rather than one drawn; the lists read (and checked) as ``_Expansion`` reads them."""

    reader: _Expansion
    limit: int
    template: str

    def texts(self, items: tuple[_Item, ...], chain: tuple[str, ...]) -> list[str]:
        out = [""]
        for item in items:
            if isinstance(item, str):
                options = [item]
            elif isinstance(item, _Choice):
                options = [t for option in item.options for t in self.texts(option, chain)]
            else:
                options = self.reference(item.name, chain)
            out = [a + b for a in out for b in options]
            if len(options) > self.limit or len(out) > self.limit:
                shown = self.template if len(self.template) <= 60 else self.template[:59] + "…"
                raise InvalidParams(
                    f"“{shown}” stands for more than {self.limit} prompts.",
                    "Give it fewer choices, or shorter wildcard lists.",
                )
        if any(len(t) > MAX_PROMPT_CHARS for t in out):
            raise InvalidParams(
                f"The prompt expands to more than {MAX_PROMPT_CHARS:,} characters.",
                "Check the lists that name other lists.",
            )
        return out

    def reference(self, name: str, chain: tuple[str, ...]) -> list[str]:
        chain = (*chain, name)
        if len(chain) > MAX_DEPTH:
            raise InvalidParams(
                f"Wildcards nest more than {MAX_DEPTH} deep: a list probably names itself.",
                f"Check {self.reader.path(name)}.",
            )
        return [t.strip() for line in self.reader.read(name) for t in self.texts(_parse(line), chain)]
