#!/usr/bin/python3
"""A Key Broker Service for sealpod's tests: KBS protocol 0.4.0 (trustee's RCAR handshake) on
loopback, as strict as trustee where the guest could get something wrong, with its own JOSE from
python3-jwcrypto (an implementation independent of ours).

    kbs.py --port P [--tls CERT KEY] [--mode test|production] [--reference FILE]
           [--resource repo/type/tag=FILE ...] [--ak PEM | --ak-tofu] [--log FILE]

Checks: exact protocol version; cookie session with a fresh 32-byte nonce; exact JWK members
(kty,crv,alg,x,y or kty,alg,n,e); report data = sha384(RFC 8785 JSON of {"additional-evidence",
"nonce","tee-pubkey"}); sample evidence (test mode only); TPM evidence: quote signed by the
registered AK (--ak, or trust on first use with --ak-tofu, test mode only), qualifying data =
report data[:32], PCR digest over the 24 PCRs sent, PCR4/5/9 (and PCR8 = initdata) equal to the
sealpod-measure reference values, and PCR23 = the replay of aa_eventlog (the guest's runtime
events, AAEL); TDX evidence (no DCAP here: the quote's signature is not checked, so production
mode refuses it): REPORT_DATA, MRCONFIGID = initdata (or, when it is zero, an InitData event in
RTMR3), cc_eventlog replayed against RTMR0-3 as Trustee does, MRTD/RTMR1/RTMR2 = reference values;
--runtime-events lists the runtime events a guest may have recorded. "production" mode refuses sample and bare host-vTPM (tpm)
evidence, as a deployment must (DESIGN.md, Trust rules). Resources are released only to an
attested session or bearer token, as a flattened JWE to the TEE key.

Errors are 401 with {"type": ".../errors/<Kind>", "detail": ...}, as trustee answers. Every
decision is logged as one JSON line (--log). Resource names under fault/ misbehave on purpose:
fault/x/garbage, fault/x/huge, fault/x/badjwe, fault/x/badtag, fault/x/notjson, and
fault/x/refuse (a PolicyDeny whose detail is --refusal-detail: what a real KBS says about the
owner's resource policy, which the guest must keep off everything the host reads).
--refuse-attest refuses every attestation the same way.
"""
import argparse
import base64
import hashlib
import http.server
import json
import os
import secrets
import ssl
import struct
import sys
import threading
import time
import tomllib
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from jwcrypto import jwe, jwk, jwt

VERSION = "0.4.0"
ERR = "https://github.com/confidential-containers/kbs/errors/"
TPM_GENERATED = 0xFF544347
TPM_ST_ATTEST_QUOTE = 0x8018


