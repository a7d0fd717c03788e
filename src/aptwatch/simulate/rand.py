"""Deterministic randomness and the id formats real tools write.

Every random stream in the simulator is derived from the user's seed and a *name* (host,
day, purpose), never from a shared global generator, so adding a host or a day does not
change what the others do, and the same seed always gives byte-identical output.

Id formats follow what the tools write:
- Sysmon `ProcessGuid` `{MMMMMMMM-tttt-TTTT-cccc-BBBBBBBBBBBB}`: machine id, the process
  start time in epoch seconds split low/high 16 bits, a per-boot counter (little endian),
  and a per-boot suffix. `LogonGuid` carries the logon id's bytes in the last two groups.
- Zeek `uid` `C` + 17 base62 characters (96 random bits), file ids `F` + 17.
- Windows logon ids are hex (`0x3e7` for SYSTEM), PIDs are multiples of 4.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import struct
from dataclasses import dataclass

_ALNUM = bytes.maketrans(b"+/", b"Zq")


def derive(seed: int, *parts: object) -> int:
    """A 64-bit seed derived from the user's seed and a name (stable across Python runs)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(str(seed).encode())
    for p in parts:
        h.update(b"\x1f")
        h.update(str(p).encode("utf-8", "surrogatepass"))
    return int.from_bytes(h.digest(), "big")


class Rng(random.Random):
    """`random.Random` with the helpers the generators need."""

    def __init__(self, seed: int, *parts: object) -> None:
        super().__init__(derive(seed, *parts))

    def chance(self, p: float) -> bool:
        return self.random() < p

    def jitter(self, base: float, frac: float) -> float:
        """`base` +- `frac` of itself, uniformly."""
        return base * (1.0 + self.uniform(-frac, frac))

    def hexstr(self, n: int) -> str:
        return f"{self.getrandbits(4 * n):0{n}x}"

    def guid(self, upper: bool = False) -> str:
        s = self.hexstr(32)
        g = f"{{{s[:8]}-{s[8:12]}-4{s[13:16]}-{'89ab'[int(s[16], 16) % 4]}{s[17:20]}-{s[20:]}}}"
        return g.upper() if upper else g

    def zeek_uid(self, prefix: str = "C") -> str:
        # 17 alphanumeric characters like Zeek's base62 ids; base64 of random bytes with the two
        # non-alphanumeric symbols mapped to letters (a negligible bias, C speed)
        return prefix + base64.b64encode(self.randbytes(13))[:17].translate(_ALNUM).decode()

    def pid(self) -> int:
        return 4 * self.randint(100, 6000)

    def port(self) -> int:
        """An ephemeral source port (Windows dynamic range)."""
        return self.randint(49152, 65535)

    def weighted(self, items: tuple[tuple[str, float], ...]) -> str:
        total = sum(w for _, w in items)
        x = self.random() * total
        for name, w in items:
            x -= w
            if x <= 0:
                return name
        return items[-1][0]

    def b64ish(self, n: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        return "".join(alphabet[self.getrandbits(6)] for _ in range(n))


def sysmon_guid(machine: str, epoch: float, counter: int, suffix: str) -> str:
    """A Sysmon process GUID as Sysmon builds it (see module doc)."""
    t = int(epoch)
    c = struct.pack("<H", counter & 0xFFFF).hex()
    return f"{{{machine}-{t & 0xFFFF:04x}-{(t >> 16) & 0xFFFF:04x}-{c}-{suffix}}}"


def logon_guid(machine: str, epoch: float, logon_id: int) -> str:
    """A Sysmon LogonGuid: machine id, logon time, the logon id's little-endian bytes."""
    t = int(epoch)
    b = struct.pack("<Q", logon_id).hex()
    return f"{{{machine}-{t & 0xFFFF:04x}-{(t >> 16) & 0xFFFF:04x}-{b[:4]}-{b[4:]}}}"


@dataclass(frozen=True)
class FileHashes:
    md5: str
    sha1: str
    sha256: str
    imphash: str

    def sysmon(self) -> str:
        """The Sysmon `Hashes` value (`HashAlgorithms=*`), upper-case hex as Sysmon writes it."""
        return (f"SHA1={self.sha1.upper()},MD5={self.md5.upper()},SHA256={self.sha256.upper()},"
                f"IMPHASH={self.imphash.upper()}")


@functools.lru_cache(maxsize=8192)
def file_hashes(key: str) -> FileHashes:
    """Stable hashes for a simulated binary (the same image has the same hashes everywhere)."""
    raw = key.lower().encode("utf-8", "surrogatepass")
    return FileHashes(
        hashlib.md5(b"md5:" + raw, usedforsecurity=False).hexdigest(),
        hashlib.sha1(b"sha1:" + raw, usedforsecurity=False).hexdigest(),
        hashlib.sha256(b"sha256:" + raw).hexdigest(),
        hashlib.md5(b"imp:" + raw.rsplit(b"\\", 1)[-1], usedforsecurity=False).hexdigest(),
    )
