"""Address context: internal ranges, address spellings, learning IP -> host from DNS / DHCP / Kerberos /
logon / host network / agent evidence, precedence in resolve, incremental updates, and real data."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aptwatch.context.addresses import (
    AddressBook,
    AddressClaim,
    local_zone,
    ptr_address,
    update_host_addresses,
)
from aptwatch.context.networks import InternalNetworks, normalise_ip, parse_networks, save_networks
from aptwatch.detect.base import DetectSettings
from aptwatch.detect.runner import run_detectors
from aptwatch.errors import InputError
from aptwatch.ingest import ingest
from aptwatch.store import Store
from tests.tablerows import needs_source, put_rows, table_rows

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# ----------------------------------------------------------------------------------------------
# Internal ranges and address spellings
# ----------------------------------------------------------------------------------------------
def test_normalise_ip_spellings() -> None:
    assert normalise_ip("::ffff:192.168.1.4") == "192.168.1.4"  # Sysmon QueryResults
    assert normalise_ip("fe80:0:0:0:5d91:ea18:e2b5:9755") == "fe80::5d91:ea18:e2b5:9755"  # Windows vs Zeek
    assert normalise_ip("FE80::1%eth0") == "fe80::1"
    assert normalise_ip("[::1]") == "::1"
    assert normalise_ip(" 10.0.0.5 ") == "10.0.0.5"
    for bad in ("-", "", None, "ws01", "10.0.0.256", "1.2.3"):
        assert normalise_ip(bad) is None


def test_internal_networks_defaults_and_config() -> None:
    nets = InternalNetworks()
    for ip in ("10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fd12::1", "fe80::1", "169.254.3.4",
               "::ffff:10.0.0.1"):
        assert nets.contains(ip), ip
    for ip in ("8.8.8.8", "172.32.0.1", "2001:db8::1", "nonsense", None):
        assert not nets.contains(ip), ip
    custom = InternalNetworks(parse_networks(["203.0.113.0/24", "10.0.0.5"]))
    assert custom.cidrs == ("203.0.113.0/24", "10.0.0.5/32")
    assert custom.contains("203.0.113.9") and not custom.contains("10.0.0.6")
    with pytest.raises(InputError):
        parse_networks(["10.0.0.0/33"])
    with pytest.raises(InputError):
        parse_networks([])


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**128 - 1))
def test_every_spelling_of_an_address_normalises_alike(v4: int, v6: int) -> None:
    a4 = ipaddress.IPv4Address(v4)
    for spelling in (str(a4), f"::ffff:{a4}", f"[{a4}]", f" {a4} ", f"::FFFF:{a4}"):
        assert normalise_ip(spelling) == str(a4), spelling
    a6 = ipaddress.IPv6Address(v6)
    expected = str(a6.ipv4_mapped) if a6.ipv4_mapped else str(a6)
    for spelling in (a6.exploded, a6.compressed, a6.exploded.upper(), f"[{a6.compressed}]", f"{a6.compressed}%eth0"):
        assert normalise_ip(spelling) == expected, spelling
    assert ptr_address(a4.reverse_pointer) == str(a4)
    assert ptr_address(a6.reverse_pointer) == expected


def test_ptr_address() -> None:
    assert ptr_address("5.1.168.192.in-addr.arpa") == "192.168.1.5"
    assert ptr_address("5.1.168.192.in-addr.arpa.") == "192.168.1.5"
    v6 = ipaddress.IPv6Address("fd00::1:2")
    nibbles = ".".join(reversed(v6.exploded.replace(":", ""))) + ".ip6.arpa"
    assert ptr_address(nibbles) == "fd00::1:2"
    assert ptr_address("1.168.192.in-addr.arpa") is None
    assert ptr_address("example.com") is None


# ----------------------------------------------------------------------------------------------
# Learning pairs from each evidence kind (rows in the shape the Windows / Zeek parsers write)
# ----------------------------------------------------------------------------------------------
def _claims(store: Store) -> set[tuple[str, str, str]]:
    return {(r["ip"], r["host"], r["kind"]) for r in table_rows(store, "SELECT * FROM host_addresses")}


def test_dns_ptr_a_cname_and_sysmon_answers(store_dir: Path) -> None:
    store = Store.open(store_dir, create=True)
    put_rows(store, "dns", [
        # Zeek: PTR answer, A answers (comma-separated vector), CNAME chain, external answer, NXDOMAIN
        {"time": at(0), "record": 1, "raw": "-", "query": "20.1.10.10.in-addr.arpa", "query_type": "PTR",
         "rcode": "NOERROR", "answers": "web01.corp.example.com"},
        {"time": at(1), "record": 2, "raw": "-", "query": "dc01.corp.example.com", "query_type": "A",
         "rcode": "NOERROR", "answers": "10.10.0.4"},
        {"time": at(2), "record": 3, "raw": "-", "query": "intranet.corp.example.com", "query_type": "A",
         "rcode": "NOERROR", "answers": "app02.corp.example.com,10.10.3.2"},
        {"time": at(3), "record": 4, "raw": "-", "query": "www.example.org", "query_type": "A",
         "rcode": "NOERROR", "answers": "93.184.215.14"},
        {"time": at(4), "record": 5, "raw": "-", "query": "ghost.corp.example.com", "query_type": "A",
         "rcode": "NXDOMAIN", "answers": "10.10.9.9"},
        {"time": at(5), "record": 6, "raw": "-", "query": "_ldap._tcp.dc._msdcs.corp.example.com",
         "query_type": "SRV", "rcode": "NOERROR", "answers": "10.10.0.4"},
        # Sysmon 22: QueryResults as written by Windows, no rcode
        {"time": at(6), "record": 7, "raw": "-", "query": "DC01.pandalab.com", "answers": "::ffff:192.168.1.4;",
         "status": "0"},
        {"time": at(7), "record": 8, "raw": "-", "query": "files.pandalab.com",
         "answers": "type:  5 fs01.pandalab.com;::ffff:192.168.1.9;"},
    ])
    assert _claims(store) == {
        ("10.10.1.20", "web01", "dns_ptr"),
        ("10.10.0.4", "dc01", "dns_a"),
        ("10.10.3.2", "app02", "dns_a"),  # the canonical name, not the alias
        ("192.168.1.4", "dc01", "dns_a"),
        ("192.168.1.9", "fs01", "dns_a"),
    }
    # A/AAAA answers count only for local names: the AD locator query (record 6) made corp.example.com ours,
    # pandalab.com is just a domain until a Kerberos realm names it
    book = AddressBook.load(store)
    assert book.resolve("10.10.1.20") == "web01"  # PTR answers for internal addresses need no zone
    assert book.resolve("10.10.0.4") == "dc01" and book.resolve("192.168.1.4") is None
    # a Kerberos ticket request names the realms: CORP.EXAMPLE.COM (4768) and PANDALAB.COM (Zeek kerberos)
    put_rows(store, "auth", [
        {"time": at(9), "record": 1, "raw": "-", "action": "tgt_request", "target_user": "alice",
         "target_domain": "CORP.EXAMPLE.COM"},
        {"time": at(9), "record": 2, "raw": "-", "action": "tgt_request", "target_user": "stevie.marie",
         "target_domain": "PANDALAB.COM", "protocol": "kerberos"},
    ])
    book = AddressBook.load(store)
    assert (book.resolve("10.10.0.4"), book.resolve("10.10.3.2"), book.resolve("192.168.1.4"),
            book.resolve("192.168.1.9")) == ("dc01", "app02", "dc01", "fs01")


def test_local_zones() -> None:
    zones = ("corp.example.com",)
    for name in ("ws01", "WS01.", "nas.local", "printer.home.arpa", "dc01.corp.example.com", "corp.example.com",
                 "jin.lan"):
        assert local_zone(name, zones), name
    for name in ("dns.msftncsi.com", "10-0-0-5.nip.io", "example.com", "notcorp.example.com.evil.net", "", None,
                 "xcorp.example.com"):
        assert not local_zone(name, zones), name


def test_ad_locator_query_teaches_the_domain(store_dir: Path) -> None:
    store = Store.open(store_dir, create=True)
    put_rows(store, "dns", [
        {"time": at(0), "record": 1, "raw": "-", "query": "fs01.corp.example.com", "query_type": "A",
         "rcode": "NOERROR", "answers": "10.10.4.1"},
    ])
    assert AddressBook.load(store).resolve("10.10.4.1") is None
    put_rows(store, "dns", [
        {"time": at(1), "record": 1, "raw": "-", "query": "_ldap._tcp.Default-First-Site-Name._sites.dc._msdcs."
         "corp.example.com", "query_type": "SRV", "rcode": "NOERROR", "answers": "dc01.corp.example.com"},
    ])
    assert AddressBook.load(store).resolve("10.10.4.1") == "fs01"


def test_public_name_with_a_private_answer_does_not_map(store_dir: Path) -> None:
    """Windows' connectivity check resolves dns.msftncsi.com to the unique-local fd3e:4f5a:5b81::1 on every
    network; that answer names no host of ours."""
    store = Store.open(store_dir, create=True)
    put_rows(store, "dns", [{"time": at(0), "record": 1, "raw": "-", "query": "dns.msftncsi.com",
                             "query_type": "AAAA", "rcode": "NOERROR", "answers": "fd3e:4f5a:5b81::1"}])
    assert ("fd3e:4f5a:5b81::1", "dns", "dns_a") in _claims(store)  # kept in the table ...
    assert AddressBook.load(store).resolve("fd3e:4f5a:5b81::1") is None  # ... but resolves to nothing


def test_auth_network_dhcp_agent_evidence(store_dir: Path) -> None:
    store = Store.open(store_dir, create=True)
    put_rows(store, "auth", [
        # Security 4624 network logon: client address and workstation name
        {"time": at(0), "record": 1, "raw": "-", "action": "logon", "outcome": "success", "src_ip": "10.10.2.7",
         "workstation": "WS07", "target_user": "alice", "host": "dc01"},
        # local logon: loopback and '-' teach nothing
        {"time": at(1), "record": 2, "raw": "-", "action": "logon", "src_ip": "::1", "workstation": "MKT01",
         "target_user": "pedro", "host": "mkt01"},
        {"time": at(1), "record": 3, "raw": "-", "action": "logon", "src_ip": "-", "workstation": "-",
         "target_user": "SYSTEM", "host": "mkt01"},
        # Security 4768 / Zeek kerberos: the machine account asks for a ticket from its own address
        {"time": at(2), "record": 4, "raw": "-", "action": "tgt_request", "outcome": "success",
         "src_ip": "::ffff:10.10.2.8", "target_user": "WS08$", "host": "dc01"},
        {"time": at(3), "record": 5, "raw": "-", "action": "tgt_request", "protocol": "kerberos",
         "src_ip": "192.168.1.41", "dst_ip": "192.168.1.4", "target_user": "MKT01$/PANDALAB.COM"},
        {"time": at(3), "record": 6, "raw": "-", "action": "tgt_request", "protocol": "kerberos",
         "src_ip": "192.168.1.41", "target_user": "stevie.marie/PANDALAB.COM"},
        # Zeek ntlm: the client's hostname, and the server's own NetBIOS name from its challenge
        {"time": at(4), "record": 7, "raw": "-", "action": "credential_validation", "protocol": "ntlm",
         "src_ip": "10.10.2.44", "dst_ip": "10.10.0.9", "workstation": "WS44", "target_server": "FILES01",
         "target_user": "bob"},
    ])
    put_rows(store, "network", [
        # Sysmon 3 on MKT01: outbound (initiated) -> source is ours; inbound -> destination is ours
        {"time": at(0), "record": 1, "raw": "-", "host": "mkt01", "initiated": True, "src_ip": "192.168.1.41",
         "dst_ip": "192.168.1.4", "provider": "Microsoft-Windows-Sysmon", "event_code": 3},
        {"time": at(1), "record": 2, "raw": "-", "host": "mkt01", "initiated": False, "src_ip": "224.0.0.251",
         "dst_ip": "192.168.1.41", "provider": "Microsoft-Windows-Sysmon", "event_code": 3},
        {"time": at(1), "record": 3, "raw": "-", "host": "mkt01", "initiated": True,
         "src_ip": "fe80:0:0:0:5d91:ea18:e2b5:9755", "dst_ip": "ff02:0:0:0:0:0:1:3"},
        # Zeek conn: no `initiated`, no host: teaches nothing
        {"time": at(2), "record": 4, "raw": "-", "src_ip": "10.10.2.99", "dst_ip": "10.10.0.4"},
    ], name="sysmon")
    put_rows(store, "dhcp", [
        {"time": at(0), "record": 1, "raw": "-", "assigned_ip": "10.10.5.50", "host_name": "LAPTOP-17",
         "lease_time": 3600.0, "mac": "00:11:22:33:44:55"},
        {"time": at(120), "record": 2, "raw": "-", "assigned_ip": "10.10.5.50", "client_fqdn": "laptop-22.corp",
         "lease_time": 3600.0},
    ])
    put_rows(store, "ids_alert", [
        {"time": at(0), "record": 1, "raw": "-", "sensor": "wazuh", "host": "web01", "host_ip": "10.10.1.20"},
        {"time": at(1), "record": 2, "raw": "-", "sensor": "wazuh", "host": "wazuh-manager", "host_ip": "8.8.8.8"},
    ])
    assert _claims(store) == {
        ("10.10.2.7", "ws07", "logon"),
        ("10.10.2.44", "ws44", "logon"),
        ("10.10.0.9", "files01", "logon"),
        ("10.10.2.8", "ws08", "machine_account"),
        ("192.168.1.41", "mkt01", "machine_account"),
        ("192.168.1.41", "mkt01", "host_network"),
        ("fe80::5d91:ea18:e2b5:9755", "mkt01", "host_network"),
        ("10.10.5.50", "laptop-17", "dhcp"),
        ("10.10.5.50", "laptop-22", "dhcp"),
        ("10.10.1.20", "web01", "agent"),
    }
    lease = next(r for r in table_rows(store, "SELECT * FROM host_addresses WHERE host = 'laptop-17'"))
    assert lease["valid_until"] == at(60)
    book = AddressBook.load(store)
    assert book.resolve("10.10.5.50", at(30)) == "laptop-17"
    assert book.resolve("10.10.5.50", at(150)) == "laptop-22"
    assert book.resolve("::ffff:192.168.1.41", at(2)) == "mkt01"
    assert book.resolve("fe80::5d91:ea18:e2b5:9755") == "mkt01"
    assert book.resolve("8.8.8.8") is None and book.resolve("10.99.99.99") is None and book.resolve(None) is None


# ----------------------------------------------------------------------------------------------
# Precedence
# ----------------------------------------------------------------------------------------------
def claim(ip: str, host: str, kind: str, first: float, last: float, evidence: int = 1,
          until: float | None = None) -> AddressClaim:
    return AddressClaim(ip, host, kind, host, at(first), at(last), at(until) if until is not None else None,
                        evidence)


def test_precedence_dhcp_window_then_current_rank_then_nearest() -> None:
    day = 24 * 60
    book = AddressBook([
        claim("10.0.0.5", "ws01", "logon", 0, 10, evidence=50),
        claim("10.0.0.5", "ws07", "dns_a", 30 * day, 31 * day, evidence=500),
        claim("10.0.0.5", "kiosk", "dhcp", 5, 5, until=65),
    ])
    assert book.resolve("10.0.0.5", at(30)) == "kiosk"  # inside the lease window: DHCP wins over logon
    assert book.resolve("10.0.0.5", at(100)) == "ws01"  # lease over; the logon claim is current, beats DNS rank
    assert book.resolve("10.0.0.5", at(30 * day + 60)) == "ws07"  # a month later only DNS is current
    assert book.resolve("10.0.0.5", at(-10 * day)) == "ws01"  # nothing current: nearest claim in time
    assert book.resolve("10.0.0.5", at(10 * day)) == "kiosk"  # (the lease ended after the logon claim)
    assert book.resolve("10.0.0.5") == "kiosk"  # no time: rank first
    assert book.explain("10.0.0.5", at(100)) == claim("10.0.0.5", "ws01", "logon", 0, 10, evidence=50)
    # same rank, both current: more evidence wins
    book2 = AddressBook([claim("10.0.0.6", "a", "logon", 0, 60, 3), claim("10.0.0.6", "b", "agent", 0, 60, 9)])
    assert book2.resolve("10.0.0.6", at(30)) == "b"


# ----------------------------------------------------------------------------------------------
# Incremental, exactly once, catch-up, reconfiguration
# ----------------------------------------------------------------------------------------------
def test_incremental_updates_count_each_event_once(store_dir: Path) -> None:
    store = Store.open(store_dir, create=True)
    row = {"action": "logon", "src_ip": "10.10.2.7", "workstation": "WS07", "raw": "-"}
    put_rows(store, "auth", [{**row, "time": at(0), "record": 1}, {**row, "time": at(5), "record": 2}], name="a")
    put_rows(store, "auth", [{**row, "time": at(60), "record": 1}], name="b")
    update_host_addresses(store)  # nothing new: no change
    (r,) = table_rows(store, "SELECT * FROM host_addresses")
    assert (r["evidence"], r["first_seen"], r["last_seen"]) == (3, at(0), at(60))


def test_detect_catches_up_an_ingest_whose_update_never_ran(store_dir: Path) -> None:
    store = Store.open(store_dir, create=True)
    put_rows(store, "auth", [{"time": at(0), "record": 1, "raw": "-", "src_ip": "10.10.2.7", "workstation": "WS07"}],
             update_context=False)  # as if killed between commit and update
    assert _claims(store) == set()
    run_detectors(store, DetectSettings())
    assert _claims(store) == {("10.10.2.7", "ws07", "logon")}


def test_changing_internal_networks_rebuilds(store_dir: Path) -> None:
    store = Store.open(store_dir, create=True)
    put_rows(store, "auth", [{"time": at(0), "record": 1, "raw": "-", "src_ip": "203.0.113.7", "workstation": "VPN7"},
                             {"time": at(0), "record": 2, "raw": "-", "src_ip": "10.1.1.1", "workstation": "WS1"}])
    assert _claims(store) == {("10.1.1.1", "ws1", "logon")}
    with store.writer("test"):
        save_networks(store, InternalNetworks(parse_networks(["203.0.113.0/24"])))
        result = update_host_addresses(store)
    assert result.rebuilt
    assert _claims(store) == {("203.0.113.7", "vpn7", "logon")}
    (r,) = table_rows(store, "SELECT evidence FROM host_addresses")
    assert r["evidence"] == 1  # rebuilt from scratch, not added to


def test_cli_internal_net_option(store_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from aptwatch.cli.main import app

    csv = tmp_path / "alerts.csv"
    csv.write_text("time,name,ip,host,short\n1709287200,Wazuh: x,203.0.113.7,edge,W-X\n"
                   "1709287201,Wazuh: y,10.1.1.1,core,W-Y\n")
    runner = CliRunner()
    res = runner.invoke(app, ["ingest", "--store", str(store_dir), "--internal-net", "203.0.113.0/24", str(csv)])
    assert res.exit_code == 0, res.output
    store = Store.open(store_dir)
    assert _claims(store) == {("203.0.113.7", "edge", "agent")}
    res = runner.invoke(app, ["status", "--store", str(store_dir)])
    assert "internal networks: 203.0.113.0/24" in res.output
    res = runner.invoke(app, ["ingest", "--store", str(store_dir), "--internal-net", "nonsense", str(csv)])
    assert res.exit_code == 3 and "not an IP network" in res.output


def test_parsers_get_the_configured_internal_networks(store_dir: Path, tmp_path: Path) -> None:
    """Network parsers key a record by its internal endpoint: with 203.0.113.0/24 configured as internal, a
    Suricata alert from 198.51.100.9 to 203.0.113.7 is keyed by 203.0.113.7 (by default neither is internal and
    the originator would be the key)."""
    needs_source("suricata_eve")
    eve = tmp_path / "eve.json"
    eve.write_bytes(b'{"timestamp":"2024-03-01T10:00:00.000000+0000","flow_id":1,"event_type":"alert",'
                    b'"src_ip":"198.51.100.9","src_port":4444,"dest_ip":"203.0.113.7","dest_port":80,"proto":"TCP",'
                    b'"alert":{"action":"allowed","gid":1,"signature_id":1,"rev":1,"signature":"LOCAL test",'
                    b'"category":"Misc activity","severity":3}}\n')
    store = Store.open(store_dir, create=True)
    with store.writer("test"):
        save_networks(store, InternalNetworks(parse_networks(["203.0.113.0/24"])))
    ingest(store, [eve])
    (row,) = table_rows(store, "SELECT host FROM ids_alert")
    assert row["host"] == "203.0.113.7"


# ----------------------------------------------------------------------------------------------
# Real data
# ----------------------------------------------------------------------------------------------
@pytest.mark.shared
def test_ait_ads_agent_addresses_match_the_testbed_inventory(shared: type, store_dir: Path) -> None:
    """The ip/host pairs AIT-ADS alerts carry, learned as `agent` claims, agree with the testbed's own
    inventory (server_configs/<scenario>.yaml: host -> addresses)."""
    scenario = "russellmitchell"
    csv = shared("ait-ads", "alerts_csv", f"{scenario}_alerts.txt.gz")
    inventory = yaml.safe_load(shared("ait-ads", "server_configs", f"{scenario}.yaml").read_text())
    owners: dict[str, set[str]] = {}
    for key, host in inventory.items():
        for ip in host.get("ipv4_addresses") or []:
            owners.setdefault(ip, set()).update({key.lower(), str(host.get("hostname", "")).lower()})
    store = Store.open(store_dir, create=True)
    ingest(store, [csv])
    claims = table_rows(store, "SELECT ip, host, evidence FROM host_addresses WHERE kind = 'agent'")
    assert len(claims) >= 10
    in_inventory = [c for c in claims if c["ip"] in owners]
    # every pair whose address the inventory lists names the same machine
    assert in_inventory and all(c["host"] in owners[c["ip"]] for c in in_inventory), in_inventory
    book = AddressBook.load(store)
    assert book.resolve("172.19.130.4", datetime(2022, 1, 22, tzinfo=UTC)) == "mail"
    assert book.resolve("10.143.2.4", datetime(2022, 1, 22, tzinfo=UTC)) == "intranet_server"


@pytest.mark.shared
def test_evtx_attack_samples_logon_machine_account_and_sysmon(shared: type, store_dir: Path) -> None:
    """Real Windows logs (EVTX-ATTACK-SAMPLES): a DC's 4624 network logon of the machine account EXCHANGE$ from
    192.168.111.87 (privexchange), PC02's 4624 from workstation PC01 at 10.0.2.17 (RDP tunnelling) and PC01's
    own Sysmon 3 connections from 10.0.2.17 agree on who held those addresses."""
    root = shared("evtx-attack-samples")
    store = Store.open(store_dir, create=True)
    ingest(store, [root / "Privilege Escalation" / "privexchange_dirkjan.evtx",
                   root / "Command and Control" / "DE_RDP_Tunneling_4624.evtx",
                   root / "Command and Control" / "DE_sysmon-3-rdp-tun.evtx"])
    claims = _claims(store)
    assert {("192.168.111.87", "exchange", "machine_account"), ("192.168.111.87", "exchange", "logon"),
            ("10.0.2.17", "pc01", "logon"), ("10.0.2.17", "pc01", "host_network")} <= claims, claims
    # loopback / '-' logons of the DC itself teach nothing; every claim is an internal, single-host address
    nets = InternalNetworks()
    assert all(nets.contains(ip) and ip not in ("127.0.0.1", "::1") for ip, _h, _k in claims)
    book = AddressBook.load(store)
    assert book.resolve("192.168.111.87", datetime(2019, 2, 2, 9, 20, tzinfo=UTC)) == "exchange"
    assert book.resolve("::ffff:10.0.2.17", datetime(2019, 2, 16, 10, 5, tzinfo=UTC)) == "pc01"


@pytest.mark.shared
def test_otrf_lsass_zeek_kerberos_machine_account(shared: type, store_dir: Path) -> None:
    """OTRF LSASS campaign 01, Zeek kerberos.log: MKT01$ asks the KDC for tickets from 192.168.1.41."""
    needs_source("zeek_tsv")
    root = shared("otrf-compound", "LSASS_campaign_01", "metasploit_logonpasswords_lsass_memory_dump_zeek_logs")
    store = Store.open(store_dir, create=True)
    ingest(store, [root])
    assert ("192.168.1.41", "mkt01", "machine_account") in _claims(store)
    book = AddressBook.load(store)
    assert book.resolve("192.168.1.41", datetime(2023, 8, 16, 5, 0, tzinfo=UTC)) == "mkt01"


@pytest.mark.shared
def test_otrf_lsass_windows_host_log(shared: type, store_dir: Path) -> None:
    """OTRF LSASS campaign 01, Windows host log (OTRF JSON export) with the campaign's Zeek logs: Sysmon 3 puts MKT01
    at 192.168.1.41; Sysmon 22 resolves DC01.pandalab.com to 192.168.1.4, a local name once the AD domain is known
    (Zeek kerberos realm PANDALAB.COM, the _ldap._tcp..._msdcs.pandalab.com locator query)."""
    root = shared("otrf-compound", "LSASS_campaign_01")
    store = Store.open(store_dir, create=True)
    ingest(store, [root / "metasploit_logonpasswords_lsass_memory_dump"])
    present = {t["table_name"] for t in table_rows(store, "SELECT DISTINCT table_name FROM files")}
    if "network" not in present:
        pytest.skip(f"the OTRF Windows JSON export is not parsed into tables yet (tables: {sorted(present)})")
    assert ("192.168.1.4", "dc01", "dns_a") in _claims(store)
    assert AddressBook.load(store).resolve("192.168.1.4") is None  # pandalab.com not known to be ours yet
    ingest(store, [root / "metasploit_logonpasswords_lsass_memory_dump_zeek_logs"])
    book = AddressBook.load(store)
    when = datetime(2023, 8, 15, 10, 0, tzinfo=UTC)
    assert book.resolve("192.168.1.41", when) == "mkt01"
    assert "host_network" in {c.kind for c in book.claims("192.168.1.41")}
    assert book.resolve("192.168.1.4", when) == "dc01"


@pytest.mark.shared
def test_stratosphere_zeek_dns_local_names(shared: type, store_dir: Path) -> None:
    """Stratosphere 009 (labelled Zeek dns.log): mDNS answers put the host `jin` at its unique-local addresses;
    Microsoft's connectivity check answer fd3e:4f5a:5b81::1 is kept as evidence but maps to no host."""
    needs_source("zeek_tsv")
    store = Store.open(store_dir, create=True)
    ingest(store, [shared("stratosphere-zeek", "009-zeek-malicious", "data", "dns.log.labeled.gz")])
    claims = _claims(store)
    assert ("fd2d:ab8c:225:0:4545:9d23:7896:2d8d", "jin", "dns_a") in claims
    assert ("fd3e:4f5a:5b81::1", "dns", "dns_a") in claims
    book = AddressBook.load(store)
    assert book.resolve("fd2d:ab8c:225:0:4545:9d23:7896:2d8d") == "jin"
    assert book.resolve("fd3e:4f5a:5b81::1") is None


