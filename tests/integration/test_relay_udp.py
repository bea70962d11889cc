"""Relaying with a UDP client transport, both ways and byte for byte: Send/Data
indications and ChannelData, IPv4 and IPv6 relays, dual stack, several
clients at once; with workers=1 and workers=4 (RFC 8656 10-12)."""

import pytest

import relay_scenarios as rs

FAMILIES = [(4, 4), (4, 6), (6, 6), (6, 4)]
IDS = ["c4-r4", "c4-r6", "c6-r6", "c6-r4"]


@pytest.mark.parametrize("client_family,relay_family", FAMILIES, ids=IDS)
def test_send_and_data_indications(ternd_w, client_family, relay_family):
    rs.send_data_both_ways(ternd_w, "udp", client_family, relay_family)


@pytest.mark.parametrize("client_family,relay_family", FAMILIES, ids=IDS)
def test_channel_data(ternd_w, client_family, relay_family):
    rs.channel_both_ways(ternd_w, "udp", client_family, relay_family)


def test_dual_stack_allocation(ternd_w):
    rs.dual_stack(ternd_w, "udp")


def test_many_clients_at_once(ternd_w):
    rs.many_clients(ternd_w, "udp")


def test_two_clients_one_peer(ternd_w):
    rs.two_clients_one_peer(ternd_w, "udp")
