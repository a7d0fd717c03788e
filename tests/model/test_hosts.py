"""One host key across sources: Windows FQDN, syslog short name, Log Analytics Computer, Zeek IP."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa

from aptwatch.ingest import ingest
from aptwatch.model.hosts import host_key, host_keys
from aptwatch.store import Store


def test_names_reduce_to_the_first_label_lower_case() -> None:
    # Windows Computer (FQDN), NetBIOS, Linux syslog short name, Log Analytics Computer, machine account
    assert host_key("MKT01.pandalab.com") == host_key("MKT01") == host_key("mkt01") == "mkt01"
    assert host_key("WORKSTATION5.theshire.local") == "workstation5"
    assert host_key("UBUNTU5") == host_key("ubuntu5.internal.cloudapp.net") == "ubuntu5"
    assert host_key("WS01$") == "ws01"
    assert host_key("\\\\WS01") == "ws01" and host_key("ws01.corp.example.") == "ws01"


def test_addresses_stay_addresses() -> None:
    assert host_key("192.168.2.5") == "192.168.2.5"  # Zeek id.orig_h, Log Analytics HostIP
    assert host_key("::ffff:192.168.2.5") == "192.168.2.5"  # IPv4-mapped (Windows 5156, dual-stack sockets)
    assert host_key("[FE80:0:0:0:0:0:0:1]") == host_key("fe80::1%eth0") == "fe80::1"
    # OTRF LSASS_campaign_01: Sysmon writes the workstation's link-local address in full, Zeek compressed
    assert host_key("fe80:0:0:0:5d91:ea18:e2b5:9755") == host_key("fe80::5d91:ea18:e2b5:9755")
    assert host_key("not:an:address") == "not:an:address"  # kept as written


def test_placeholders_are_no_host() -> None:
    for v in (None, "", "-", "localhost", "localhost.localdomain", "(none)", "unknown", "NULL"):
        assert host_key(v) is None


def test_arrow_variant_matches() -> None:
    values = ["MKT01.pandalab.com", None, "UBUNTU5", "-", "::ffff:10.0.0.5", "MKT01.pandalab.com"]
    assert host_keys(pa.array(values)).to_pylist() == [host_key(v) for v in values]


def test_windows_fqdn_and_linux_short_name_share_a_key_in_the_store(tmp_path: Path) -> None:
    """A Windows event export naming the host by FQDN and the same host's auth.log by short name land on one key."""
    win = tmp_path / "win.jsonl"
    win.write_bytes(orjson.dumps({"TimeCreated": "2024-03-01T10:00:00Z", "Computer": "WEB01.corp.example.com",
                                  "EventID": 4624, "Channel": "Security"}) + b"\n")
    lin = tmp_path / "auth.log"
    lin.write_bytes(b"2024-03-01T10:00:05+00:00 web01 sshd[7]: Accepted password for bob from 10.0.0.9 port 5 ssh2\n")
    store = Store.open(tmp_path / "store", create=True)
    report = ingest(store, [win, lin])
    assert report.events == 2 and set(report.by_format) == {"jsonl", "authlog"}
    with store.session() as s:
        hosts = s.sql("SELECT DISTINCT host FROM events").to_pylist()
    assert hosts == [{"host": "web01"}]
