"""One design, every channel: `CompiledDesign` renders e-mail, SMS, web page and letters for a customer.

A design version is compiled lazily, per variant and language, the first time a customer needs that
combination, and kept: a campaign of a million messages compiles a handful of templates and then only
substitutes values. Link tracking is a hook (`track`): the composer passes one that mints a tracking
link per target; previews pass none and get the targets themselves. Every target, tracked or not, must
be an absolute http(s), mailto: or tel: address (`context.safe_url`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from epistola.content.brand import Brand
from epistola.content.context import address_lines, safe_url
from epistola.content.design import Design, Variant
from epistola.content.email import CompiledEmail, RenderedEmail, slot_source
from epistola.content.l10n import LOCALES, language
from epistola.content.markdown import typst_string
from epistola.content.print import CompiledLetter, PrintFile, paper_for, typeset, typst_value
from epistola.content.sms import CompiledSms, RenderedSms
from epistola.content.web import CompiledWeb
from epistola.errors import TemplateError

Track = Callable[[str], str]


class LinkMap:
    """The links of one message: each target checked once and mapped once, so the HTML and the text of an
    e-mail carry the same tracking link for the same target."""

    def __init__(self, track: Track | None = None) -> None:
        self._track = track
        self.mapping: dict[str, str] = {}

    def __call__(self, url: object) -> str:
        target = str(url)
        mapped = self.mapping.get(target)
        if mapped is None:
            safe_url(target)
            tracked = self._track is not None and target.startswith(("http://", "https://"))
            mapped = self._track(target) if tracked and self._track else target
            self.mapping[target] = mapped
        return mapped

    def urls(self) -> tuple[str, ...]:
        return tuple(self.mapping)


class CompiledDesign:
    """A design version ready to render in every channel it has."""

    def __init__(self, design: Design, brand: Brand | None = None) -> None:
        self.design = design
        self.brand = brand or Brand()
        self._brands = {lang: self.brand.for_locale(lang) for lang in LOCALES}
        self._email = CompiledEmail(design, self.brand)
        self._web = CompiledWeb(design, self.brand)
        self._letter = CompiledLetter(design, self.brand)
        self._sms: dict[str, CompiledSms] = {}
        self._variants: dict[tuple[str, str | None, frozenset[str]], Variant] = {}

    @property
    def channels(self) -> tuple[str, ...]:
        return self.design.channels

    def _require(self, channel: str) -> None:
        if channel not in self.design.channels:
            raise TemplateError(
                f"design {self.design.label} has no {channel} rendition; it renders {', '.join(self.design.channels)}"
            )

    def variant(self, ctx: Mapping[str, Any], name: str | None = None) -> tuple[Variant, str]:
        """The variant for this customer (or the one called `name`, for previews) and the language."""
        lang = language(ctx["customer"].get("locale"))
        if name is not None:
            for variant in self.design.all_variants():
                if variant.name == name:
                    return variant, lang
            names = ", ".join(v.name for v in self.design.all_variants())
            raise TemplateError(f"design {self.design.label} has no variant {name!r}; it has {names}")
        key = (lang, ctx.get("_ab"), ctx.get("_segments") or frozenset())
        found = self._variants.get(key)
        if found is None:
            found = self.design.choose(locale=lang, ab=key[1], segments=key[2])
            self._variants[key] = found
        return found, lang

    def _prepare(self, ctx: Mapping[str, Any], lang: str, links: LinkMap) -> dict[str, Any]:
        out = dict(ctx)
        out["brand"] = self._brands[lang]
        out["_link"] = links
        out["_url"] = safe_url
        out["_urls"] = links.urls
        out["_typ"] = typst_value
        out["_typs"] = typst_string
        out.setdefault("_id", str(ctx["message"]["id"] or ctx["customer"]["id"]))
        return out

    def email(self, ctx: Mapping[str, Any], track: Track | None = None, *, variant: str | None = None) -> RenderedEmail:
        self._require("email")
        chosen, lang = self.variant(ctx, variant)
        return self._email.render(self._prepare(ctx, lang, LinkMap(track)), chosen, lang)

    def web(self, ctx: Mapping[str, Any], track: Track | None = None, *, variant: str | None = None) -> str:
        self._require("web")
        chosen, lang = self.variant(ctx, variant)
        return self._web.render(self._prepare(ctx, lang, LinkMap(track)), chosen, lang)

    def sms(self, ctx: Mapping[str, Any], track: Track | None = None, *, variant: str | None = None) -> RenderedSms:
        self._require("sms")
        chosen, lang = self.variant(ctx, variant)
        compiled = self._sms.get(chosen.name)
        if compiled is None:
            source = slot_source(self.design, chosen, "sms") or ""
            compiled = CompiledSms(source, name=f"{self.design.label} {chosen.name} sms")
            self._sms[chosen.name] = compiled
        links = LinkMap(track)
        return compiled.render(self._prepare(ctx, lang, links), links)

    def letter(self, ctx: Mapping[str, Any], *, variant: str | None = None) -> str:
        """One letter as a Typst call, to be typeset with others (`typeset`, `letters`)."""
        self._require("print")
        chosen, lang = self.variant(ctx, variant)
        prepared = self._prepare(ctx, lang, LinkMap())
        prepared["_address"] = address_lines(ctx.get("_row") or {})
        return self._letter.render(prepared, chosen, lang)

    def typeset(
        self,
        letters: Sequence[str],
        *,
        paper: str,
        papers: Sequence[str] | None = None,
        pictures_ppi: int | None = None,
    ) -> PrintFile:
        """Letters (`letter`) into one print file; see `content.print.typeset`."""
        return typeset(letters, brand=self.brand, paper=paper, papers=papers, pictures_ppi=pictures_ppi)

    def paper(self, ctx: Mapping[str, Any]) -> str:
        return paper_for(self.design.paper, ctx["customer"].get("country"))

    def letters(self, contexts: Sequence[Mapping[str, Any]]) -> list[PrintFile]:
        """Typeset letters for many customers: one compile and one PDF per paper size, with the index."""
        by_paper: dict[str, list[str]] = defaultdict(list)
        for ctx in contexts:
            by_paper[self.paper(ctx)].append(self.letter(ctx))
        return [typeset(letters, brand=self.brand, paper=paper) for paper, letters in sorted(by_paper.items())]
