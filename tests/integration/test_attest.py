"""Attestation before any container runs (init/attest/), against the test KBS (tests/kbs/kbs.py,
python3-jwcrypto) on loopback, under QEMU TCG + OVMF (+ swtpm for TPM evidence).

Every boot gets its own KBS, its own swtpm state and, for TPM evidence, reference values from
build/sealpod-measure for exactly the kernel, initrd and command line booted. The KBS registers
the guest's TPM attestation key on first use (test mode only): the guest prints the key's sha256
on the console and the tests require that the KBS pinned the same key. Guests reach the KBS at
10.0.2.100:8080 (scripts/run-qemu --forward); standalone mode (sealpod.ip) attests at boot.
"""
import base64
import datetime
import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = harness.TOP
sys.path.insert(0, os.path.join(TOP, "tests", "ttrpc"))
import client as tt  # noqa: E402

KBS = os.path.join(TOP, "tests", "kbs", "kbs.py")
MEASURE = os.path.join(TOP, "build", "sealpod-measure")
KERNEL = os.path.join(TOP, "build", "bzImage")
PY = "/usr/bin/python3"
GUEST_KBS = "10.0.2.100:8080"
NET = "sealpod.ip=10.0.2.15/24"
SECRET = b"the pod owner's secret \x00\xff"
ALLOW_ALL = open(os.path.join(TOP, "tests", "fuzz", "corpus", "fuzz_policy",
                              "allow-all.rego")).read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Kbs:
    def __init__(self, work, *args, tls=None):
        self.work, self.port = work, free_port()
        self.log = os.path.join(work, "kbs.log")
        secret = os.path.join(work, "secret")
        with open(secret, "wb") as f:
            f.write(SECRET)
        cmd = [PY, KBS, "--port", str(self.port), "--log", self.log,
               "--resource", f"default/key/k1={secret}",
               "--resource", f"default/credential/reg={secret}"] + list(args)
        if tls:
            cmd += ["--tls", *tls]
        self.out = open(os.path.join(work, "kbs.out"), "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.out)
        for _ in range(100):
            if self.events("listening"):
                return
            time.sleep(0.05)
        raise AssertionError("the test KBS did not start")

    def events(self, name=None):
        try:
            with open(self.log) as f:
                ev = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
        return [e for e in ev if name is None or e["event"] == name]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.out.close()


def initdata_disk(work, toml):
    path = os.path.join(work, "initdata.img")
    gz = gzip.compress(toml.encode(), mtime=0)
    with open(path, "wb") as f:
        f.write(b"initdata" + struct.pack("<Q", len(gz)) + gz)
    with open(os.path.join(work, "initdata.toml"), "w") as f:
        f.write(toml)
    return path


def reference(work, test, extra, initrd=None):
    cmd = [harness.RUN_QEMU, "--print-cmdline", "--cmdline", extra] + (["--test"] if test else [])
    full = subprocess.run(cmd, cwd=TOP, check=True, capture_output=True,
                          text=True).stdout.rstrip("\n")
    initrd = initrd or os.path.join(TOP, "build",
                                    "initramfs-test.img" if test else "initramfs.img")
    out = subprocess.run([MEASURE, "--kernel", KERNEL, "--initrd", initrd, "--cmdline", full,
                          "--mem", "512", "--format", "json"], check=True, capture_output=True,
                         text=True).stdout
    path = os.path.join(work, "reference.json")
    with open(path, "w") as f:
        f.write(out)
    return path, json.loads(out)


class Boot:
    """A harness.Guest with the extra run-qemu options this file needs (through a wrapper)."""

    def __init__(self, work, test=True, cmdline="", kbs=None, swtpm=False, initdata=None,
                 initrd=None, name="attest"):
        self.wrapper = os.path.join(work, "run-qemu-attest")
        extra = []
        if kbs:
            extra += ["--forward", f"8080:{kbs.port}"]
        if swtpm:
            extra += ["--swtpm", os.path.join(work, "tpm")]
        if initdata:
            extra += ["--initdata", initdata]
        with open(self.wrapper, "w") as f:
            f.write('#!/bin/sh\nexec "%s" %s "$@"\n' % (harness.RUN_QEMU,
                                                       " ".join(f"'{a}'" for a in extra)))
        os.chmod(self.wrapper, 0o755)
        self.guest = harness.Guest(test=test, cmdline=cmdline, initrd=initrd, name=name,
                                   ready_timeout=60)
        self.fatal_at_boot = None

    def __enter__(self):
        saved = harness.RUN_QEMU
        harness.RUN_QEMU = self.wrapper
        try:
            self.guest.start()
        except harness.GuestError as e:
            if harness.FATAL not in self.guest.console():
                self.guest.close()
                raise
            self.fatal_at_boot = str(e)
        finally:
            harness.RUN_QEMU = saved
        return self

    def __exit__(self, *exc):
        self.guest.close()

    def console(self):
        return self.guest.console()

    def wait_for(self, pattern, timeout=90, check=None):
        """Waits for regex pattern on the console; calls check() (a Check) every second."""
        end = time.monotonic() + timeout
        last = 0
        while time.monotonic() < end:
            m = re.search(pattern, self.console())
            if m:
                return m
            if check and time.monotonic() - last > 1:
                try:
                    check()
                except (ConnectionError, OSError, TimeoutError):
                    # Powering off after a fatal error closes the relay: fine if the console
                    # shows the pattern we wait for (it may reach the file a moment later).
                    for _ in range(30):
                        m = re.search(pattern, self.console())
                        if m:
                            return m
                        time.sleep(0.1)
                    raise
                last = time.monotonic()
            time.sleep(0.1)
        raise AssertionError(f"no /{pattern}/ on the console within {timeout} s" +
                             self.guest.context(40))

    def wait_off(self, timeout=30):
        try:
            self.guest.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("the guest did not power off" + self.guest.context())


def checker(g):
    """A function that sends Health/Check through the relay and requires SERVING."""
    c = tt.Client(g.guest.agent_connect(), timeout=20)
    pb = tt.load_protos()
    count = [0]

    def check():
        r = c.call("grpc.Health", "Check", pb.health.CheckRequest())
        assert pb.health.HealthCheckResponse.FromString(r.payload).status == 1, r
        count[0] += 1
    check.count = count
    check.client = c
    return check


def worker_confined(g, dev=None):
    """The attestation worker (comm sp-attest, init/attest/confine.c) as the test shell sees it:
    no capability in any set, no_new_privs, a seccomp filter, and a root holding only etc/ (the
    resolver's two files) plus dev (the evidence device, for TPM evidence)."""
    out = g.guest.sh_ok("for p in /proc/[0-9]*; do grep -q '^Name:.sp-attest$' $p/status "
                        "2>/dev/null || continue; echo PID ${p#/proc/}; "
                        "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' $p/status; "
                        "echo ROOT $(ls -A $p/root) ETC $(ls -A $p/root/etc) "
                        "DEV $(ls -A $p/root/dev 2>/dev/null); done")
    assert out.count("PID ") == 1, out
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert re.search(rf"^{cap}:\s+0{{16}}$", out, re.M), out
    assert re.search(r"^NoNewPrivs:\s+1$", out, re.M), out
    assert re.search(r"^Seccomp:\s+2$", out, re.M), out
    root = re.search(r"^ROOT(.*) ETC(.*) DEV(.*)$", out, re.M)
    assert root, out
    assert root.group(1).split() == (["dev", "etc"] if dev else ["etc"]), out
    assert set(root.group(2).split()) <= {"hosts", "resolv.conf"}, out
    assert root.group(3).split() == ([dev] if dev else []), out


def timeline_ms(console, step_re):
    m = re.search(r"\[\s*(\d+\.\d+)\] sealpod: " + step_re, console)
    return float(m.group(1)) * 1000 if m else None


def report_share(console, label):
    ready = timeline_ms(console, "ready:")
    start = timeline_ms(console, "attest: start")
    done = re.search(r"\[\s*(\d+\.\d+)\] sealpod: attest: done in (\d+) ms", console)
    if ready and start and done:
        end = float(done.group(1)) * 1000
        print(f"    timeline ({label}): ready at {ready:.0f} ms, attestation {start:.0f} -> "
              f"{end:.0f} ms ({int(done.group(2))} ms), boot-to-attested {end:.0f} ms, "
              f"attestation share {100 * (end - start) / end:.0f}%")


def tmpdir(name):
    return tempfile.mkdtemp(prefix=f"sealpod-attest-{name}-")


# --- the KBS on its own: as strict as trustee ------------------------------------------------
def test_kbs_is_strict():
    work = tmpdir("kbs")
    kbs = Kbs(work)
    try:
        def post(path, body, cookie=None):
            c = http.client.HTTPConnection("127.0.0.1", kbs.port, timeout=10)
            h = {"Content-Type": "application/json"}
            if cookie:
                h["Cookie"] = cookie
            c.request("POST", path, json.dumps(body), h)
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"{}"), r.getheader("Set-Cookie")

        st, body, _ = post("/kbs/v0/auth", {"version": "0.3.0", "tee": "sample",
                                            "extra-params": {}})
        assert st == 401 and body["type"].endswith("/ProtocolVersion"), body
        st, ch, cookie = post("/kbs/v0/auth", {"version": "0.4.0", "tee": "sample",
                                               "extra-params": {}})
        assert st == 200 and len(base64.b64decode(ch["nonce"])) == 32
        jwk = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
               "x": base64.urlsafe_b64encode(bytes(32)).decode().rstrip("="),
               "y": base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")}

        def attest(nonce, key, cookie_):
            rd = {"additional-evidence": "", "nonce": nonce, "tee-pubkey": key}
            d = hashlib.sha384(json.dumps(rd, sort_keys=True, separators=(",", ":"))
                               .encode()).digest()
            return post("/kbs/v0/attest", {
                "runtime-data": {"nonce": nonce, "tee-pubkey": key},
                "tee-evidence": {"primary_evidence": {"svn": "1", "report_data":
                                                      base64.b64encode(d).decode()},
                                 "additional_evidence": ""}}, cookie_.split(";")[0])

        st, body, _ = attest(ch["nonce"], dict(jwk, kid="extra"), cookie)
        assert st == 401 and "members" in body["detail"], body
        st, ch, cookie = post("/kbs/v0/auth", {"version": "0.4.0", "tee": "sample",
                                               "extra-params": {}})
        # a different nonce of the same length: swap the first character for another one
        # (replacing it with a fixed letter would be the real nonce 1 time in 64)
        wrong = ("B" if ch["nonce"][0] == "A" else "A") + ch["nonce"][1:]
        st, body, _ = attest(wrong, jwk, cookie)
        assert st == 401 and "nonce" in body["detail"], body
        st, ch, cookie = post("/kbs/v0/auth", {"version": "0.4.0", "tee": "sample",
                                               "extra-params": {}})
        st, body, _ = attest(ch["nonce"], jwk, cookie)
        assert st == 200 and body["token"].count(".") == 2, body
        st, body, _ = attest(ch["nonce"], jwk, cookie)  # a replayed attestation
        assert st == 401 and "nonce" in body["detail"], body
    finally:
        kbs.stop()
        shutil.rmtree(work, ignore_errors=True)


