"""What an API token may do: its scope, and the addresses it may be used from.

A token without a scope acts with its user's full rights. A scoped token is a credential for one
job: a ``route-lookup`` token only asks which extension a caller should ring (the PBX's dialplan
sends it in clear, and Asterisk shows it in its logs and AMI events, so it must be worth nothing
else). Either kind may carry an allow-list of addresses or networks (CIDR) it is accepted from.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from crmlite.domain.errors import InvalidInput

ROUTE_LOOKUP = "route-lookup"
TOKEN_SCOPES = frozenset({ROUTE_LOOKUP})
MAX_ALLOWED_NETWORKS = 20

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_scope(scope: str | None) -> str | None:
    """The scope itself when it is one we know (None = the user's full rights)."""
    if scope is None or scope in TOKEN_SCOPES:
        return scope
    known = ", ".join(sorted(TOKEN_SCOPES))
    raise InvalidInput(f"unknown token scope {scope!r}", fields={"scope": f"one of: {known}"})


def parse_networks(values: Iterable[str], field: str = "allowed_ips") -> tuple[str, ...]:
    """Addresses and CIDR networks in canonical form (``10.0.0.5`` -> ``10.0.0.5/32``)."""
    networks: list[str] = []
    for raw in values:
        try:
            network = ipaddress.ip_network(raw.strip(), strict=False)
        except ValueError as err:
            raise InvalidInput(
                f"{raw!r} is not an IP address or network",
                fields={field: "addresses (10.0.0.5, ::1) or networks (10.0.0.0/24)"},
            ) from err
        if str(network) not in networks:
            networks.append(str(network))
    if len(networks) > MAX_ALLOWED_NETWORKS:
        raise InvalidInput(
            f"at most {MAX_ALLOWED_NETWORKS} networks", fields={field: "too many entries"}
        )
    return tuple(networks)


def _address(value: str | None) -> Address | None:
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:10.0.0.5 is 10.0.0.5 (dual-stack sockets)
    return address


def address_allowed(address: str | None, networks: Sequence[str]) -> bool:
    """True when ``address`` lies in one of ``networks``; an unknown address never does."""
    found = _address(address)
    if found is None:
        return False
    return any(found in ipaddress.ip_network(network) for network in networks)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[str]
) -> str | None:
    """The address a request came from, believing X-Forwarded-For only from trusted proxies.

    ``forwarded_for`` holds the header's values in order. Walking it from the right, each hop
    that is a trusted proxy vouches for the one before it; the first untrusted hop is the client.
    With no trusted proxies the header is ignored: anyone can write it.
    """
    if not trusted_proxies or not address_allowed(peer, trusted_proxies):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    current = peer
    for hop in reversed(hops):
        if _address(hop) is None:
            return None  # a garbled hop: the client cannot be known, so no allow-list matches
        current = hop
        if not address_allowed(hop, trusted_proxies):
            return hop
    return current
