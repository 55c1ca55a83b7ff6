"""The print channel's renderer for campaign letters, in a module of its own because it is pickled into
the processes that typeset print batches: they import this, the content rendition and nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from epistola.content.brand import Brand
from epistola.content.print import typeset
from epistola.delivery.printing import Letter, RenderedBatch, TypstLetterRenderer


@dataclass(frozen=True)
class DesignLetterRenderer:
    """The print channel's renderer for campaign letters: the design's own print rendition (`content.print`),
    falling back to the plain built-in letter for letters that carry no Typst source."""

    brand: Brand | None = None

    def render(self, letters: Sequence[Letter]) -> RenderedBatch:
        if not all(letter.source for letter in letters):
            return TypstLetterRenderer().render(letters)
        printed = typeset([letter.source for letter in letters], brand=self.brand or Brand(), paper=letters[0].paper)
        firsts = tuple(item.first_page for item in printed.index)
        return RenderedBatch(pdf=printed.pdf, first_pages=firsts, pages=printed.pages)