# --- sample evidence: attest, receive a secret, survive a misbehaving KBS ---------------------
def test_sample_evidence_secret_and_bad_replies():
    work = tmpdir("sample")
    kbs = Kbs(work)
    faults = ["badtag", "huge", "garbage", "badjwe", "notjson"]
    res = ["kbs:///default/key/k1"] + [f"kbs:///fault/x/{f}" for f in faults]
    cmd = (f"sealpod.kbs=http://{GUEST_KBS} {NET} sealpod.evidence=sample "
           f"sealpod.test_resources={','.join(res[:4])}")
    try:
        with Boot(work, cmdline=cmd, kbs=kbs) as g:
            check = checker(g)
            m = g.wait_for(r"resource kbs:///default/key/k1: (\d+) bytes received, sha256 "
                           r"([0-9a-f]{64})", check=check)
            assert int(m.group(1)) == len(SECRET)
            assert m.group(2) == hashlib.sha256(SECRET).hexdigest()
            g.wait_for(r"fault/x/garbage: .*JWE", check=check)
            con = g.console()
            assert re.search(r"fault/x/badtag: JWE: authentication failed", con), con
            assert re.search(r"fault/x/huge: reply larger than", con)
            assert "FATAL" not in con
            for _ in range(3):
                check()
            assert check.count[0] >= 3
            ev = kbs.events("attest")
            assert ev and ev[0]["result"] == "ok" and ev[0]["tee"] == "sample", ev
            assert SECRET.decode(errors="replace") not in con
            worker_confined(g)
            report_share(con, "sample")
    finally:
        kbs.stop()
        shutil.rmtree(work, ignore_errors=True)


