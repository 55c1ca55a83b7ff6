"""The topics a customer kept, as a pure rule: which marketing requests of a batch are about one they dropped."""

from __future__ import annotations

import pytest

from epistola.consent.gate import SendRequest, topic_blocks


def req(key: int, customer: int = 1, purpose: str = "marketing") -> SendRequest:
    return SendRequest(key=key, customer_id=customer, channel="email", purpose=purpose, country="PL", address=None)


@pytest.mark.parametrize(
    ("topic", "kept", "message", "blocked"),
    [
        ("offers", {1: ["news"]}, req(1), "topic preference: offers unsubscribed"),
        ("offers", {1: []}, req(1), "topic preference: offers unsubscribed"),  # unticked every topic
        ("offers", {1: ["news", "offers"]}, req(1), None),
        ("offers", {}, req(1), None),  # never chose: every topic
        ("offers", {2: ["news"]}, req(1), None),  # someone else's choice
        (None, {1: []}, req(1), None),  # a campaign without a topic
        ("offers", {1: ["news"]}, req(1, purpose="service"), None),  # service is never topic-filtered
    ],
)
def test_topic_blocks(topic: str | None, kept: dict[int, list[str]], message: SendRequest, blocked: str | None) -> None:
    topic_of = {} if topic is None else {message.key: topic}
    expected = {} if blocked is None else {message.key: blocked}
    assert topic_blocks([message], topic_of, kept) == expected
