"""Hand-framed ttRPC for host-side tests (bytes per the kata-agent notes, section 1.3).

Requests are encoded by hand; replies are decoded twice, by hand and, where Debian's
python3-protobuf is importable, by google.protobuf from a descriptor built here, so that the
agent's encoding is checked by code none of us wrote.
"""
import socket
import struct
import time

T_REQUEST, T_RESPONSE, T_DATA = 1, 2, 3
FRAME_MAX = 4 << 20
CODES = {0: "OK", 3: "INVALID_ARGUMENT", 5: "NOT_FOUND", 7: "PERMISSION_DENIED",
         8: "RESOURCE_EXHAUSTED", 12: "UNIMPLEMENTED", 13: "INTERNAL"}


class ProtocolError(Exception):
    pass


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def request(service, method, payload=b"", timeout_nano=30_000_000_000):
    body = field_bytes(1, service.encode()) + field_bytes(2, method.encode())
    if payload:
        body += field_bytes(3, payload)
    if timeout_nano:
        body += field_varint(4, timeout_nano)
    return body


def frame(stream, body, ftype=T_REQUEST, flags=0, length=None):
    n = len(body) if length is None else length
    return struct.pack(">IIBB", n, stream, ftype, flags) + body


def check_frame(stream=1):
    return frame(stream, request("grpc.Health", "Check"))


def parse_fields(data):
    """[(num, wiretype, value)]; raises ProtocolError on malformed input."""
    out, i = [], 0

    def rd_varint():
        nonlocal i
        v = shift = 0
        while True:
            if i >= len(data) or shift > 63:
                raise ProtocolError("truncated varint")
            b = data[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    while i < len(data):
        key = rd_varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            out.append((num, wt, rd_varint()))
        elif wt == 2:
            n = rd_varint()
            if i + n > len(data):
                raise ProtocolError("length past end")
            out.append((num, wt, data[i:i + n]))
            i += n
        elif wt in (1, 5):
            n = 8 if wt == 1 else 4
            if i + n > len(data):
                raise ProtocolError("fixed field past end")
            out.append((num, wt, data[i:i + n]))
            i += n
        else:
            raise ProtocolError(f"wire type {wt}")
    return out


class Reply:
    def __init__(self, stream, ftype, body):
        self.stream, self.type, self.body = stream, ftype, body
        self.code, self.message, self.payload = 0, "", b""
        if ftype != T_RESPONSE:
            return
        for num, wt, v in parse_fields(body):
            if num == 1 and wt == 2:
                for n2, w2, v2 in parse_fields(v):
                    if n2 == 1 and w2 == 0:
                        self.code = v2 - (1 << 64) if v2 >= 1 << 63 else v2
                    elif n2 == 2 and w2 == 2:
                        self.message = v2.decode(errors="replace")
            elif num == 2 and wt == 2:
                self.payload = v
        _cross_check(self)

    def health_status(self):
        status = 0
        for num, wt, v in parse_fields(self.payload):
            if num == 1 and wt == 0:
                status = v
        return status

    def __repr__(self):
        return (f"Reply(stream={self.stream}, type={self.type}, code={self.code} "
                f"{CODES.get(self.code, '')}, message={self.message!r}, payload={self.payload.hex()})")


_PB = None


def _protobuf_classes():
    """ttrpc.Response and grpc.HealthCheckResponse from google.protobuf, or None."""
    global _PB
    if _PB is not None:
        return _PB or None
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError:
        _PB = False
        return None
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="sealpod_test_ttrpc.proto", package="sealtest",
                                             syntax="proto3")
    st = fdp.message_type.add(name="Status")
    st.field.add(name="code", number=1, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    st.field.add(name="message", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    rs = fdp.message_type.add(name="Response")
    rs.field.add(name="status", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                 type_name=".sealtest.Status")
    rs.field.add(name="payload", number=2, type=F.TYPE_BYTES, label=F.LABEL_OPTIONAL)
    hc = fdp.message_type.add(name="HealthCheckResponse")
    hc.field.add(name="status", number=1, type=F.TYPE_ENUM, label=F.LABEL_OPTIONAL,
                 type_name=".sealtest.ServingStatus")
    en = fdp.enum_type.add(name="ServingStatus")
    for i, name in enumerate(["UNKNOWN", "SERVING", "NOT_SERVING"]):
        en.value.add(name=name, number=i)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    factory = message_factory.MessageFactory(pool)
    get = getattr(message_factory, "GetMessageClass", None)
    cls = {}
    for n in ("Response", "HealthCheckResponse"):
        d = pool.FindMessageTypeByName("sealtest." + n)
        cls[n] = get(d) if get else factory.GetPrototype(d)
    _PB = cls
    return cls


def _cross_check(rep):
    cls = _protobuf_classes()
    if not cls:
        return
    m = cls["Response"]()
    try:
        m.ParseFromString(rep.body)
    except Exception as e:  # google.protobuf.message.DecodeError
        raise ProtocolError(f"google.protobuf cannot decode the Response: {e}")
    if m.status.code != rep.code or m.payload != rep.payload:
        raise ProtocolError(f"hand decoder and google.protobuf disagree on {rep!r}")


def recv_exact(sock, n, deadline):
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no reply within the deadline ({len(buf)}/{n} bytes)")
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(buf))
        except socket.timeout:
            continue
        if not chunk:
            raise ConnectionError("connection closed by the peer")
        buf += chunk
    return bytes(buf)


def read_reply(sock, timeout=10.0):
    deadline = time.monotonic() + timeout
    n, stream, ftype, _flags = struct.unpack(">IIBB", recv_exact(sock, 10, deadline))
    if n > FRAME_MAX:
        raise ProtocolError(f"reply frame announces {n} bytes")
    return Reply(stream, ftype, recv_exact(sock, n, deadline))


def health_check(sock, stream=1, timeout=10.0):
    """Send Health/Check on STREAM; return the decoded reply (raises on a bad one)."""
    sock.sendall(check_frame(stream))
    while True:
        rep = read_reply(sock, timeout)
        if rep.stream == stream:
            break
    if rep.type != T_RESPONSE or rep.code != 0:
        raise ProtocolError(f"Check failed: {rep!r}")
    if rep.health_status() != 1:
        raise ProtocolError(f"Check answered status {rep.health_status()}, not SERVING: {rep!r}")
    cls = _protobuf_classes()
    if cls:
        hc = cls["HealthCheckResponse"]()
        hc.ParseFromString(rep.payload)
        if hc.status != 1:
            raise ProtocolError(f"google.protobuf reads status {hc.status}, not SERVING")
    return rep