# --- TPM evidence with initdata (PCR8), RSA TEE key, gate, SetPolicy --------------------------
def test_tpm_evidence_with_initdata():
    work = tmpdir("tpm")
    toml = (f'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"aa.toml" = \'\'\'\n'
            f'[token_configs.kbs]\nurl = "http://{GUEST_KBS}"\n'
            f'tee_key_algorithm = "RSA-OAEP-256"\n\'\'\'\n'
            f'"cdh.toml" = \'\'\'\n[image]\n'
            f'authenticated_registry_credentials_uri = "kbs:///default/credential/reg"\n\'\'\'\n'
            f'"policy.rego" = \'\'\'\n{ALLOW_ALL}\'\'\'\n')
    digest = hashlib.sha256(toml.encode()).hexdigest()
    disk = initdata_disk(work, toml)
    cmd = f"{NET} sealpod.test_binding={digest}"
    ref, refv = reference(work, True, cmd)
    kbs = Kbs(work, "--ak-tofu", "--reference", ref)
    try:
        with Boot(work, cmdline=cmd, kbs=kbs, swtpm=True, initdata=disk) as g:
            check = checker(g)
            g.wait_for(r"resource kbs:///default/credential/reg: \d+ bytes received",
                       check=check)
            con = g.console()
            assert f"initdata: {len(toml)} bytes of TOML, sha256 {digest}" in con, con
            assert "matches sealpod.test_binding" in con
            assert f"extended PCR8 with sha256 {digest}" in con
            assert "key=RSA-OAEP-256" in con and "with tpm evidence" in con
            ak = re.search(r"attestation key sha256:([0-9a-f]{64})", con).group(1)
            ev = kbs.events("attest")
            assert ev and ev[0]["result"] == "ok", ev
            assert ev[0]["claims"]["ak"] == ak
            assert ev[0]["claims"]["pcr9"] == refv["pcr9"]
            assert ev[0]["initdata_sha256"] == digest
            assert kbs.events("ak-registered")[0]["ak"] == ak
            # After attestation SetPolicy is refused (the attested initdata names the policy).
            pb = tt.load_protos()
            r = check.client.agent("SetPolicy", pb.agent.SetPolicyRequest(policy=ALLOW_ALL))
            assert r.code == 7 and "attest" in r.message, r
            check()
            worker_confined(g, dev="tpmrm0")
            report_share(con, "tpm")
    finally:
        kbs.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_modified_initrd_is_refused_and_no_container_runs():
    work = tmpdir("modinitrd")
    initrd = os.path.join(work, "initramfs-test-modified.img")
    extra = os.path.join(work, "extra")
    os.makedirs(os.path.join(extra, "etc"))
    with open(os.path.join(extra, "etc", "implant"), "w") as f:
        f.write("not what was measured\n")
    cpio = subprocess.run("find . | cpio --quiet -o -H newc -R 0:0", cwd=extra, shell=True,
                          check=True, capture_output=True).stdout
    shutil.copy(os.path.join(TOP, "build", "initramfs-test.img"), initrd)
    with open(initrd, "ab") as f:
        f.write(cpio)
    cmd = f"sealpod.kbs=http://{GUEST_KBS} {NET}"
    ref, refv = reference(work, True, cmd)  # for the unmodified image
    kbs = Kbs(work, "--ak-tofu", "--reference", ref, "--delay-attest", "4")
    try:
        with Boot(work, cmdline=cmd, kbs=kbs, swtpm=True, initrd=initrd) as g:
            check = checker(g)
            g.wait_for(r"attest: start")
            pb = tt.load_protos()
            s = pb.oci.Spec(Version="1.1.0")
            s.Root.Path = "/usr/share/sealpod/bundles/busybox/rootfs"
            s.Process.Args.extend(["/bin/true"])
            s.Process.Cwd = "/"
            stream = check.client.send("grpc.AgentService", "CreateContainer",
                                       pb.agent.CreateContainerRequest(container_id="c1",
                                                                       exec_id="c1", OCI=s))
            check()  # answered while CreateContainer waits on the attestation
            r = check.client.wait(stream, timeout=60)
            assert r.code == 9 and r.message.startswith("attest.verify"), r
            assert "KBS says" not in r.message and "PCR" not in r.message  # redacted
            g.wait_off()
            con = g.console()
            # The console names the stage and the KBS's error type; the KBS's own words (here:
            # which PCR differs) may describe the owner's policy and stay off the console too,
            # which the host reads. The KBS's log has them.
            assert re.search(r"FATAL attest.verify: .*PolicyDeny", con), con
            assert "is not the reference" not in con, con
            assert "powering off" in con
            ev = kbs.events("attest")
            assert ev and ev[0]["result"] == "refused" and "PCR" in ev[0]["reason"], ev
    finally:
        kbs.stop()
        shutil.rmtree(work, ignore_errors=True)


