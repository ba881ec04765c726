"""The test KBS judging evidence the way Trustee does (no guest boot): TDX evidence whose
cc_eventlog is Trustee's real CCEL with an attestation agent's runtime events
(tests/data/trustee/CCEL_AAEL_alibabacloud) replayed against RTMR0-3 of a quote (Trustee's
tdx_quote_4.dat with its RTMRs, MRCONFIGID and REPORT_DATA set to what each case tests), a log
that does not replay, runtime events outside the allowed list, and the RTMR3 initdata binding."""
import base64
import hashlib
import http.client
import json
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "kbs"))
import kbs as kbsmod  # noqa: E402
import test_attest as ta  # noqa: E402

DATA = os.path.join(TOP, "tests", "data", "trustee")
JWK = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
       "x": base64.urlsafe_b64encode(bytes(32)).decode().rstrip("="),
       "y": base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")}


def read(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def aael_event(domain, op, content, mr=4):
    """An AAEL entry as a TCG2 EV_EVENT_TAG event (sha384), written here from the spec."""
    text = f"{domain} {op} {content}".encode()
    data = struct.pack("<II", kbsmod.AAEL_TAG, len(text)) + text
    return struct.pack("<IIIH", mr, 6, 1, 0x0C) + hashlib.sha384(data).digest() + \
        struct.pack("<I", len(data)) + data


def strip_end(log):
    return log[:-8] if log.endswith(b"\xff" * 8) else log


def quote(log, report_data, mrconfigid=bytes(48)):
    """Trustee's v4 quote, its body's RTMRs set to the replay of log (or zero)."""
    q = bytearray(read("tdx_quote_4.dat"))
    body = 48
    events = kbsmod.parse_evlog(log) if log else []
    for i in range(4):
        reg = kbsmod.replay(events, i + 1, 0x0C)
        q[body + 328 + 48 * i:body + 376 + 48 * i] = reg
    q[body + 184:body + 232] = mrconfigid
    q[body + 520:body + 584] = report_data.ljust(64, b"\0")
    return bytes(q)


class Client:
    def __init__(self, kbs):
        self.port = kbs.port

    def post(self, path, body, cookie=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = {"Content-Type": "application/json"}
        if cookie:
            h["Cookie"] = cookie
        c.request("POST", path, json.dumps(body), h)
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"{}"), r.getheader("Set-Cookie")

    def attest(self, make_evidence, initdata=None):
        """One handshake for tee tdx: make_evidence(report_data) gives the evidence."""
        st, ch, cookie = self.post("/kbs/v0/auth", {"version": "0.4.0", "tee": "tdx",
                                                    "extra-params": {}})
        assert st == 200, ch
        rd = {"additional-evidence": "", "nonce": ch["nonce"], "tee-pubkey": JWK}
        d = hashlib.sha384(json.dumps(rd, sort_keys=True, separators=(",", ":"))
                           .encode()).digest()
        body = {"runtime-data": {"nonce": ch["nonce"], "tee-pubkey": JWK},
                "tee-evidence": {"primary_evidence": make_evidence(d),
                                 "additional_evidence": ""}}
        if initdata is not None:
            body["init-data"] = {"format": "toml", "body": initdata}
        st, body, _ = self.post("/kbs/v0/attest", body, cookie.split(";")[0])
        return st, body


def b64(b):
    return base64.b64encode(b).decode()


def test_trustee_kbs_replays_tdx_cc_eventlog():
    work = ta.tmpdir("trustee")
    kbs = ta.Kbs(work)
    try:
        c = Client(kbs)
        log = read("CCEL_AAEL_alibabacloud")
        st, body = c.attest(lambda d: {"cc_eventlog": b64(log), "quote": b64(quote(log, d))})
        assert st == 200, body
        claims = kbs.events("attest")[-1]["claims"]
        assert claims["eventlog"] and [e["operation"] for e in claims["aael"]] == \
            ["some-operation", "some-operation"], claims
        # an AAEL entry changed after it was extended: its digest no longer covers it
        bad = log.replace(b"some-content", b"some-c0ntent")
        st, body = c.attest(lambda d: {"cc_eventlog": b64(bad), "quote": b64(quote(log, d))})
        assert st == 401 and "not what was extended" in body["detail"], body
        # an entry dropped from the log: RTMR3 does not replay
        events = strip_end(log)
        last = aael_event("coco.com", "some-operation", "x")
        st, body = c.attest(lambda d: {"cc_eventlog": b64(events + last + b"\xff" * 8),
                                       "quote": b64(quote(log, d))})
        assert st == 401 and "does not replay to RTMR3" in body["detail"], body
        # RTMR3 extended, no log sent
        st, body = c.attest(lambda d: {"quote": b64(quote(log, d))})
        assert st == 401 and "no cc_eventlog" in body["detail"], body
        # a firmware event's digest changed: RTMR1 (MR 2) does not replay
        i = log.index(b"Exit Boot Services Invocation") - 4 - 48
        tampered = log[:i] + bytes([log[i] ^ 1]) + log[i + 1:]
        st, body = c.attest(lambda d: {"cc_eventlog": b64(tampered),
                                       "quote": b64(quote(log, d))})
        assert st == 401 and "does not replay to RTMR1" in body["detail"], body
        # a malformed log is refused, not half-read
        st, body = c.attest(lambda d: {"cc_eventlog": b64(log[:200]),
                                       "quote": b64(quote(log, d))})
        assert st == 401 and "event log" in body["detail"], body
    finally:
        kbs.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_trustee_kbs_rtmr3_initdata_binding_and_event_policy():
    work = ta.tmpdir("trustee")
    kbs = ta.Kbs(work, "--runtime-events", "github.com/confidential-containers/InitData",
                 "--runtime-events", "github.com/confidential-containers/PullImage")
    toml = 'version = "0.1.0"\nalgorithm = "sha384"\n[data]\n'
    idd = hashlib.sha384(toml.encode()).hexdigest()
    try:
        c = Client(kbs)
        base = read("CCEL_AAEL_alibabacloud")
        # the firmware's events: everything before the first AAEL entry's event header
        firmware = base[:base.index(b"LEAA") - (4 + 4 + 4 + 2 + 48 + 4)]
        init = aael_event("github.com/confidential-containers", "InitData",
                          json.dumps({"digest": f"sha384:{idd}"}, separators=(",", ":")))
        pull = aael_event("github.com/confidential-containers", "PullImage",
                          '{"digest":"sha256:' + "0c" * 32 + '","image":"alpine"}')
        log = firmware + init + pull + b"\xff" * 8
        # MRCONFIGID zero: the InitData event in RTMR3 binds the initdata
        st, body = c.attest(lambda d: {"cc_eventlog": b64(log), "quote": b64(quote(log, d))},
                            initdata=toml)
        assert st == 200, body
        # another initdata document: the recorded digest is not its own
        st, body = c.attest(lambda d: {"cc_eventlog": b64(log), "quote": b64(quote(log, d))},
                            initdata=toml + "# changed\n")
        assert st == 401 and "does not record this initdata" in body["detail"], body
        # no InitData event at all
        nolog = firmware + pull + b"\xff" * 8
        st, body = c.attest(lambda d: {"cc_eventlog": b64(nolog),
                                       "quote": b64(quote(nolog, d))}, initdata=toml)
        assert st == 401 and "does not record" in body["detail"], body
        # MRCONFIGID set: it must be the digest, whatever RTMR3 says
        mrc = bytes.fromhex(idd)
        st, body = c.attest(lambda d: {"cc_eventlog": b64(nolog),
                                       "quote": b64(quote(nolog, d, mrc))}, initdata=toml)
        assert st == 200, body
        st, body = c.attest(lambda d: {"cc_eventlog": b64(nolog),
                                       "quote": b64(quote(nolog, d, bytes(47) + b"\1"))},
                            initdata=toml)
        assert st == 401 and "MRCONFIGID is not" in body["detail"], body
        # a runtime event outside the allowed list
        st, body = c.attest(lambda d: {"cc_eventlog": b64(base), "quote": b64(quote(base, d))})
        assert st == 401 and "coco.com some-operation is not allowed" in body["detail"], body
    finally:
        kbs.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_trustee_kbs_production_refuses_unverified_tdx():
    work = ta.tmpdir("trustee")
    kbs = ta.Kbs(work, "--mode", "production")
    try:
        log = read("CCEL_AAEL_alibabacloud")
        st, body = Client(kbs).attest(lambda d: {"cc_eventlog": b64(log),
                                                 "quote": b64(quote(log, d))})
        assert st == 401 and "signature" in body["detail"], body
    finally:
        kbs.stop()
        shutil.rmtree(work, ignore_errors=True)


# --- the Trustee profile: sealpod-measure --format rvps judged by README's rules --------------
EV_TYPES = {"EV_EFI_BOOT_SERVICES_APPLICATION": 0x80000003, "EV_EFI_ACTION": 0x80000007,
            "EV_SEPARATOR": 4, "EV_EVENT_TAG": 6}


def rvps(work, name, *args):
    out = subprocess.run([ta.MEASURE, *args, "--format", "rvps"], check=True,
                         capture_output=True, text=True).stdout
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(out)
    return path


def tdx_log(cmdline):
    """A CC event log as OVMF writes it for our kernel and initrd: RTMR0 from Trustee's OVMF
    CCEL, RTMR1/RTMR2 events with the digests sealpod-measure predicts (LoadOptions as OVMF
    tags it)."""
    pred = json.loads(subprocess.run(
        [ta.MEASURE, "--tee", "tdx", "--kernel", ta.KERNEL, "--initrd", INITRD, "--cmdline",
         cmdline, "--format", "json"], check=True, capture_output=True, text=True).stdout)
    fw = kbsmod.parse_evlog(read_measure("ccel_data_ovmf.bin"))
    with open(os.path.join(TOP, "tests", "measure", "ccel_data_ovmf.bin"), "rb") as f:
        raw = f.read()
    head = raw[:32 + struct.unpack_from("<I", raw, 28)[0]]
    out = bytearray(head)
    for mr, typ, dig, data in fw:
        if mr == 1:
            out += struct.pack("<IIIH", mr, typ, 1, 0x0C) + dig[0x0C] + \
                struct.pack("<I", len(data)) + data
    for e in pred["events"]:
        data = e["what"].encode()
        if e["what"] == "LOADED_IMAGE::LoadOptions":
            tag = b"LOADED_IMAGE::LoadOptions\0"
            data = struct.pack("<II", 0x8F3B22ED, len(tag)) + tag
        out += struct.pack("<IIIH", e["mr_index"], EV_TYPES[e["type"]], 1, 0x0C) + \
            bytes.fromhex(e["digest"]) + struct.pack("<I", len(data)) + data
    return bytes(out) + b"\xff" * 8


def read_measure(name):
    with open(os.path.join(TOP, "tests", "measure", name), "rb") as f:
        return f.read()


INITRD = os.path.join(TOP, "build", "initramfs.img")


def test_trustee_rvps_tdx_rules_admit_genuine_refuse_modified():
    work = ta.tmpdir("trustee")
    cmd = "console=hvc0 quiet"
    genuine = rvps(work, "rv.json", "--tee", "tdx", "--kernel", ta.KERNEL, "--initrd", INITRD,
                   "--cmdline", cmd)
    other = rvps(work, "rv-other.json", "--tee", "tdx", "--kernel", ta.KERNEL, "--initrd",
                 INITRD, "--cmdline", cmd + " init=/bin/sh")
    with open(genuine) as f:
        names = sorted(json.loads(base64.b64decode(json.load(f)["payload"])))
    assert names == ["rtmr_1", "rtmr_2", "tdvfkernel", "tdvfkernelparams"], names
    log = tdx_log(cmd)
    ev = (lambda lg: lambda d: {"cc_eventlog": b64(lg), "quote": b64(quote(lg, d))})
    os.makedirs(os.path.join(work, "other"))
    kbs = ta.Kbs(work, "--rvps", genuine)
    try:
        st, body = Client(kbs).attest(ev(log))
        assert st == 200, body
        # another command line: RTMR2 and the LoadOptions event are not the reference
        st, body = Client(kbs).attest(ev(tdx_log(cmd + " init=/bin/sh")))
        assert st == 401 and "rtmr_2" in body["detail"], body
    finally:
        kbs.stop()
    kbs = ta.Kbs(os.path.join(work, "other"), "--rvps", other)  # a log of its own
    try:
        st, body = Client(kbs).attest(ev(log))
        assert st == 401 and "rtmr_2" in body["detail"], body
    finally:
        kbs.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_trustee_rvps_tpm_rules_on_a_swtpm_guest():
    work = ta.tmpdir("trustee")
    toml = (f'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"aa.toml" = \'\'\'\n'
            f'[token_configs.kbs]\nurl = "http://{ta.GUEST_KBS}"\n\'\'\'\n'
            f'"cdh.toml" = \'\'\'\n[image]\n'
            f'authenticated_registry_credentials_uri = "kbs:///default/credential/reg"\n\'\'\'\n')
    digest = hashlib.sha256(toml.encode()).hexdigest()
    disk = ta.initdata_disk(work, toml)
    cmd = f"{ta.NET} sealpod.test_binding={digest}"
    full = subprocess.run([ta.harness.RUN_QEMU, "--print-cmdline", "--cmdline", cmd, "--test"],
                          cwd=TOP, check=True, capture_output=True, text=True).stdout.rstrip("\n")
    test_initrd = os.path.join(TOP, "build", "initramfs-test.img")
    args = ["--kernel", ta.KERNEL, "--initrd", test_initrd, "--cmdline", full, "--mem", "512",
            "--initdata", os.path.join(work, "initdata.toml")]
    genuine = rvps(work, "rv.json", *args)
    with open(genuine) as f:
        names = sorted(json.loads(base64.b64decode(json.load(f)["payload"])))
    assert names == ["pcr04", "pcr05", "pcr08", "pcr09"], names
    modified = rvps(work, "rv-mod.json", *(args[:5] + [full + " modified"] + args[6:]))
    for rv, ok in ((genuine, True), (modified, False)):
        run = os.path.join(work, "genuine" if ok else "modified")  # its own KBS log and vTPM
        os.makedirs(run)
        kbs = ta.Kbs(run, "--ak-tofu", "--rvps", rv)
        try:
            with ta.Boot(run, cmdline=cmd, kbs=kbs, swtpm=True, initdata=disk) as g:
                if ok:
                    g.wait_for(r"resource kbs:///default/credential/reg: \d+ bytes received",
                               check=ta.checker(g))
                    ev = kbs.events("attest")
                    assert ev and ev[0]["result"] == "ok" and ev[0]["claims"]["aael"] == [], ev
                else:
                    g.wait_for(r"attest\.verify", check=lambda: None)
                    con = g.console()
                    assert "KBS refused the evidence" in con, con
                    assert "pcr09 is not a reference value" not in con  # KBS words stay off
                    ev = [e for e in kbs.events("attest") if e["result"] == "refused"]
                    assert ev and ev[0]["reason"] == "pcr09 is not a reference value", ev
        finally:
            kbs.stop()
    shutil.rmtree(work, ignore_errors=True)
