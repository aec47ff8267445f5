"""Pools of the reference LMA: lazy, O(1), stable per MN."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv6Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mag_ap.lma.pools import GreKeyAllocator, HnpPool, IndexPool, IPv4HoaPool


def test_index_pool_hands_out_fresh_slots_in_order_skipping_reserved() -> None:
    pool = IndexPool(5, reserved={1})
    assert [pool.allocate(f"mn{i}") for i in range(4)] == [0, 2, 3, 4]
    assert pool.allocate("mn4") is None
    assert pool.available == 0


def test_index_pool_gives_a_released_slot_back_to_its_last_owner() -> None:
    pool = IndexPool(10)
    first = pool.allocate("a")
    assert first is not None
    pool.allocate("b")
    pool.release("a", first)
    pool.allocate("c")  # fresh slots are used before remembered ones
    assert pool.allocate("a") == first


def test_index_pool_allocating_twice_returns_the_held_slot() -> None:
    pool = IndexPool(10)
    assert pool.allocate("a") == pool.allocate("a") == 0
    assert pool.in_use == 1


def test_index_pool_reuses_the_oldest_released_slot_when_fresh_ones_run_out() -> None:
    pool = IndexPool(3)
    for mn in ("a", "b", "c"):
        pool.allocate(mn)
    pool.release("b", 1)
    pool.release("a", 0)
    assert pool.allocate("d") == 1  # b's slot went back first
    assert pool.remembered("b") is None  # b lost its preference
    assert pool.allocate("b") == 0  # ...and gets the next free one
    assert pool.allocate("e") is None


def test_index_pool_claim_takes_a_specific_free_slot_once() -> None:
    pool = IndexPool(4)
    assert pool.claim("a", 2)
    assert pool.claim("a", 2)  # its own: fine
    assert not pool.claim("b", 2)
    assert not pool.claim("b", 4)  # outside the pool
    assert [pool.allocate(m) for m in ("b", "c", "d")] == [0, 1, 3]  # cursor skips 2


def test_index_pool_release_by_non_holder_is_ignored() -> None:
    pool = IndexPool(2)
    pool.allocate("a")
    pool.release("b", 0)
    assert pool.owner(0) == "a"


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.booleans()), max_size=60))
def test_index_pool_never_gives_one_slot_to_two_mns(ops: list[tuple[str, bool]]) -> None:
    pool = IndexPool(5, reserved={3})
    held: dict[str, int] = {}
    for mn, allocate in ops:
        if allocate:
            slot = pool.allocate(mn)
            if slot is None:
                assert len(held) == 4 or mn in held
                continue
            assert slot != 3
            assert held.get(mn, slot) == slot
            assert slot not in {s for m, s in held.items() if m != mn}
            held[mn] = slot
        elif mn in held:
            pool.release(mn, held.pop(mn))
        assert pool.in_use == len(held)


def test_hnp_pool_maps_slots_to_prefixes_of_the_configured_length() -> None:
    pool = HnpPool(IPv6Network("2001:db8:100::/48"), 64)
    assert pool.allocate("a") == IPv6Network("2001:db8:100::/64")
    assert pool.allocate("b") == IPv6Network("2001:db8:100:1::/64")
    assert pool.index_of(IPv6Network("2001:db8:100:ff::/64")) == 255
    assert pool.index_of(IPv6Network("2001:db8:200::/64")) is None
    assert pool.index_of(IPv6Network("2001:db8:100::/56")) is None
    assert pool.pool.size == 65536


def test_hnp_pool_refuses_a_prefix_length_shorter_than_the_pool() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        HnpPool(IPv6Network("2001:db8::/64"), 48)


def test_ipv4_pool_never_hands_out_network_broadcast_or_router() -> None:
    pool = IPv4HoaPool(IPv4Interface("192.0.2.2/29"))
    got = [pool.allocate(f"mn{i}") for i in range(6)]
    assert [str(a) for a in got if a is not None] == [
        "192.0.2.1/29",
        "192.0.2.3/29",
        "192.0.2.4/29",
        "192.0.2.5/29",
        "192.0.2.6/29",
    ]
    assert got[-1] is None
    assert pool.default_router == IPv4Address("192.0.2.2")
    assert not pool.claim("x", IPv4Address("192.0.2.2"))
    assert not pool.claim("x", IPv4Address("192.0.3.1"))


def test_gre_keys_are_never_zero_and_stable_per_mn() -> None:
    keys = GreKeyAllocator()
    first = keys.allocate("a")
    assert first is not None and first == 1
    keys.release("a", first)
    keys.allocate("b")
    assert keys.allocate("a") == first