# --- initdata binding and production's refusal of loosening keys ------------------------------
def test_initdata_digest_mismatch_stops_boot():
    work = tmpdir("mismatch")
    toml = 'version = "0.1.0"\nalgorithm = "sha384"\n[data]\n'
    digest = hashlib.sha384(toml.encode()).hexdigest()
    wrong = "ab" * 48
    try:
        with Boot(work, cmdline=f"sealpod.test_binding={wrong}",
                  initdata=initdata_disk(work, toml)) as g:
            assert g.fatal_at_boot, "the guest became ready"
            g.wait_off()
            con = g.console()
            assert f"initdata: warning: expected {wrong} (the launch binding" in con, con
            assert f"initdata: warning: computed {digest} (sha384 of the" in con, con
            assert "FATAL initdata.digest: initdata does not match the launch binding" in con
            for later in ("policy:", "listen:", "attest: start", "ready:"):
                assert f"sealpod: {later}" not in con, later
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_production_ignores_loosening_keys():
    work = tmpdir("prodkeys")
    kbs = Kbs(work)
    cmd = (f"sealpod.kbs=http://{GUEST_KBS} sealpod.evidence=sample {NET} "
           f"sealpod.test_resources=kbs:///default/key/k1")
    try:
        with Boot(work, test=False, cmdline=cmd, kbs=kbs) as g:
            assert not g.fatal_at_boot
            g.wait_for(r"attest: standalone network")
            time.sleep(2)
            con = g.console()
            assert "sealpod.kbs ignored" in con and 'evidence "sample" ignored' in con, con
            assert "attest: not required" in con and "attest: start" not in con
            assert not kbs.events("auth")
    finally:
        kbs.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_production_refuses_plain_http_kbs():
    work = tmpdir("prodhttp")
    toml = (f'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"aa.toml" = \'\'\'\n'
            f'[token_configs.kbs]\nurl = "http://{GUEST_KBS}"\n\'\'\'\n')
    try:
        with Boot(work, test=False, swtpm=True, initdata=initdata_disk(work, toml)) as g:
            assert g.fatal_at_boot
            assert re.search(r"FATAL attest.auth: KBS URL from initdata is plain HTTP", g.console())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _tls_cert(work):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealpod test KBS")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("10.0.2.100"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cp, kp = os.path.join(work, "kbs.crt"), os.path.join(work, "kbs.key")
    with open(cp, "w") as f:
        f.write(pem)
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cp, kp, pem


