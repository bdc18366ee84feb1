"""Token scopes and address allow-lists, and who the client is behind proxies (pure)."""

from __future__ import annotations

import pytest

from crmlite.domain.errors import InvalidInput
from crmlite.domain.token_scopes import (
    ROUTE_LOOKUP,
    address_allowed,
    check_scope,
    client_address,
    parse_networks,
)


def test_scopes_are_known_or_refused() -> None:
    assert check_scope(None) is None
    assert check_scope(ROUTE_LOOKUP) == "route-lookup"
    with pytest.raises(InvalidInput) as refused:
        check_scope("admin")
    assert "scope" in refused.value.fields


def test_networks_are_canonical_and_deduplicated() -> None:
    assert parse_networks([" 10.0.0.5", "10.0.0.5/32", "10.1.2.3/24", "::1"]) == (
        "10.0.0.5/32",
        "10.1.2.0/24",
        "::1/128",
    )
    for bad in ("10.0.0.300", "pbx.internal", "", "10.0.0.0/33"):
        with pytest.raises(InvalidInput):
            parse_networks([bad])
    with pytest.raises(InvalidInput):
        parse_networks([f"10.0.0.{n}" for n in range(21)])


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.0.0.5", True),
        ("192.168.7.200", True),
        ("::ffff:10.0.0.5", True),  # a dual-stack socket's view of an IPv4 peer
        ("10.0.0.6", False),
        ("2001:db8::1", False),
        ("garbage", False),
        (None, False),
        ("", False),
    ],
)
def test_address_allowed(address: str | None, allowed: bool) -> None:
    assert address_allowed(address, ("10.0.0.5/32", "192.168.7.0/24")) is allowed


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        # Nobody trusted: the header is ignored, whatever it says.
        ("203.0.113.9", ["10.0.0.5"], (), "203.0.113.9"),
        # The peer is not a trusted proxy: its header is ignored.
        ("203.0.113.9", ["10.0.0.5"], ("127.0.0.1/32",), "203.0.113.9"),
        # One trusted proxy: the hop it names is the client.
        ("127.0.0.1", ["10.0.0.5"], ("127.0.0.1/32",), "10.0.0.5"),
        # The client's own prefix is forged; only the rightmost untrusted hop counts.
        ("127.0.0.1", ["10.0.0.5, 203.0.113.9"], ("127.0.0.1/32",), "203.0.113.9"),
        # Two trusted proxies in a row, and the header split over two lines.
        (
            "127.0.0.1",
            ["198.51.100.7", "10.9.0.1"],
            ("127.0.0.1/32", "10.9.0.0/16"),
            "198.51.100.7",
        ),
        # Every hop is a trusted proxy: the leftmost one.
        ("127.0.0.1", ["10.9.0.2"], ("127.0.0.1/32", "10.9.0.0/16"), "10.9.0.2"),
        # A garbled hop: nobody can be named.
        ("127.0.0.1", ["10.0.0.5, unknown"], ("127.0.0.1/32",), None),
        # A trusted proxy that sent no header: the proxy itself.
        ("127.0.0.1", [], ("127.0.0.1/32",), "127.0.0.1"),
    ],
)
def test_client_address_believes_only_trusted_proxies(
    peer: str, forwarded: list[str], trusted: tuple[str, ...], client: str | None
) -> None:
    assert client_address(peer, forwarded, trusted) == client
