"""Registry faults against the guest's pull code (issue 21), on the host: the pull is init/image/
built as a host command with ASan/UBSan (build/host/sealpod-pull-asan), the registry is ours
(tests/image/registry.py EvilRegistry) misbehaving on purpose. For every fault: the pull either
recovers (retries where safe) or fails with the stage named; the store holds no partial layer and
no staging directory; the next pull of the same image into the same store succeeds; no pull
process is left behind.

Run inside a fresh network and mount namespace, never on the host's network:
    unshare -n -m /usr/bin/python3 tests/image/faulttest.py
Prints `ok NAME` / `not ok NAME: why` and a closing `N passed, N failed`.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hosttest as H  # noqa: E402
import registry as R  # noqa: E402

case = H.case


def pull_processes():
    """PIDs of processes running the pull command (its workers included)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if H.CLI.encode() in f.read():
                    out.append(int(pid))
        except OSError:
            pass
    return out


def group_registry_faults():
    ev = R.EvilRegistry(H.PKI)
    man, mt, blobs = R.image_blobs(R.busybox_layers()[:2], "gzip")
    big = max(range(len(blobs)), key=lambda i: len(blobs[i]))
    blob = blobs[big]
    path = lambda repo: f"/v2/{repo}/blobs/{R.sha256(blob)}"  # noqa: E731

    def refused(repo, stage, words=()):
        """The pull fails naming stage (and words); nothing partial stays; the same image pulls
        into the same store once the registry behaves; no pull process outlives its run."""
        info = H.pull(f"{ev.host}/{repo}:latest", expect_ok=False)
        assert stage in info.get("error", ""), info
        for w in words:
            assert w in info["error"], info
        H.nothing_outside(info["store"])
        assert not os.listdir(info["store"]) or all(
            os.path.isdir(os.path.join(info["store"], n)) for n in os.listdir(info["store"]))
        ev.add_image(repo, "latest", man, mt, blobs)
        again = H.pull(f"{ev.host}/{repo}:latest", store=info["store"])
        H.nothing_outside(again["store"])
        assert not pull_processes(), f"pull processes left: {pull_processes()}"
        return info

    def cut(h, data, length=None, status=200, extra=None):
        h.send_response(status)
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data) if length is None else length))
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()
        h.close_connection = True

    @case
    def fault_reset_mid_blob_every_time():
        """Every request of the blob is cut half way (Range ignored): retried, then refused as
        pull.layer after the attempts run out."""
        ev.add_image("reset", "latest", man, mt, blobs)
        n = {"hits": 0}

        def serve(h):
            n["hits"] += 1
            cut(h, blob[: len(blob) // 2], length=len(blob))

        ev.routes[path("reset")] = (200, {}, serve)
        refused("reset", "pull.layer", ["attempts"])
        assert n["hits"] >= 4, n

    @case
    def fault_500_then_success():
        """Two 500s, then the blob: the pull succeeds after retrying."""
        ev.add_image("flaky", "latest", man, mt, blobs)
        n = {"hits": 0}

        def serve(h):
            n["hits"] += 1
            if n["hits"] <= 2:
                cut(h, b"oops", status=500)
                return None
            cut(h, blob)
            return None

        ev.routes[path("flaky")] = (200, {}, serve)
        H.pull(f"{ev.host}/flaky:latest")
        assert n["hits"] == 3, n

    @case
    def fault_500_forever():
        """The registry answers 500 to the blob every time: refused as pull.layer with the
        status, nothing partial."""
        ev.add_image("down", "latest", man, mt, blobs)
        ev.routes[path("down")] = (500, {}, b"down")
        refused("down", "pull.layer", ["500"])

    @case
    def fault_content_length_short():
        """Content-Length smaller than the blob: the body ends early; the decompressor, which
        reads as the bytes arrive, notices first: refused, never published."""
        ev.add_image("short", "latest", man, mt, blobs)
        ev.routes[path("short")] = (200, {}, lambda h: cut(h, blob[:-100]))
        refused("short", "pull.unpack", ["truncated"])

    @case
    def fault_content_length_long():
        """Content-Length larger than what is sent, then the connection closes: a transport
        error every time (Range answered with the same lie): refused after the attempts."""
        ev.add_image("long", "latest", man, mt, blobs)
        ev.routes[path("long")] = (200, {}, lambda h: cut(h, blob, length=len(blob) + 4096))
        refused("long", "pull.layer")

    @case
    def fault_bytes_change_between_requests():
        """The first request is cut half way; the resumed request (Range) gets the rest of other
        bytes: refused (the decompressor or the digest check, whichever sees it first), the
        partial layer removed."""
        ev.add_image("change", "latest", man, mt, blobs)
        n = {"hits": 0}
        other = bytes(b ^ 0x5A for b in blob)

        def serve(h):
            n["hits"] += 1
            if n["hits"] == 1:
                cut(h, blob[: len(blob) // 2], length=len(blob))
                return None
            rng = h.headers.get("Range") or "bytes=0-"
            start = int(rng.split("=")[1].split("-")[0])
            cut(h, other[start:], status=206,
                extra={"Content-Range": f"bytes {start}-{len(blob) - 1}/{len(blob)}"})
            return None

        ev.routes[path("change")] = (200, {}, serve)
        info = refused("change", "pull.")
        assert "pull.unpack" in info["error"] or "digest" in info["error"], info
        assert n["hits"] >= 2, n

    @case
    def fault_redirect_loop():
        """The blob redirects to itself: refused after at most 5 redirects."""
        ev.add_image("loop", "latest", man, mt, blobs)
        ev.routes[path("loop")] = (307, {"Location": f"https://{ev.host}{path('loop')}"}, b"")
        refused("loop", "pull.layer", ["redirect"])
        hits = sum(1 for p, _ in ev.hits if p == path("loop"))
        assert hits <= 4 * 6, hits

    @case
    def fault_tls_untrusted_certificate():
        """The registry's certificate comes from a CA the pull does not trust: refused at the
        manifest, with the TLS failure named; nothing fetched."""
        other = R.Pki(os.path.join(H.WORK, "other-pki"))
        bad = R.EvilRegistry(other)
        try:
            bad.add_image("tls", "latest", man, mt, blobs)
            info = H.pull(f"{bad.host}/tls:latest", expect_ok=False)
            assert "pull.manifest" in info.get("error", ""), info
            assert any(w in info["error"].lower() for w in ("certificate", "ssl", "tls")), info
            H.nothing_outside(info["store"])
            assert not os.listdir(info["store"]), os.listdir(info["store"])
        finally:
            bad.stop()

    for fn in list(locals().values()):
        if callable(fn) and getattr(fn, "__name__", "").startswith("fault_"):
            fn()
    ev.stop()


def main():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    links = subprocess.run(["ip", "-o", "link"], stdout=subprocess.PIPE).stdout.decode()
    if len(links.splitlines()) != 1:
        sys.exit("refusing to run outside a fresh network namespace (use unshare -n -m)")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run([os.path.join(HERE, "build-cli"), "--asan"], check=True)
    group_registry_faults()
    failed = sum(1 for _, e in H.results if e)
    print(f"{len(H.results) - failed} passed, {failed} failed")
    subprocess.run(["rm", "-rf", H.WORK])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