def test_production_image_attests_with_tpm_over_https():
    """build/initramfs.img unchanged: TPM evidence, https with the CA from initdata; judged from
    the serial console and the KBS log."""
    work = tmpdir("prodtpm")
    cp, kp, pem = _tls_cert(work)
    toml = (f'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"aa.toml" = \'\'\'\n'
            f'[token_configs.kbs]\nurl = "https://{GUEST_KBS}"\ncert = """\n{pem}"""\n\'\'\'\n'
            f'"cdh.toml" = \'\'\'\n[image]\n'
            f'authenticated_registry_credentials_uri = "kbs:///default/credential/reg"\n\'\'\'\n')
    ref, refv = reference(work, False, NET)
    kbs = Kbs(work, "--ak-tofu", "--reference", ref, tls=(cp, kp))
    try:
        with Boot(work, test=False, cmdline=NET, kbs=kbs, swtpm=True,
                  initdata=initdata_disk(work, toml)) as g:
            assert not g.fatal_at_boot, g.fatal_at_boot
            g.wait_for(r"resource kbs:///default/credential/reg: \d+ bytes received")
            con = g.console()
            assert "with tpm evidence" in con and "test overlay" not in con
            ev = kbs.events("attest")
            assert ev and ev[0]["result"] == "ok" and ev[0]["claims"]["pcr9"] == refv["pcr9"]
            assert kbs.events("resource")[0]["result"] == "released"
            report_share(con, "tpm, production image")
    finally:
        kbs.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_production_kbs_refuses_bare_vtpm_evidence():
    work = tmpdir("kbsprod")
    kbs = Kbs(work, "--mode", "production")
    try:
        with Boot(work, cmdline=f"sealpod.kbs=http://{GUEST_KBS} {NET}", kbs=kbs,
                  swtpm=True) as g:
            g.wait_off(60)
            con = g.console()
            assert re.search(r"FATAL attest.verify: .*PolicyDeny", con), con
            assert "bare host-vTPM" not in con, con  # the KBS's words stay off the console
            assert kbs.events("attest")[0]["result"] == "refused"
    finally:
        kbs.stop()
        shutil.rmtree(work, ignore_errors=True)


