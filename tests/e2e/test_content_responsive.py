"""The e-mail rendition in a real browser (Debian's Chromium): it adapts to a phone's width without
horizontal scrolling, keeps its 600 px column on a desktop, and fetches nothing from anywhere."""

from __future__ import annotations

from datetime import date
from importlib import resources

import pytest
import yaml

from epistola.content.context import render_context
from epistola.content.design import parse_design
from epistola.content.renditions import CompiledDesign
from epistola.content.samples import SAMPLE_CUSTOMERS, SAMPLE_DOCUMENT
from epistola.testing.browser import browser_page

pytestmark = pytest.mark.e2e


def _email(name: str, person_index: int) -> str:
    text = resources.files("epistola.demo_content").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    design = CompiledDesign(parse_design(yaml.safe_load(text), name=name, version=1))
    document = SAMPLE_DOCUMENT if design.design.layout == "statement" else None
    ctx = render_context(SAMPLE_CUSTOMERS[person_index], today=date(2026, 3, 8), document=document)
    return design.email(ctx).html


@pytest.mark.parametrize(("name", "person"), [("new-collection", 4), ("statement", 6)])
def test_the_email_fits_a_phone_and_a_desktop_and_loads_nothing(name: str, person: int) -> None:
    html = _email(name, person)
    with browser_page() as page:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.set_viewport_size({"width": 360, "height": 800})
        page.set_content(html)
        assert page.evaluate("document.documentElement.scrollWidth") <= 361
        phone = page.evaluate("document.querySelector('.content').getBoundingClientRect().width")
        page.set_viewport_size({"width": 1200, "height": 900})
        desktop = page.evaluate("document.querySelector('.content').getBoundingClientRect().width")
        assert phone <= 360 and 500 < desktop <= 600
        assert requests == []  # no web fonts, no CDN, no images: the brand ships with the message
