"""A SASL/PLAIN front for the embedded broker, for tests of authenticated Kafka clients.

tansu 0.6 offers only SCRAM, and its in-memory storage keeps no SCRAM users (`upsert_user_scram_credential`
is a no-op there), so no client can authenticate to it. This front speaks the Kafka protocol's own SASL
exchange (SaslHandshake, SaslAuthenticate, as a Kafka broker does) and checks the PLAIN user name and
password; once a connection is authenticated it relays every request to tansu unchanged. librdkafka
does real SASL/PLAIN against it; tansu must advertise the front's address (EmbeddedBroker advertised_port).
"""

from __future__ import annotations

import socket
import struct
import threading

SASL_HANDSHAKE, API_VERSIONS, SASL_AUTHENTICATE = 17, 18, 36
UNSUPPORTED_SASL_MECHANISM, SASL_AUTHENTICATION_FAILED = 33, 58


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


class SaslPlainFront:
    """Listens on `port`, authenticates SASL/PLAIN against `users`, then relays to `backend` (host:port)."""

    def __init__(self, backend: str, users: dict[str, str], port: int, host: str = "127.0.0.1") -> None:
        self.backend = backend
        self.users = users
        self.address = (host, port)
        self.authenticated = 0
        self.rejected = 0
        self._server = socket.create_server(self.address)
        self._stop = threading.Event()

    @property
    def bootstrap(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    def start(self) -> SaslPlainFront:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        host, port = self.backend.rsplit(":", 1)
        upstream: socket.socket | None = None
        authenticated = False
        try:
            upstream = socket.create_connection((host, int(port)))
            threading.Thread(target=self._relay, args=(upstream, client), daemon=True).start()
            while True:
                size = struct.unpack(">i", _read_exact(client, 4))[0]
                frame = _read_exact(client, size)
                api_key, version, correlation = struct.unpack(">hhi", frame[:8])
                if api_key == SASL_HANDSHAKE:
                    client.sendall(self._handshake(frame, correlation))
                elif api_key == SASL_AUTHENTICATE:
                    reply, authenticated = self._authenticate(frame, version, correlation)
                    client.sendall(reply)
                    if not authenticated:
                        return
                elif authenticated or api_key == API_VERSIONS:
                    upstream.sendall(struct.pack(">i", size) + frame)
                else:
                    return  # like a SASL broker: nothing but ApiVersions before authentication
        except (ConnectionError, OSError):
            return
        finally:
            client.close()
            if upstream is not None:
                upstream.close()

    @staticmethod
    def _relay(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(1 << 16):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            sink.close()

    @staticmethod
    def _body(frame: bytes) -> int:
        """Offset of the request body after a v1 header (client_id is a nullable int16 string)."""
        (length,) = struct.unpack(">h", frame[8:10])
        return 10 + max(length, 0)

    def _handshake(self, frame: bytes, correlation: int) -> bytes:
        pos = self._body(frame)
        (length,) = struct.unpack(">h", frame[pos : pos + 2])
        mechanism = frame[pos + 2 : pos + 2 + length].decode()
        error = 0 if mechanism == "PLAIN" else UNSUPPORTED_SASL_MECHANISM
        body = struct.pack(">ihih", correlation, error, 1, 5) + b"PLAIN"
        return struct.pack(">i", len(body)) + body

    def _authenticate(self, frame: bytes, version: int, correlation: int) -> tuple[bytes, bool]:
        pos = self._body(frame)
        if version >= 2:  # flexible: tagged fields after the header, compact bytes
            _, pos = _uvarint(frame, pos)
            length, pos = _uvarint(frame, pos)
            token = frame[pos : pos + length - 1]
        else:
            (length,) = struct.unpack(">i", frame[pos : pos + 4])
            token = frame[pos + 4 : pos + 4 + length]
        _, user, password = (token.split(b"\0") + [b"", b""])[:3]
        ok = self.users.get(user.decode(errors="replace")) == password.decode(errors="replace")
        if ok:
            self.authenticated += 1
        else:
            self.rejected += 1
        error = 0 if ok else SASL_AUTHENTICATION_FAILED
        message = b"" if ok else b"Authentication failed: invalid user name or password"
        if version >= 2:
            text = bytes([len(message) + 1]) + message if message else b"\x00"
            body = struct.pack(">i", correlation) + b"\x00" + struct.pack(">h", error) + text + b"\x01"
            body += struct.pack(">q", 0) + b"\x00"
        else:
            text = struct.pack(">h", len(message)) + message if message else struct.pack(">h", -1)
            body = struct.pack(">ih", correlation, error) + text + struct.pack(">i", 0)
            if version >= 1:
                body += struct.pack(">q", 0)
        return struct.pack(">i", len(body)) + body, ok
