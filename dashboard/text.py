"""Names and messages shown as the text they are, in Streamlit's markdown and in plotly figures.

A run, dataset or sweep name, an uploaded file's name and any message quoting one come from
people: a name like ``![x](http://host/pixel)`` must read as those characters, not make
every viewer's browser fetch an image or show a live link. No Streamlit import here, so the
figure builders use it too.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

#: Every ASCII punctuation character: CommonMark lets each be escaped with a backslash, and an
#: escaped one is shown as itself. Escaping them all (not a list of today's specials) also stops
#: what GitHub-flavoured markdown and Streamlit add: bare-URL links (``http://``, ``www.``,
#: ``a@b.c``), ``$`` math, ``~`` strikethrough, ``|`` tables, ``:red[..]`` and ``:material/..:``
#: directives, ``&amp;`` entities, and ``1.``, ``-``, ``#`` or ``>`` opening a block.
_MARKDOWN_ESCAPED = re.compile("([" + re.escape(string.punctuation) + "])")

#: U+2060 WORD JOINER: invisible, and no break. Streamlit's renderer also finds bare URLs and
#: e-mail addresses in the text after the escapes are resolved (GFM's autolink literals), so a
#: backslash cannot stop ``http://``, ``www.`` or ``a@b.c`` becoming a live link: this does.
_JOINER = "\u2060"
_AUTOLINK_STARTS = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?=@)", re.IGNORECASE)

#: What plotly reads in a text (legend names, titles, annotations, hover templates): its subset of
#: HTML (``<b>``, ``<a href>``, ``<br>``...) and entities, ``%{..}`` in hover templates, and a text
#: in ``$...$`` as LaTeX. Each becomes a numeric entity, which plotly shows as the character.
_PLOTLY_ESCAPED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "%": "&#37;", "$": "&#36;"}


def markdown_text(text: Any) -> str:
    """``text`` for anything Streamlit renders as markdown (st.markdown, st.caption, st.error and
    the other boxes, st.toast, widget labels, progress texts): every ASCII punctuation character
    backslash-escaped, line breaks turned into spaces and an invisible word joiner put inside
    ``://``, ``www.`` and before ``@``, so it shows exactly its characters and forms no link,
    image, emphasis, code, math, HTML or block. Returns the escaped string."""
    joined = _AUTOLINK_STARTS.sub(_JOINER, " ".join(str(text).split()))
    return _MARKDOWN_ESCAPED.sub(r"\\\1", joined)


def plotly_text(text: Any) -> str:
    """``text`` for a plotly figure's legend, title, annotation or hover template: ``&``, ``<``,
    ``>``, ``%`` and ``$`` as entities, so plotly draws exactly its characters (no tag, link, line
    break, template field or LaTeX). Returns the escaped string."""
    return "".join(_PLOTLY_ESCAPED.get(ch, ch) for ch in str(text))


#: How a name built from settings separates them ("RSteer 32 ch · 2 frames in · ... · Δb 0.3").
PART_SEPARATOR = " · "
_SHIPPED = " (shipped)"


def _name_parts(name: str) -> list[str]:
    """A settings-built name as [model label, then each setting]: "RSteer 32 ch · 30 ep (shipped)"
    -> ["RSteer", "32 ch", "30 ep", "shipped"]. A name without settings is one part."""
    parts = name.split(PART_SEPARATOR)
    if len(parts) < 2:
        return [name]
    if parts[-1].endswith(_SHIPPED):
        parts[-1:] = [parts[-1][: -len(_SHIPPED)], "shipped"]
    head, _, rest = parts[0].partition(" ")
    return [head] + ([rest] if rest else []) + parts[1:]


def short_names(names: Sequence[str]) -> list[str]:
    """Each name shortened for a legend or a panel title: its model label and only the settings
    that tell it from the other names ("RSteer", "ConvNet · 1 ep", "ConvNet · 30 ep · shipped").
    A name without settings (one a person gave) is kept whole, and so is any name whose short
    form would equal another's. Returns one short name per name, in order."""
    split = [_name_parts(str(n)) for n in names]
    built = [p for p in split if len(p) > 1]
    common = set.intersection(*(set(p[1:]) for p in built)) if built else set()
    short = [
        PART_SEPARATOR.join([p[0]] + [s for s in p[1:] if s not in common]) if len(p) > 1 else p[0]
        for p in split
    ]
    return [s if short.count(s) == 1 else str(n) for s, n in zip(short, names, strict=True)]
