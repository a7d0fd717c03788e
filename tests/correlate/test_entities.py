"""Entity normalisation: what correlation links on, and what it must never glue on."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aptwatch.correlate.entities import CROSS_HOST, GLOBAL, INSTANCE, LinkKey, finding_keys, is_internal, normalise_user


def test_users_are_normalised_and_service_identities_dropped() -> None:
    assert normalise_user("CORP\\Alice") == "alice"
    assert normalise_user("alice@corp.example") == "alice"
    for u in ("SYSTEM", "NT AUTHORITY\\SYSTEM", "LOCAL SERVICE", "DWM-1", "UMFD-0", "root", "-", "WS01$",
              "CORP\\WS01$", "Font Driver Host\\UMFD-2"):
        assert normalise_user(u) is None, u


def test_internal_addresses_are_edges_external_are_entities() -> None:
    k = finding_keys({"host": ("WS01.corp.example",), "src_ip": ("10.1.2.3",), "dst_ip": ("93.184.216.34",)})
    assert k.hosts == ["ws01"]
    assert k.addresses == ["10.1.2.3"]
    assert LinkKey("ip", "93.184.216.34", GLOBAL) in k.keys
    assert is_internal("192.168.1.1") and is_internal("fe80::1") and not is_internal("8.8.8.8")
    assert is_internal("not-an-ip") is None


def test_source_address_comes_first() -> None:
    k = finding_keys({"dst_ip": ("10.0.0.9",), "src_ip": ("10.0.0.5",)})
    assert k.addresses == ["10.0.0.5", "10.0.0.9"]


def test_scopes_and_hashes() -> None:
    k = finding_keys({"host": ("ws01",), "user": ("CORP\\bob",), "hash": ("SHA1=AB" + "0" * 38 + ",MD5=" + "1" * 32,),
                      "domain": ("Evil.Example.",), "process": ("C:\\Temp\\x.exe",)})
    assert LinkKey("user", "bob", CROSS_HOST) in k.keys
    assert LinkKey("domain", "evil.example", GLOBAL) in k.keys
    assert LinkKey("hash", "ab" + "0" * 38, GLOBAL) in k.keys and LinkKey("hash", "1" * 32, GLOBAL) in k.keys
    assert LinkKey("process", "c:\\temp\\x.exe", CROSS_HOST) in k.keys
    assert k.users == ["bob"]


def test_process_tree_keys_skip_system_parents() -> None:
    child = finding_keys({"host": ("ws01",)}, {"process_guid": ["{AAA}"], "parent_process_guid": ["{BBB}"],
                                                 "parent_image": ["C:\\Windows\\System32\\cmd.exe"]})
    assert LinkKey("proc", "aaa", INSTANCE) in child.keys and LinkKey("proc", "bbb", INSTANCE) in child.keys
    svc = finding_keys({"host": ("ws01",)}, {"process_guid": ["{CCC}"], "parent_process_guid": ["{DDD}"],
                                               "parent_image": ["C:\\Windows\\System32\\services.exe"]})
    assert LinkKey("proc", "ddd", INSTANCE) not in svc.keys  # siblings under services.exe are unrelated


def test_logon_sessions_are_host_scoped_and_system_sessions_dropped() -> None:
    k = finding_keys({"host": ("ws01",), "logon_id": ("0x5A3F1",)})
    assert LinkKey("session", "ws01:0x5a3f1", INSTANCE) in k.keys
    assert not finding_keys({"host": ("ws01",), "logon_id": ("0x3e7",)}).keys


values = st.lists(st.text(max_size=40), max_size=4).map(tuple)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["host", "user", "src_ip", "dst_ip", "domain", "hash", "process", "logon_id",
                                        "process_guid", "parent_process_guid", "url", "weird kind", "file"]),
                       values, max_size=8))
def test_never_raises_on_attacker_written_values(ents: dict[str, tuple[str, ...]]) -> None:
    k = finding_keys(ents)
    assert all(isinstance(x.value, str) and x.value and x.value == x.value.strip() for x in k.keys)
    assert len(k.keys) == len(set(k.keys))