def b64u_dec(s):
    if not isinstance(s, str) or "=" in s:
        raise ValueError("not base64url without padding")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jcs(obj):
    """RFC 8785 for what the runtime data holds (strings and objects with ASCII keys)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Refused(Exception):
    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def check_jwk(k):
    if not isinstance(k, dict):
        raise Refused("InvalidRequest", "tee-pubkey is not an object")
    if k.get("kty") == "EC":
        if set(k) != {"kty", "crv", "alg", "x", "y"}:
            raise Refused("InvalidRequest", f"EC JWK members {sorted(k)}")
        if k["crv"] != "P-256" or k["alg"] != "ECDH-ES+A256KW":
            raise Refused("InvalidRequest", "EC JWK must be P-256 / ECDH-ES+A256KW")
        if len(b64u_dec(k["x"])) != 32 or len(b64u_dec(k["y"])) != 32:
            raise Refused("InvalidRequest", "EC coordinates must be 32 bytes")
    elif k.get("kty") == "RSA":
        if set(k) != {"kty", "alg", "n", "e"} or k["alg"] != "RSA-OAEP-256":
            raise Refused("InvalidRequest", f"RSA JWK members {sorted(k)} / alg")
        n = b64u_dec(k["n"])
        if n[0] == 0 or len(n) < 256:
            raise Refused("InvalidRequest", "RSA modulus not minimal or under 2048 bits")
    else:
        raise Refused("InvalidRequest", "unsupported kty")
    return jwk.JWK(**k)


def parse_quote(msg):
    """TPMS_ATTEST of a quote → (extraData, [(hash, bitmap)], pcrDigest)."""
    off = 0

    def take(n):
        nonlocal off
        if off + n > len(msg):
            raise Refused("AttestationFailed", "TPMS_ATTEST truncated")
        b = msg[off:off + n]
        off += n
        return b

    magic, typ = struct.unpack(">IH", take(6))
    if magic != TPM_GENERATED or typ != TPM_ST_ATTEST_QUOTE:
        raise Refused("AttestationFailed", "not a TPM-generated quote")
    take(struct.unpack(">H", take(2))[0])  # qualifiedSigner
    extra = take(struct.unpack(">H", take(2))[0])
    take(17 + 8)  # clockInfo, firmwareVersion
    sels = []
    for _ in range(struct.unpack(">I", take(4))[0]):
        alg, size = struct.unpack(">HB", take(3))
        sels.append((alg, take(size)))
    digest = take(struct.unpack(">H", take(2))[0])
    if off != len(msg):
        raise Refused("AttestationFailed", "trailing bytes in TPMS_ATTEST")
    return extra, sels, digest


# --- event logs: TCG2 crypto-agile (CCEL, runtime events), replayed independently of the guest --
AAEL_TAG = 0x4141454C  # "AAEL" tagged event id (EV_EVENT_TAG)
TCG_ALGS = {0x0B: ("sha256", 32), 0x0C: ("sha384", 48), 0x0D: ("sha512", 64)}


def parse_evlog(b):
    """A TCG2 log → [(mr, type, {alg: digest}, data)], ending at its end or an 8-byte run of
    0xFF or zeros. Raises Refused on anything malformed."""
    def bad(why):
        raise Refused("AttestationFailed", f"event log: {why}")
    if len(b) < 32 or struct.unpack_from("<I", b, 4)[0] != 3:
        bad("no Spec ID event")
    size = struct.unpack_from("<I", b, 28)[0]
    spec = b[32:32 + size]
    if len(spec) != size or size < 29 or spec[:16] != b"Spec ID Event03\0":
        bad("no Spec ID event")
    n = struct.unpack_from("<I", spec, 24)[0]
    if not 0 < n <= 8 or 28 + 4 * n + 1 > size:
        bad("Spec ID algorithms")
    sizes = {}
    for i in range(n):
        alg, sz = struct.unpack_from("<HH", spec, 28 + 4 * i)
        sizes[alg] = sz
    off, out = 32 + size, []
    while off < len(b) and b[off:off + 8] not in (b"\xff" * 8, b"\0" * 8):
        if len(b) - off < 12:
            bad(f"truncated event at {off}")
        mr, typ, cnt = struct.unpack_from("<III", b, off)
        off += 12
        digests = {}
        for _ in range(cnt):
            if len(b) - off < 2:
                bad("truncated digest")
            alg = struct.unpack_from("<H", b, off)[0]
            if alg not in sizes or alg in digests or len(b) - off - 2 < sizes[alg]:
                bad(f"digest 0x{alg:x} at {off}")
            digests[alg] = b[off + 2:off + 2 + sizes[alg]]
            off += 2 + sizes[alg]
        if len(b) - off < 4:
            bad("truncated event size")
        dl = struct.unpack_from("<I", b, off)[0]
        off += 4
        if dl > len(b) - off:
            bad(f"event data overruns the log at {off}")
        out.append((mr, typ, digests, b[off:off + dl]))
        off += dl
        if len(out) > 16384:
            bad("too many events")
    return out


def replay(events, mr, alg):
    name, size = TCG_ALGS[alg]
    reg = bytes(size)
    for m, typ, digests, _ in events:
        if m != mr or typ == 3:
            continue
        if alg not in digests:
            raise Refused("AttestationFailed", f"event log: an MR {mr} event has no {name}")
        reg = hashlib.new(name, reg + digests[alg]).digest()
    return reg


def aael_entries(events, mr, alg):
    """The runtime events at MR index mr: (domain, operation, content), each digest checked
    against its data (a log whose entry text is not what was extended is refused)."""
    out = []
    for m, typ, digests, data in events:
        if m != mr:
            continue
        if typ != 6 or len(data) < 8 or struct.unpack_from("<I", data)[0] != AAEL_TAG:
            raise Refused("AttestationFailed", f"event log: MR {mr} holds a non-AAEL event")
        if hashlib.new(TCG_ALGS[alg][0], data).digest() != digests.get(alg):
            raise Refused("AttestationFailed", "event log: an AAEL entry is not what was "
                          "extended")
        n = struct.unpack_from("<I", data, 4)[0]
        text = data[8:]
        if n != len(text):
            raise Refused("AttestationFailed", "event log: AAEL size")
        try:
            domain, op, content = text.decode("ascii").split(" ", 2)
        except ValueError:
            raise Refused("AttestationFailed", "event log: AAEL entry is not 'domain op content'")
        out.append({"domain": domain, "operation": op, "content": content})
    return out


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.sessions = {}
        self.resources = {}
        self.reference = {}
        self.ak = None
        self.token_key = jwk.JWK.generate(kty="EC", crv="P-256")
        self.logf = open(args.log, "a") if args.log else None
        for spec in args.resource or []:
            path, _, file = spec.partition("=")
            with open(file, "rb") as f:
                self.resources[path] = f.read()
        if args.reference:
            with open(args.reference) as f:
                self.reference = json.load(f)
        if args.ak:
            with open(args.ak, "rb") as f:
                self.ak = f.read()
        self.rvps = {}
        if args.rvps:
            with open(args.rvps) as f:
                msg = json.load(f)
            if msg.get("version") != "0.1.0" or msg.get("type") != "sample":
                raise SystemExit("--rvps: not an RVPS sample message")
            self.rvps = json.loads(base64.b64decode(msg["payload"], validate=True))

    def log(self, **kv):
        kv["time"] = round(time.time(), 3)
        line = json.dumps(kv, sort_keys=True)
        with self.lock:
            if self.logf:
                self.logf.write(line + "\n")
                self.logf.flush()
        print("kbs:", line, file=sys.stderr, flush=True)

    # --- evidence -------------------------------------------------------------------------
    def verify_sample(self, ev, digest):
        if self.args.mode == "production":
            raise Refused("PolicyDeny", "sample evidence is refused in production mode")
        if not isinstance(ev, dict) or not isinstance(ev.get("svn"), str):
            raise Refused("AttestationFailed", "sample evidence needs svn")
        if base64.b64decode(ev.get("report_data", ""), validate=True) != digest:
            raise Refused("AttestationFailed", "sample report_data does not bind the runtime data")
        return {"svn": ev["svn"]}

    def verify_tpm(self, ev, digest, initdata):
        if self.args.mode == "production":
            raise Refused("PolicyDeny",
                          "bare host-vTPM evidence proves nothing about the host: refused in "
                          "production mode")
        try:
            ak_der = base64.b64decode(ev["ak_public"], validate=True)
            msg = base64.b64decode(ev["tpm_quote"]["message"], validate=True)
            sig = base64.b64decode(ev["tpm_quote"]["signature"], validate=True)
            pcrs = [bytes.fromhex(p) for p in ev["tpm_quote"]["pcrs"]]
        except (KeyError, TypeError, ValueError) as e:
            raise Refused("AttestationFailed", f"malformed tpm evidence: {e}")
        if len(pcrs) != 24 or any(len(p) != 32 for p in pcrs):
            raise Refused("AttestationFailed", "24 sha256 PCRs expected")
        fp = hashlib.sha256(ak_der).hexdigest()
        with self.lock:
            if self.ak is None and self.args.ak_tofu:
                self.ak = ak_der
                self.log(event="ak-registered", how="trust on first use (test mode)", ak=fp)
            known = self.ak
        if known is None:
            raise Refused("AttestationFailed", "no attestation key registered")
        if known.startswith(b"-----"):
            known = serialization.load_pem_public_key(known).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if known != ak_der:
            raise Refused("AttestationFailed", f"quote signed by unregistered key sha256:{fp}")
        key = serialization.load_der_public_key(ak_der)
        if len(sig) < 6 or struct.unpack(">HHH", sig[:6]) != (0x14, 0x0B, len(sig) - 6):
            raise Refused("AttestationFailed", "signature is not RSASSA-SHA256")
        try:
            key.verify(sig[6:], msg, padding.PKCS1v15(), hashes.SHA256())
        except Exception:
            raise Refused("AttestationFailed", "quote signature does not verify")
        extra, sels, pcr_digest = parse_quote(msg)
        if extra != digest[:32]:
            raise Refused("AttestationFailed", "quote qualifying data is not the report data")
        chosen = []
        for alg, bitmap in sels:
            if alg != 0x0B:
                raise Refused("AttestationFailed", "only the sha256 bank is accepted")
            chosen += [i for i in range(len(bitmap) * 8) if bitmap[i // 8] >> (i % 8) & 1]
        if chosen != list(range(24)):
            raise Refused("AttestationFailed", "quote must cover PCRs 0-23")
        if hashlib.sha256(b"".join(pcrs)).digest() != pcr_digest:
            raise Refused("AttestationFailed", "PCR values do not match the quoted digest")
        # PCR8: the initdata digest, extended once by the guest.
        want8 = bytes(32)
        if initdata is not None:
            want8 = hashlib.sha256(bytes(32) + hashlib.sha256(initdata.encode()).digest()).digest()
        if pcrs[8] != want8:
            raise Refused("PolicyDeny", f"PCR8 {pcrs[8].hex()} != initdata {want8.hex()}")
        # PCR23: the guest's runtime events; the log must replay to the quoted value exactly.
        aael = []
        if "aa_eventlog" in ev:
            try:
                log = base64.b64decode(ev["aa_eventlog"], validate=True)
            except (TypeError, ValueError):
                raise Refused("AttestationFailed", "aa_eventlog is not base64")
            events = parse_evlog(log)
            if any(m != 23 for m, *_ in events):
                raise Refused("AttestationFailed", "aa_eventlog: events outside PCR23")
            aael = aael_entries(events, 23, 0x0B)
            if replay(events, 23, 0x0B) != pcrs[23]:
                raise Refused("AttestationFailed",
                              "aa_eventlog does not replay to the quoted PCR23")
        elif pcrs[23] != bytes(32):
            raise Refused("AttestationFailed", "PCR23 was extended but no aa_eventlog was sent")
        self.check_runtime_events(aael)
        # --rvps: the rules README gives for tpm evidence, every named PCR in its list
        for name, want in self.rvps.items():
            if name.startswith("pcr") and pcrs[int(name[3:])].hex() not in want:
                raise Refused("PolicyDeny", f"{name} is not a reference value")
            if name == "trusted_aks" and ev["ak_public"] not in want:
                raise Refused("PolicyDeny", "the attestation key is not a trusted AK")
        for n in (4, 5, 9):
            ref = self.reference.get(f"pcr{n}")
            if ref is None:
                continue
            if pcrs[n].hex() != ref:
                raise Refused("PolicyDeny",
                              f"PCR{n} {pcrs[n].hex()} is not the reference value {ref}")
        return {"ak": fp, "pcr4": pcrs[4].hex(), "pcr9": pcrs[9].hex(), "aael": aael}

    def check_runtime_events(self, aael):
        """--runtime-events: the only (domain, operation) pairs a guest may have recorded."""
        allowed = self.args.runtime_events
        if allowed is None:
            return
        for e in aael:
            if f"{e['domain']}/{e['operation']}" not in allowed:
                raise Refused("PolicyDeny", f"runtime event {e['domain']} {e['operation']} "
                              "is not allowed")

    def tdx_rvps(self, f, events):
        """--rvps: Trustee's default TDX rules (executables): rtmr_1 and rtmr_2 (and mr_td,
        rtmr_0 when given) in the reference values, and an EV_EFI_BOOT_SERVICES_APPLICATION
        event (the kernel) and a LOADED_IMAGE::LoadOptions event (the command line) in the
        replayed cc_eventlog whose digests are the tdvfkernel and tdvfkernelparams values."""
        rv = self.rvps
        for name, field in (("mr_td", "mrtd"), ("rtmr_0", "rtmr0"), ("rtmr_1", "rtmr1"),
                            ("rtmr_2", "rtmr2")):
            if name in rv and f[field].hex() not in rv[name]:
                raise Refused("PolicyDeny", f"{name} {f[field].hex()} is not a reference value")
        tag = b"LOADED_IMAGE::LoadOptions"
        for name, match in (("tdvfkernel", lambda t, d: t == 0x80000003),
                            ("tdvfkernelparams", lambda t, d: t == 6 and tag in d[:64])):
            if name in rv and not any(match(t, d) and g.get(0x0C, b"").hex() in rv[name]
                                      for _, t, g, d in events):
                raise Refused("PolicyDeny", f"no {name} event with a reference digest")

    def verify_tdx(self, ev, digest, initdata):
        """What the test KBS can check of TDX evidence without Intel's collateral: the quote's
        body (v4, v5), REPORT_DATA, the initdata binding (MRCONFIGID, or an InitData event in
        RTMR3 when it is zero), and the cc_eventlog replayed against RTMR0-3 as Trustee does.
        The quote's signature is NOT checked here: refused in production mode."""
        if self.args.mode == "production":
            raise Refused("PolicyDeny", "the test KBS cannot verify a TDX quote's signature")
        try:
            q = base64.b64decode(ev["quote"], validate=True)
            log = base64.b64decode(ev["cc_eventlog"], validate=True) if "cc_eventlog" in ev \
                else None
        except (KeyError, TypeError, ValueError) as e:
            raise Refused("AttestationFailed", f"malformed tdx evidence: {e}")
        if len(q) < 48 + 6 + 584:
            raise Refused("AttestationFailed", "TDX quote too short")
        ver = struct.unpack_from("<H", q)[0]
        body = q[48:48 + 584] if ver == 4 else q[48 + 6:48 + 6 + 584] if ver == 5 else None
        if body is None:
            raise Refused("AttestationFailed", f"TDX quote version {ver}")
        f = {"mrtd": body[136:184], "mrconfigid": body[184:232], "rtmr0": body[328:376],
             "rtmr1": body[376:424], "rtmr2": body[424:472], "rtmr3": body[472:520],
             "report_data": body[520:584]}
        if f["report_data"] != digest.ljust(64, b"\0"):
            raise Refused("AttestationFailed", "REPORT_DATA is not the runtime data digest")
        aael = []
        if log is not None:
            events = parse_evlog(log)
            for i in range(4):
                if replay(events, i + 1, 0x0C) != f[f"rtmr{i}"]:
                    raise Refused("AttestationFailed",
                                  f"cc_eventlog does not replay to RTMR{i}")
            aael = aael_entries(events, 4, 0x0C)
        elif f["rtmr3"] != bytes(48):
            raise Refused("AttestationFailed", "RTMR3 was extended but no cc_eventlog was sent")
        if initdata is not None:
            try:
                alg = tomllib.loads(initdata)["algorithm"]
                hashlib.new(alg)
            except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError):
                raise Refused("InvalidRequest", "initdata has no usable algorithm")
            idd = hashlib.new(alg, initdata.encode()).digest()
            if f["mrconfigid"] == bytes(48):
                want = json.dumps({"digest": f"{alg}:{idd.hex()}"}, separators=(",", ":"))
                ok = [e for e in aael if e["operation"] == "InitData"]
                if len(ok) != 1 or ok[0]["content"] != want:
                    raise Refused("PolicyDeny", "MRCONFIGID is zero and RTMR3 does not record "
                                  "this initdata")
            elif f["mrconfigid"] != idd[:48].ljust(48, b"\0"):
                raise Refused("PolicyDeny", "MRCONFIGID is not the initdata digest")
        self.check_runtime_events(aael)
        self.tdx_rvps(f, events if log is not None else [])
        for k in ("mrtd", "rtmr1", "rtmr2"):
            ref = self.reference.get(k)
            if ref is not None and f[k].hex() != ref:
                raise Refused("PolicyDeny", f"{k} {f[k].hex()} is not the reference value")
        return {k: f[k].hex() for k in ("mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3")} | \
            {"aael": aael, "eventlog": log is not None}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sealpod-test-kbs/1"

    def log_message(self, fmt, *a):
        pass

    @property
    def st(self):
        return self.server.state

    def reply(self, code, body, ctype="application/json", cookie=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if cookie:
            self.send_header("Set-Cookie", f"kbs-session-id={cookie}")
        self.end_headers()
        self.wfile.write(body)

    def refuse(self, e, what):
        self.st.log(event=what, result="refused", kind=e.kind, reason=e.detail)
        self.reply(401, {"type": ERR + e.kind, "detail": e.detail})

    def body_json(self):
        n = int(self.headers.get("Content-Length", "0"))
        if n > 4 << 20:
            raise Refused("InvalidRequest", "body too large")
        try:
            return json.loads(self.rfile.read(n))
        except ValueError:
            raise Refused("InvalidRequest", "body is not JSON")

    def session(self):
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "kbs-session-id":
                s = self.st.sessions.get(v)
                if s and s["expires"] > time.time():
                    return v, s
        return None, None

    def do_POST(self):
        try:
            if self.path == "/kbs/v0/auth":
                return self.auth()
            if self.path == "/kbs/v0/attest":
                return self.attest()
            self.reply(404, {"type": ERR + "InvalidRequestPath", "detail": self.path})
        except Refused as e:
            self.refuse(e, self.path.rsplit("/", 1)[-1])

    def auth(self):
        req = self.body_json()
        if not isinstance(req, dict) or req.get("version") != VERSION:
            raise Refused("ProtocolVersion",
                          f"KBS Client Protocol Version Mismatch: {req.get('version')!r}")
        if req.get("tee") not in ("sample", "tpm", "tdx", "snp"):
            raise Refused("InvalidRequest", f"unsupported tee {req.get('tee')!r}")
        if "extra-params" not in req:
            raise Refused("InvalidRequest", "extra-params missing")
        sid = uuid.uuid4().hex
        nonce = base64.b64encode(secrets.token_bytes(32)).decode()
        if self.st.args.bad_nonce:
            self.st.log(event="auth", result="fault", kind="bad nonce")
            return self.reply(200, {"nonce": "!!not base64!!", "extra-params": ""}, cookie=sid)
        self.st.sessions[sid] = {"tee": req["tee"], "nonce": nonce, "attested": False,
                                 "expires": time.time() + 300}
        self.st.log(event="auth", tee=req["tee"], session=sid)
        self.reply(200, {"nonce": nonce, "extra-params": ""}, cookie=sid)

    def attest(self):
        if self.st.args.delay_attest:
            time.sleep(self.st.args.delay_attest)
        sid, s = self.session()
        if not s:
            raise Refused("UnAuthenticatedCookie", "no valid kbs-session-id cookie")
        a = self.body_json()
        if not isinstance(a, dict) or set(a) - {"init-data", "runtime-data", "tee-evidence"}:
            raise Refused("InvalidRequest", "unexpected members in the attestation")
        rd, te = a.get("runtime-data"), a.get("tee-evidence")
        if not isinstance(rd, dict) or set(rd) != {"nonce", "tee-pubkey"}:
            raise Refused("InvalidRequest", "runtime-data must hold exactly nonce and tee-pubkey")
        if not isinstance(te, dict) or set(te) != {"primary_evidence", "additional_evidence"}:
            raise Refused("InvalidRequest", "tee-evidence members")
        if rd["nonce"] != s["nonce"]:
            raise Refused("AttestationFailed", "nonce does not match the challenge")
        s["nonce"] = None  # one attestation per challenge: a replay finds no nonce
        key = check_jwk(rd["tee-pubkey"])
        initdata = None
        if "init-data" in a:
            idd = a["init-data"]
            if not isinstance(idd, dict) or idd.get("format") != "toml":
                raise Refused("InvalidRequest", "Unsupported initdata format")
            initdata = idd["body"]
        add = te["additional_evidence"]
        if not isinstance(add, str):
            raise Refused("InvalidRequest", "additional_evidence must be a string")
        digest = hashlib.sha384(jcs({"tee-pubkey": rd["tee-pubkey"], "nonce": rd["nonce"],
                                     "additional-evidence": add})).digest()
        ev = te["primary_evidence"]
        if self.st.args.refuse_attest:
            raise Refused("PolicyDeny", self.st.args.refusal_detail)
        if s["tee"] == "sample":
            claims = self.st.verify_sample(ev, digest)
        elif s["tee"] == "tpm":
            claims = self.st.verify_tpm(ev, digest, initdata)
        elif s["tee"] == "tdx":
            claims = self.st.verify_tdx(ev, digest, initdata)
        else:
            raise Refused("AttestationFailed", f"{s['tee']} verification is not in the test KBS")
        s.update(attested=True, key=key)
        tok = jwt.JWT(header={"alg": "ES256"},
                      claims={"exp": int(time.time()) + 300, "tee": s["tee"],
                              "tee-pubkey": rd["tee-pubkey"], "claims": claims})
        tok.make_signed_token(self.st.token_key)
        self.st.log(event="attest", result="ok", tee=s["tee"], session=sid, claims=claims,
                    initdata_sha256=hashlib.sha256(initdata.encode()).hexdigest()
                    if initdata is not None else None)
        self.reply(200, {"token": tok.serialize()}, cookie=sid)

    def do_GET(self):
        try:
            self.resource()
        except Refused as e:
            self.refuse(e, "resource")

    def resource(self):
        pfx = "/kbs/v0/resource/"
        if not self.path.startswith(pfx) or len(self.path[len(pfx):].split("/")) != 3:
            return self.reply(404, {"type": ERR + "InvalidRequestPath", "detail": self.path})
        path = self.path[len(pfx):]
        key = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            try:
                t = jwt.JWT(jwt=auth[7:], key=self.st.token_key, check_claims={"exp": None})
                key = check_jwk(json.loads(t.claims)["tee-pubkey"])
            except Refused:
                raise
            except Exception as e:
                raise Refused("TokenNotFound", f"bad token: {type(e).__name__}")
        else:
            _, s = self.session()
            if s and s["attested"]:
                key = s["key"]
        if key is None:
            raise Refused("TokenNotFound", "not attested")
        if path.startswith("fault/"):
            return self.fault(path.rsplit("/", 1)[-1], key)
        data = self.st.resources.get(path)
        if data is None:
            raise Refused("PluginInternalError", f"no resource {path}")
        self.st.log(event="resource", result="released", path=path, bytes=len(data))
        self.reply(200, encrypt(key, data))

    def fault(self, kind, key):
        self.st.log(event="resource", result="fault", kind=kind)
        if kind == "garbage":
            return self.reply(200, b"\x00\xffnot json at all{{{", "application/octet-stream")
        if kind == "notjson":
            return self.reply(200, b"[1,2,3]")
        if kind == "huge":
            return self.reply(200, b"{\"protected\":\"" + b"A" * (3 << 20) + b"\"}")
        if kind == "refuse":
            raise Refused("PolicyDeny", self.st.args.refusal_detail)
        j = json.loads(encrypt(key, b"fault secret"))
        if kind == "badjwe":
            del j["iv"]
        elif kind == "badtag":
            t = bytearray(b64u_dec(j["tag"]))
            t[0] ^= 1
            j["tag"] = base64.urlsafe_b64encode(bytes(t)).decode().rstrip("=")
        return self.reply(200, j)


def encrypt(key, data):
    """A flattened JWE, A256GCM, key management from the key's alg."""
    alg = key.get("alg") or ("ECDH-ES+A256KW" if key.get("kty") == "EC" else "RSA-OAEP-256")
    pub = jwk.JWK(**{k: v for k, v in key.export_public(as_dict=True).items() if k != "alg"})
    e = jwe.JWE(data, protected=json.dumps({"alg": alg, "enc": "A256GCM"}))
    e.add_recipient(pub)
    # Flattened JSON as jwcrypto makes it: trustee's five members, plus (for ECDH-ES) the
    # per-recipient "header" holding epk, which RFC 7516 allows and trustee puts in protected.
    return e.serialize(compact=False).encode()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--mode", choices=("test", "production"), default="test")
    ap.add_argument("--reference")
    ap.add_argument("--resource", action="append")
    ap.add_argument("--ak")
    ap.add_argument("--ak-tofu", action="store_true")
    ap.add_argument("--log")
    ap.add_argument("--delay-attest", type=float, default=0, help="seconds before answering")
    ap.add_argument("--bad-nonce", action="store_true", help="fault: a challenge nonce that "
                    "is not base64")
    ap.add_argument("--refusal-detail", default="the resource policy of this KBS denies it",
                    help="the detail of fault/x/refuse and --refuse-attest refusals")
    ap.add_argument("--rvps", help="reference values as the RVPS message sealpod-measure "
                    "--format rvps writes, judged by README's Trustee rules")
    ap.add_argument("--runtime-events", action="append", metavar="DOMAIN/OPERATION",
                    help="a runtime event (AAEL) the guest may have recorded; given once or "
                    "more, any other is refused")
    ap.add_argument("--refuse-attest", action="store_true",
                    help="refuse every attestation (PolicyDeny, --refusal-detail)")
    args = ap.parse_args()
    if args.ak_tofu and args.mode == "production":
        ap.error("--ak-tofu is for test mode only")
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args)
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*args.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.state.log(event="listening", port=srv.server_address[1], mode=args.mode,
                  tls=bool(args.tls))
    srv.serve_forever()


if __name__ == "__main__":
    main()
