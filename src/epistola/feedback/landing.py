"""The personal landing page: the web rendition of the step's design, with the survey block inside it.

The content package renders a design as a web page (`CompiledDesign.web`), in the customer's language and
locked brand layout. The survey is a self-contained block (`survey_page.render_survey_block`) placed at the
end of the page's main content. A step whose design has no web rendition gets the plain page of
`survey_page.render_page` instead, so every PURL shows something.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from markupsafe import Markup
from sqlalchemy import Connection, select

from epistola.content.context import render_context
from epistola.content.renditions import CompiledDesign
from epistola.content.templates import get_version_by_id
from epistola.errors import EpistolaError
from epistola.feedback.purls import Purl
from epistola.store.schema import campaign_steps, campaigns, customers

log = logging.getLogger("epistola.feedback.landing")

_MAIN_END = "</main>"
# (database, template version) -> compiled design: a stored version never changes, compiling it does cost
_cache: dict[tuple[str, int], CompiledDesign] = {}


def _design(conn: Connection, version_id: int) -> CompiledDesign:
    key = (conn.engine.url.render_as_string(hide_password=True), version_id)
    if key not in _cache:
        if len(_cache) > 256:
            _cache.clear()
        _cache[key] = CompiledDesign(get_version_by_id(conn, version_id).design())
    return _cache[key]


def web_rendition(
    conn: Connection, purl: Purl, *, today: date, page_url: str, block: Markup | None, lang: str
) -> str | None:
    """The design's web page for this customer with `block` inside, or None where there is no web page."""
    row = conn.execute(
        select(campaign_steps.c.template_version_id, campaigns.c.name, campaigns.c.id)
        .join(campaigns, campaigns.c.id == campaign_steps.c.campaign_id)
        .where(campaign_steps.c.id == purl.step_id)
    ).first()
    person = conn.execute(select(customers).where(customers.c.id == purl.customer_id)).mappings().first()
    if row is None or person is None:
        return None
    try:
        design = _design(conn, int(row.template_version_id))
        if "web" not in design.channels:
            return None
        customer: dict[str, Any] = {**dict(person), "locale": lang}
        context = render_context(
            customer,
            today=today,
            campaign={"name": row.name, "id": row.id},
            message_id=purl.message_id,
            links={"purl": page_url},
        )
        page = design.web(context)
    except EpistolaError as exc:  # a design that cannot render as a page still leaves the survey usable
        log.warning("web rendition of step %s failed: %s", purl.step_id, type(exc).__name__)
        return None
    if block is None:
        return page
    at = page.rfind(_MAIN_END)
    if at < 0:
        return None
    return page[:at] + str(block) + page[at:]
