"""One HTTP POST to a provider, with the answer translated into the delivery error it means.

Shared by the webhook and the HTTP SMS channels. The line between "temporary" and "uncertain" is
whether the request left: a refused or timed-out connection sent nothing (retry), a request written
without a readable answer may have been acted upon (never resend). Redirects are not followed: a
provider that moved must be reconfigured, not guessed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from epistola.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError, UncertainDeliveryError

# httpx is imported inside the functions that use it: keeps CLI start-up fast.
if TYPE_CHECKING:
    import httpx

_RETRY_STATUSES = frozenset({408, 425, 429})


def classify_status(status: int) -> type[DeliveryError] | None:
    """None for success (2xx); transient for 408/425/429/5xx; permanent for the rest (3xx, other 4xx)."""
    if 200 <= status < 300:
        return None
    if status in _RETRY_STATUSES or status >= 500:
        return TransientDeliveryError
    return PermanentDeliveryError


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    connect_attempts: int = 3,
) -> httpx.Response:
    """POST `content`; a connection that cannot be made is tried again at once (nothing was sent).

    Raises `TransientDeliveryError` when no connection could be made, `UncertainDeliveryError` when the
    request may have arrived but no answer came. Returns any answer, whatever its status.
    """
    import httpx

    not_sent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
    maybe_sent = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
    for attempt in range(1, connect_attempts + 1):
        try:
            return await client.post(url, content=content, headers=headers)
        except not_sent as exc:
            if attempt == connect_attempts:
                raise TransientDeliveryError(f"cannot reach {_origin(url)}: {type(exc).__name__}") from exc
            await asyncio.sleep(0.1 * attempt)
        except maybe_sent as exc:
            raise UncertainDeliveryError(f"no answer from {_origin(url)}: {type(exc).__name__}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def check(response: httpx.Response, what: str) -> None:
    """Raise what a non-2xx answer means, quoting the start of its body."""
    kind = classify_status(response.status_code)
    if kind is not None:
        raise kind(f"{what} answered {response.status_code}: {response.text[:200]}")


def _origin(url: str) -> str:
    """Scheme, host and port only: paths and queries may carry tokens."""
    import httpx

    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")
