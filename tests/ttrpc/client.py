"""A small ttRPC client for sealpod's tests and tools (/usr/bin/python3, the standard library and
Debian's python3-protobuf).

    from client import Client, load_protos
    pb = load_protos()                               # our init/agent/proto/*.proto, compiled
    with Client.unix("/tmp/a.sock") as c:
        r = c.call("grpc.Health", "Check", pb.health.CheckRequest())
        pb.health.HealthCheckResponse.FromString(r.payload).status   # 1 = SERVING
        s1 = c.send("grpc.AgentService", "WaitProcess", pb.agent.WaitProcessRequest(...))
        s2 = c.send("grpc.Health", "Check", b"")     # many calls in flight on one connection
        c.wait(s2); c.wait(s1)                       # replies matched by stream id

Frames are the 10-byte big-endian header (length, stream id, type, flags) and the ttrpc.Request /
ttrpc.Response envelope. Client streams use odd ids 1, 3, 5, ... Transports: a Unix socket, AF_VSOCK,
hybrid vsock (a Unix socket to the VMM, then `CONNECT <port>\\n` answered by a line with `OK`),
or any connected socket object.

The .proto files are compiled at first use with `protoc --python_out` into a cache directory
named by a hash of their contents ($SEALPOD_PYPROTO_CACHE, default ~/.cache/sealpod/pyproto).
"""
import hashlib
import importlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import types as _pytypes

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
PROTO_DIR = os.path.join(TOP, "init", "agent", "proto")

HDR = struct.Struct(">IIBB")
T_REQUEST, T_RESPONSE, T_DATA = 1, 2, 3
FRAME_MAX = 4 << 20

CODES = {0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
         5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
         9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED",
         13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED"}
OK, INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED = 0, 3, 5, 7
FAILED_PRECONDITION, UNAVAILABLE = 9, 14
RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL = 8, 12, 13


class ProtocolError(Exception):
    """The peer broke the framing or the envelope."""


class RpcError(Exception):
    """A reply with a non-OK status."""

    def __init__(self, reply):
        self.reply, self.code, self.message = reply, reply.code, reply.message
        super().__init__(f"{CODES.get(self.code, self.code)}: {self.message}")


# --- the protobuf classes -------------------------------------------------------------------

_PROTOS = None


def _proto_files(proto_dir):
    return sorted(f for f in os.listdir(proto_dir) if f.endswith(".proto"))


def load_protos(proto_dir=PROTO_DIR):
    """Compiles proto_dir/*.proto (cached by content hash) and returns a namespace with one
    module per file: .agent, .oci, .types, .health, .ttrpc (whichever exist)."""
    global _PROTOS
    if _PROTOS is not None:
        return _PROTOS
    files = _proto_files(proto_dir)
    h = hashlib.sha256()
    for f in files:
        h.update(f.encode() + b"\0")
        with open(os.path.join(proto_dir, f), "rb") as fh:
            h.update(fh.read())
    cache = os.environ.get("SEALPOD_PYPROTO_CACHE",
                           os.path.join(os.path.expanduser("~"), ".cache", "sealpod", "pyproto"))
    out = os.path.join(cache, h.hexdigest()[:16])
    if not os.path.isdir(out):
        os.makedirs(cache, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="build-", dir=cache)
        try:
            subprocess.run(["protoc", f"--proto_path={proto_dir}", f"--python_out={tmp}"] + files,
                           check=True, capture_output=True, text=True)
        except FileNotFoundError:
            raise RuntimeError("protoc not found: install Debian's protobuf-compiler")
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f"protoc failed:\n{e.stderr}")
        try:
            os.rename(tmp, out)  # atomic: a concurrent compile of the same hash may win
        except OSError:
            pass
    if out not in sys.path:
        sys.path.insert(0, out)
    ns = _pytypes.SimpleNamespace()
    for f in files:
        mod = f[:-len(".proto")]
        setattr(ns, mod, importlib.import_module(mod + "_pb2"))
    _PROTOS = ns
    return ns


def _encode(msg):
    if msg is None:
        return b""
    if isinstance(msg, (bytes, bytearray)):
        return bytes(msg)
    return msg.SerializeToString()


# --- replies --------------------------------------------------------------------------------

class Reply:
    """One Response frame: .stream, .code, .message, .payload (bytes), .frame_type."""

    def __init__(self, stream, frame_type, body):
        self.stream, self.frame_type, self.body = stream, frame_type, body
        self.code, self.message, self.payload = OK, "", b""
        if frame_type != T_RESPONSE:
            return
        pb = load_protos()
        resp = pb.ttrpc.Response()
        try:
            resp.ParseFromString(body)
        except Exception as e:  # google.protobuf.message.DecodeError
            raise ProtocolError(f"undecodable Response on stream {stream}: {e}")
        self.code, self.message, self.payload = resp.status.code, resp.status.message, resp.payload

    @property
    def ok(self):
        return self.frame_type == T_RESPONSE and self.code == OK

    def decode(self, cls):
        """The payload as a message of class cls; raises RpcError on a non-OK reply."""
        if not self.ok:
            raise RpcError(self)
        return cls.FromString(self.payload)

    def __repr__(self):
        return (f"Reply(stream={self.stream}, code={self.code} {CODES.get(self.code, '?')}, "
                f"message={self.message!r}, payload={self.payload[:64].hex()})")