@pytest.mark.shared
def test_zeek_dhcp_json_and_tsv(shared: type, store_dir: Path) -> None:
    """Zeek dhcp.log from the Slips data sets, JSON (test9) and labelled TSV (test18): leases with windows."""
    needs_source("zeek_tsv")
    root = shared("slips-dataset")
    store = Store.open(store_dir, create=True)
    ingest(store, [root / "test9-mixed-zeek-dir" / "dhcp.log",
                   root / "test18-malicious-ctu-sme-11-win" / "zeek-labeled" / "dhcp.log.labeled"])
    assert {("10.0.2.15", "john-pc", "dhcp"), ("192.168.1.107", "nwin3", "dhcp")} <= _claims(store)
    (lease,) = table_rows(store, "SELECT * FROM host_addresses WHERE host = 'nwin3'")
    assert lease["valid_until"] - lease["last_seen"] == timedelta(seconds=600)  # lease_time 600 s
    book = AddressBook.load(store)
    assert book.resolve("192.168.1.107", lease["first_seen"] + timedelta(seconds=300)) == "nwin3"


def test_resolve_is_fast_on_a_large_book() -> None:
    rnd = random.Random(3)
    claims = [claim(f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}", f"h{i}", rnd.choice(["logon", "dns_a"]),
                    i % 100, i % 100 + 10) for i in range(50_000)]
    book = AddressBook(claims)
    assert book.resolve("10.0.1.7", at(50)) == "h263"
    assert len(book) == 50_000
