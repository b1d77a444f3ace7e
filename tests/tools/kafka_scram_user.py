"""Creates SCRAM users on a tansu broker that requires SASL, for the Kafka TLS/SASL tests.

tansu 0.6.0 stores SCRAM credentials through AlterUserScramCredentials, which it answers
only on an authenticated connection; its PLAIN mechanism accepts any password, so this
authenticates with PLAIN first and then upserts the credentials (salted as RFC 5802 says,
the way `tansu user create` does). Plain Kafka protocol over a socket: no client library
offers this request.

usage: kafka_scram_user.py HOST:PORT USER PASSWORD
(creates USER with PASSWORD for both SCRAM-SHA-256 and SCRAM-SHA-512)
"""

import hashlib
import os
import socket
import struct
import sys

CLIENT_ID = b"genims-test"


def uvarint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def compact(b):
    return uvarint(len(b) + 1) + b


class Conn:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.corr = 0

    def call(self, api_key, version, body, flexible=False):
        self.corr += 1
        header = struct.pack(">hhih", api_key, version, self.corr, len(CLIENT_ID)) + CLIENT_ID
        if flexible:
            header += b"\x00"
        msg = header + body
        self.sock.sendall(struct.pack(">i", len(msg)) + msg)
        (n,) = struct.unpack(">i", self.read(4))
        resp = self.read(n)
        (corr,) = struct.unpack(">i", resp[:4])
        assert corr == self.corr, f"correlation id {corr}, expected {self.corr}"
        # Flexible responses (except ApiVersions) carry tagged fields after the id.
        return resp[5:] if flexible else resp[4:]

    def read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise SystemExit("the broker closed the connection")
            buf += chunk
        return buf


def main():
    addr, user, password = sys.argv[1:4]
    c = Conn(addr)
    # SaslHandshake v1: PLAIN.
    r = c.call(17, 1, struct.pack(">h", 5) + b"PLAIN")
    (err,) = struct.unpack(">h", r[:2])
    assert err == 0, f"SaslHandshake error {err}"
    # SaslAuthenticate v0: PLAIN's message (authzid, authcid, password).
    token = b"\0" + user.encode() + b"\0bootstrap"
    r = c.call(36, 0, struct.pack(">i", len(token)) + token)
    (err,) = struct.unpack(">h", r[:2])
    assert err == 0, f"SaslAuthenticate error {err}"
    # AlterUserScramCredentials v0 (flexible): no deletions, one upsertion per mechanism.
    iterations = 4096
    upserts = b""
    for mechanism, hash_name in ((1, "sha256"), (2, "sha512")):
        salt = os.urandom(32)
        salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, iterations)
        upserts += compact(user.encode()) + struct.pack(">bi", mechanism, iterations)
        upserts += compact(salt) + compact(salted) + b"\x00"
    body = uvarint(1) + uvarint(3) + upserts + b"\x00"
    r = c.call(51, 0, body, flexible=True)
    # throttle_time_ms, then results: user, error_code, error_message, tags.
    pos = 4
    n = r[pos] - 1
    pos += 1
    assert n == 1, f"{n} results"
    name_len = r[pos] - 1
    pos += 1 + name_len
    (err,) = struct.unpack(">h", r[pos : pos + 2])
    assert err == 0, f"AlterUserScramCredentials error {err}"
    print(f"created SCRAM-SHA-256 and SCRAM-SHA-512 credentials for {user}")


if __name__ == "__main__":
    main()