# --- the client ------------------------------------------------------------------------------

class Client:
    def __init__(self, sock, timeout=30.0):
        self.sock = sock
        self.timeout = timeout
        self.next_stream = 1
        self.pending = {}  # stream id -> Reply that arrived before anyone asked for it
        self.rx = bytearray()

    # transports
    @classmethod
    def unix(cls, path, timeout=30.0):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.settimeout(timeout)
        s.connect(path)
        return cls(s, timeout)

    @classmethod
    def vsock(cls, cid, port=1024, timeout=30.0):
        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.settimeout(timeout)
        s.connect((cid, port))
        return cls(s, timeout)

    @classmethod
    def hvsock(cls, path, port=1024, timeout=30.0):
        """Hybrid vsock (Cloud Hypervisor, Firecracker): the VMM's Unix socket, then the
        CONNECT handshake; the VMM answers one line that contains OK (`OK <host port>`)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(f"CONNECT {port}\n".encode())
        line = bytearray()
        while not line.endswith(b"\n"):
            b = s.recv(1)  # one byte at a time: nothing after the line may be consumed
            if not b:
                s.close()
                raise ProtocolError(f"hybrid vsock: connection closed after {bytes(line)!r}")
            line += b
            if len(line) > 64:
                s.close()
                raise ProtocolError(f"hybrid vsock: no end of line in {bytes(line)!r}")
        if b"OK" not in line:
            s.close()
            raise ProtocolError(f"hybrid vsock: refused: {bytes(line)!r}")
        return cls(s, timeout)

    @classmethod
    def connect(cls, addr, timeout=30.0):
        """unix:///PATH, vsock://CID:PORT or hvsock:///PATH:PORT."""
        if addr.startswith("unix://"):
            return cls.unix(addr[len("unix://"):], timeout)
        if addr.startswith("vsock://"):
            cid, _, port = addr[len("vsock://"):].partition(":")
            return cls.vsock(int(cid), int(port or 1024), timeout)
        if addr.startswith("hvsock://"):
            path, _, port = addr[len("hvsock://"):].rpartition(":")
            return cls.hvsock(path, int(port), timeout)
        raise ValueError(f"unknown address {addr!r}")

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # frames
    @staticmethod
    def frame(stream, body, frame_type=T_REQUEST, flags=0):
        return HDR.pack(len(body), stream, frame_type, flags) + body

    @staticmethod
    def request_body(service, method, payload=b"", timeout_nano=0, metadata=()):
        pb = load_protos()
        req = pb.ttrpc.Request(service=service, method=method, payload=_encode(payload),
                               timeout_nano=timeout_nano)
        for k, v in metadata:
            req.metadata.add(key=k, value=v)
        return req.SerializeToString()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, service, method, payload=b"", timeout_nano=None):
        """Sends one request; returns its stream id (answer it with wait())."""
        stream = self.next_stream
        self.next_stream += 2
        if timeout_nano is None:
            timeout_nano = int(self.timeout * 1e9)
        body = self.request_body(service, method, payload, timeout_nano)
        self.sock.sendall(self.frame(stream, body))
        return stream

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no reply within the deadline")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            raise TimeoutError("no reply within the deadline")
        if not chunk:
            raise ConnectionError("connection closed by the agent")
        self.rx += chunk

    def read_frame(self, timeout=None):
        """The next frame from the peer as a Reply, whatever its stream."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.rx) < HDR.size:
            self._fill(deadline)
        n, stream, ftype, _flags = HDR.unpack_from(self.rx)
        if n > FRAME_MAX:
            raise ProtocolError(f"frame of {n} bytes on stream {stream}")
        while len(self.rx) < HDR.size + n:
            self._fill(deadline)
        body = bytes(self.rx[HDR.size:HDR.size + n])
        del self.rx[:HDR.size + n]
        return Reply(stream, ftype, body)

    def wait(self, stream, timeout=None):
        """The reply to stream; replies to other streams that arrive first are kept."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while stream not in self.pending:
            rep = self.read_frame(max(deadline - time.monotonic(), 0.001))
            if rep.stream in self.pending:
                raise ProtocolError(f"two replies on stream {rep.stream}")
            self.pending[rep.stream] = rep
        return self.pending.pop(stream)

    def call(self, service, method, payload=b"", timeout=None):
        """One unary call; returns the Reply (check .code, or use .decode(cls))."""
        return self.wait(self.send(service, method, payload), timeout)

    def agent(self, method, request=b"", response_cls=None, timeout=None):
        """A grpc.AgentService call; with response_cls, the decoded response (RpcError if not
        OK)."""
        rep = self.call("grpc.AgentService", method, request, timeout)
        return rep.decode(response_cls) if response_cls else rep