# --- a KBS that is down, or sends a bad challenge: clean, bounded, fail closed ----------------
def test_kbs_down_retries_then_fails_closed():
    work = tmpdir("down")

    class Nobody:
        port = free_port()  # nothing listens there
    try:
        with Boot(work, cmdline=f"sealpod.kbs=http://{GUEST_KBS} {NET} sealpod.evidence=sample",
                  kbs=Nobody) as g:
            check = checker(g)
            m = g.wait_for(r"FATAL attest.auth: .*unreachable after 5 attempts", timeout=120,
                           check=check)
            con = g.console()
            assert "attempt 2 of 5" in con and "starting the handshake again" in con, con
            start = timeline_ms(con, "attest: start")
            fatal = timeline_ms(con, "FATAL attest.auth")
            assert fatal - start < 65000, (start, fatal)
            assert check.count[0] >= 2
            g.wait_off()
            assert m
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_bad_challenge_is_a_clean_error():
    work = tmpdir("badnonce")
    kbs = Kbs(work, "--bad-nonce")
    try:
        with Boot(work, cmdline=f"sealpod.kbs=http://{GUEST_KBS} {NET} sealpod.evidence=sample",
                  kbs=kbs) as g:
            g.wait_off(60)
            assert re.search(r"FATAL attest.auth: challenge: nonce is not base64", g.console())
    finally:
        kbs.stop()
        shutil.rmtree(work, ignore_errors=True)


# --- under Kata: the network arrives through the control port; attest at CreateContainer ------
def test_kata_mode_attests_at_first_create_container():
    work = tmpdir("kata")
    kbs = Kbs(work)
    try:
        with Boot(work, cmdline=f"sealpod.kbs=http://{GUEST_KBS} sealpod.evidence=sample",
                  kbs=kbs) as g:
            check = checker(g)
            c, pb = check.client, tt.load_protos()
            time.sleep(1)
            assert "attest: start" not in g.console()  # no network yet: nothing to attest over
            mac = g.guest.sh_ok("cat /sys/class/net/eth0/address").strip()
            r = c.agent("UpdateInterface", pb.agent.UpdateInterfaceRequest(
                interface=pb.types.Interface(
                    device="eth0", name="eth0", hwAddr=mac, mtu=1500,
                    IPAddresses=[pb.types.IPAddress(family=0, address="10.0.2.15", mask="24")])))
            assert r.ok, r
            assert "attest: start" not in g.console()
            s = pb.oci.Spec(Version="1.1.0")
            s.Root.Path = "/usr/share/sealpod/bundles/busybox/rootfs"
            s.Process.Args.extend(["/bin/true"])
            s.Process.Env.extend(["PATH=/bin"])
            s.Process.Cwd = "/"
            r = c.agent("CreateContainer", pb.agent.CreateContainerRequest(
                container_id="k1", exec_id="k1", OCI=s), timeout=60)
            con = g.console()
            assert r.ok, f"{r}\n{con}"
            # The attestation finished before the container was created.
            done = timeline_ms(con, "attest: done")
            assert done is not None, con
            ev = kbs.events("attest")
            assert ev and ev[0]["result"] == "ok", ev
            check()
    finally:
        kbs.stop()
        shutil.rmtree(work, ignore_errors=True)
