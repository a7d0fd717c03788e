"""DNS tunnelling and DGA: synthetic positives and negatives (real data in test_dns_real.py)."""

from __future__ import annotations

import base64
import random
import string
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from aptwatch.detect.analytics.dns import tunnel_name_score
from aptwatch.store import Store
from tests.analytics.lake import detect, write

T0 = 1709251200.0


@pytest.fixture
def store(store_dir: Path) -> Store:
    return Store.open(store_dir, create=True)


def q(t: float, src: str, name: str, qtype: str = "A", rcode: str = "NOERROR", answers: str | None = "192.0.2.1"):
    return {"time": t, "src_ip": src, "dst_ip": "10.0.0.2", "dst_port": 53, "query": name, "query_type": qtype,
            "rcode": rcode, "answers": answers}


def benign(seed: int = 1) -> list[dict]:
    rnd = random.Random(seed)
    names = ["www.example.com", "mail.example.com", "login.microsoftonline.com", "www.bbc.co.uk", "api.github.com",
             "cdn.jsdelivr.net", "fonts.googleapis.com", "news.ycombinator.com", "en.wikipedia.org",
             "static.xx.fbcdn.net", "a1.b2.c3.some-shop.de"] + [f"host{i}.corp-intranet.example" for i in range(30)]
    return [q(T0 + rnd.uniform(0, 86400), f"10.0.0.{rnd.randint(2, 40)}", rnd.choice(names)) for _ in range(3000)]


def iodine_like(n: int, seed: int = 2) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        payload = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(60, 110)))
        enc = base64.b32encode(payload).decode().rstrip("=").lower()
        labels = [enc[j:j + 57] for j in range(0, len(enc), 57)]
        out.append(q(T0 + 3600 + i * 0.5, "10.0.0.66", "p" + ".".join(labels) + ".t.tunnel-evil.org", "NULL",
                     answers=None))
    return out


def test_tunnel_found_benign_domains_not(store: Store) -> None:
    write(store, {"dns": benign() + iodine_like(400)})
    findings, _ = detect(store, ["dns"])
    tunnels = [f for f in findings if f.rule_id == "dns.tunnel"]
    assert [f.entities["domain"] for f in tunnels] == [("tunnel-evil.org",)]
    f = tunnels[0]
    assert f.entities["src_ip"] == ("10.0.0.66",)
    assert f.extra["mean_length"] > 60 and f.extra["mean_entropy"] > 4.0
    assert f.extra["rare_qtype_share"] == 1.0
    assert f.severity.value == "high" and "T1071.004" in f.techniques
    assert f.evidence and all(e.table == "dns" for e in f.evidence)


def test_tunnel_accumulates_across_ingests(store: Store) -> None:
    names = iodine_like(120)
    write(store, {"dns": benign() + names[:40]})
    first, _ = detect(store, ["dns"])
    assert not [f for f in first if f.rule_id == "dns.tunnel"]  # 40 unique subdomains: below min_unique
    write(store, {"dns": names[40:]})
    second, report = detect(store, ["dns"])
    assert report.stats["dns"]["queries"] == 80
    assert [f.entities["domain"] for f in second if f.rule_id == "dns.tunnel"] == [("tunnel-evil.org",)]


def test_many_unique_but_readable_subdomains_are_not_tunnels(store: Store) -> None:
    rnd = random.Random(4)
    words = ["shop", "mail", "app", "cdn", "img", "api", "blog", "news", "login", "auth", "static", "media"]
    rows = [q(T0 + i * 5, "10.0.0.3", f"{rnd.choice(words)}{i}.{rnd.choice(words)}.bigretailer.com")
            for i in range(600)]
    write(store, {"dns": rows + benign()})
    findings, _ = detect(store, ["dns"])
    assert not [f for f in findings if f.rule_id == "dns.tunnel"]


def random_label(rnd: random.Random, n: int) -> str:
    return "".join(rnd.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def test_dga_random_names_found_typos_not(store: Store) -> None:
    rnd = random.Random(7)
    dga = [q(T0 + i * 30, "10.0.0.77", random_label(rnd, rnd.randint(12, 20)) + rnd.choice([".com", ".net", ".info"]),
             rcode="NXDOMAIN", answers=None) for i in range(60)]
    typos = [q(T0 + i * 600, "10.0.0.5", name, rcode="NXDOMAIN", answers=None)
             for i, name in enumerate(["gogle.com", "faceboook.com", "wikipedia.orgg", "exmaple.com", "githb.com"])]
    write(store, {"dns": dga + typos + benign()})
    findings, _ = detect(store, ["dns"])
    dgas = [f for f in findings if f.rule_id == "dns.dga"]
    assert [f.entities["src_ip"] for f in dgas] == [("10.0.0.77",)]
    assert dgas[0].extra["failed_domains"] == 60 and dgas[0].extra["mean_name_score"] >= 0.6
    assert "T1568.002" in dgas[0].techniques


def test_tunnel_name_scorer_separates_encoded_from_plain_names() -> None:
    con = duckdb.connect()

    class S:
        def sql(self, query: str) -> pa.Table:
            r = con.sql(query)
            return r.to_arrow_table() if r is not None else pa.table({})

        def register(self, name: str, t: pa.Table) -> None:
            con.register(name, t)

    names = pa.table({"name": ["www.google.com.", "mail.yahoo.co.uk", "abc.github.io",
                               "mzxw6ytboi4tgnbvgy3tqojqgezdgnbvgy3tqojqgezdgnbvgy3tq.t.tunnel-evil.org",
                               "q+aKr4rHBAzuD7xVQW0Mr9.hidemyself.org"]})
    out = {r["name"]: r for r in tunnel_name_score(S(), names).to_pylist()}
    assert out["www.google.com"]["score"] < 0.3 and out["www.google.com"]["domain"] == "google.com"
    assert out["abc.github.io"]["domain"] == "abc.github.io"  # github.io is a (private) public suffix
    assert out["mzxw6ytboi4tgnbvgy3tqojqgezdgnbvgy3tqojqgezdgnbvgy3tq.t.tunnel-evil.org"]["score"] > 0.8
    assert out["q+akr4rhbazud7xvqw0mr9.hidemyself.org"]["score"] > 0.4
