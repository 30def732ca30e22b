"""Where a webhook may be sent: never into our own network, unless an operator allows it.

The URL comes from a customer's profile, so without this check anyone able to set a trait could
make the worker call internal services (cloud metadata at 169.254.169.254, an admin port on
localhost, a database in 10.0.0.0/8). Every address the host name resolves to is checked, and the
request then goes to a checked address (the host name kept for the Host header and TLS), so a
DNS answer that changes between the check and the connect cannot slip past it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from journeys.delivery.channels.errors import PermanentDeliveryError, RetryableDeliveryError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses to try, in order. The default asks the system resolver.
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """A checked webhook target: request each of ``urls`` in turn, with these Host and SNI."""

    urls: list[httpx.URL]
    host_header: str
    sni_hostname: str


def forbidden(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address, or None. IPv4 addresses carried inside IPv6 ones
    (IPv4-mapped, 6to4, Teredo) are judged as the IPv4 address they reach."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            inner = forbidden(embedded)
            return f"{inner} (inside {ip})" if inner else None
    for label, hit in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("not globally routable", not ip.is_global),
    ):
        if hit:
            return f"{ip} is {label}"
    return None


def _refuse(url: str, why: str) -> PermanentDeliveryError:
    return PermanentDeliveryError(f"webhook target {url!r} refused: {why}", kind="refused_target")


async def resolve_target(url: str, *, allow_private: bool, resolver: Resolver) -> Target:
    """Check ``url`` and pin it to its addresses; raise ``PermanentDeliveryError`` with kind
    ``refused_target`` for a non-HTTP URL or any non-public address."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as err:
        raise _refuse(url, str(err)) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise _refuse(url, "only http and https URLs with a host are accepted")
    host = parsed.host
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in await resolver(host, port)]
        except OSError as err:  # DNS failures are often passing ones
            raise RetryableDeliveryError(f"webhook: cannot resolve {host!r}: {err}") from err
    if not addresses:
        raise RetryableDeliveryError(f"webhook: {host!r} resolved to no address")
    if not allow_private:
        for address in addresses:
            why = forbidden(address)
            if why:
                raise _refuse(url, why)
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if parsed.port is None else f"{shown}:{parsed.port}"
    return Target(
        urls=[parsed.copy_with(host=str(address)) for address in addresses],
        host_header=host_header,
        sni_hostname=host,
    )
