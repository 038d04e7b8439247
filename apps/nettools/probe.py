"""Connection and DNS probes for lab 07, all at once, each bounded by a short time-out.

Usage: python3 probe.py TARGET...   where TARGET is
  HOST:PORT[/PATH]  an HTTP GET (HOST a pod IP, or a name: resolved over UDP first)
  dns-udp:NAME      a DNS query for NAME's A record over UDP
  dns-tcp:NAME      the same over TCP (what resolvers fall back to for answers over 512 bytes)
Prints one line per target: TARGET RESULT DETAIL, RESULT one of ok, blocked, no-dns.

It resolves names itself (the nameserver and search list of /etc/resolv.conf) so that a DNS
failure shows within a second and reads differently from a connection failure.
"""
import random
import socket
import struct
import sys
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 1.5


def resolver():
    server, search = "127.0.0.1", []
    for line in open("/etc/resolv.conf"):
        words = line.split()
        if words[:1] == ["nameserver"]:
            server = words[1]
        elif words[:1] == ["search"]:
            search = words[1:]
    return server, search


def query(name, tcp):
    """The IPv4 addresses DNS returns for name (over UDP or TCP); raises OSError when it cannot."""
    server, search = resolver()
    fqdn = name if "." in name or not search else f"{name}.{search[0]}"
    packet = struct.pack(">HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0)
    packet += b"".join(bytes([len(p)]) + p.encode() for p in fqdn.rstrip(".").split(".")) + b"\0"
    packet += struct.pack(">HH", 1, 1)
    if tcp:
        with socket.create_connection((server, 53), TIMEOUT) as s:
            s.sendall(struct.pack(">H", len(packet)) + packet)
            answer = read(s, struct.unpack(">H", read(s, 2))[0])
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(TIMEOUT)
            s.connect((server, 53))
            s.send(packet)
            answer = s.recv(4096)
    return addresses(answer)


def read(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


def skip_name(msg, i):
    while msg[i]:
        if msg[i] >= 0xC0:  # a compression pointer ends the name
            return i + 2
        i += msg[i] + 1
    return i + 1


def addresses(msg):
    count = struct.unpack(">H", msg[6:8])[0]
    i = skip_name(msg, 12) + 4
    found = []
    for _ in range(count):
        i = skip_name(msg, i)
        rtype, _, _, length = struct.unpack(">HHIH", msg[i:i + 10])
        i += 10
        if rtype == 1:
            found.append(socket.inet_ntoa(msg[i:i + 4]))
        i += length
    if not found:
        raise OSError("no such name")
    return found


def describe(exc):
    if isinstance(exc, socket.timeout):
        return "timed-out"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    return str(exc).replace(" ", "-") or exc.__class__.__name__


def probe(target):
    if target.startswith(("dns-udp:", "dns-tcp:")):
        kind, name = target.split(":", 1)
        try:
            return "ok", ",".join(query(name, kind == "dns-tcp"))
        except OSError as exc:
            return "no-dns", describe(exc)
    hostport, _, path = target.partition("/")
    host, port = hostport.rsplit(":", 1)
    if not host.replace(".", "").isdigit():
        try:
            host = query(host, tcp=False)[0]
        except OSError as exc:
            return "no-dns", f"{hostport.split(':')[0]}-not-resolved-{describe(exc)}"
    try:
        with socket.create_connection((host, int(port)), TIMEOUT) as s:
            s.settimeout(TIMEOUT)
            s.sendall(f"GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            status = read(s, 12).decode(errors="replace")
            return ("ok" if status.endswith(" 200") else "blocked"), f"{host}:{port}"
    except OSError as exc:
        return "blocked", f"{host}:{port}-{describe(exc)}"


with ThreadPoolExecutor(max(1, len(sys.argv) - 1)) as pool:
    for target, (result, detail) in zip(sys.argv[1:], pool.map(probe, sys.argv[1:])):
        print(target, result, detail, flush=True)
