"""Feedback: what comes back from customers (tracked clicks and opens; later PURLs, surveys, STOP)."""

from epistola.feedback.tracking import (
    click_url,
    is_machine_agent,
    mint_click_links,
    mint_for_messages,
    mint_open_token,
    mint_open_tokens,
    pixel_url,
    plan_click_tokens,
    record_open,
    resolve_click,
    store_click_tokens,
)

__all__ = [
    "click_url",
    "is_machine_agent",
    "mint_click_links",
    "mint_for_messages",
    "mint_open_token",
    "mint_open_tokens",
    "pixel_url",
    "plan_click_tokens",
    "record_open",
    "resolve_click",
    "store_click_tokens",
]
