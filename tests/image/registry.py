"""Test registries and test images for the image-pull tests and the benchmark (issue 6).

Everything listens on 127.0.0.1 only. Pieces:
  Pki            a test CA made here (openssl CLI), a server certificate for 127.0.0.1,
                 10.0.2.100 (the guest's view through guestfwd) and localhost, and a
                 token-signing certificate
  Registry       Debian's docker-registry (distribution v2) with TLS and htpasswd Basic auth,
                 or with token auth pointing at TokenServer
  TokenServer    our bearer-token endpoint: checks Basic credentials, issues RS256 JWTs with an
                 x5c chain (python3-jwcrypto) that docker-registry verifies
  EvilRegistry   a TLS server of ours that serves fixed bytes for fixed paths (what a hostile
                 registry would send: wrong digests, confused media types, schema1, ...)
  images         builders: umoci (busybox-static rootfs, several layers with whiteouts, opaque
                 dirs, hard links, symlinks), skopeo pushes (OCI / Docker schema2, gzip), and a
                 direct distribution-API push for what skopeo 1.9 cannot make (zstd layers,
                 multi-platform indexes written here)
"""
import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.request

BUSYBOX = "/bin/busybox"
USER, PASSWORD = "sealpod", "s3cret-pw"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Pki:
    def __init__(self, d):
        self.dir = d
        os.makedirs(d, exist_ok=True)
        self.ca = os.path.join(d, "ca.crt")
        self.ca_key = os.path.join(d, "ca.key")
        self.cert = os.path.join(d, "server.crt")
        self.key = os.path.join(d, "server.key")
        self.tok_cert = os.path.join(d, "token.crt")
        self.tok_key = os.path.join(d, "token.key")
        self.certdir = os.path.join(d, "certs.d")  # for skopeo --dest-cert-dir
        if os.path.exists(self.tok_cert):
            return
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
             "-subj", "/CN=sealpod test CA", "-keyout", self.ca_key, "-out", self.ca])
        ext = os.path.join(d, "san.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,IP:10.0.2.100,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth\n")
        for cn, key, crt, e in (("registry", self.key, self.cert, ext),
                                ("token-signer", self.tok_key, self.tok_cert, None)):
            csr = crt + ".csr"
            run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                 "-keyout", key, "-out", csr])
            cmd = ["openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                   "-CAcreateserial", "-days", "30", "-out", crt]
            if e:
                cmd += ["-extfile", e]
            run(cmd)
        os.makedirs(self.certdir, exist_ok=True)
        shutil.copy(self.ca, os.path.join(self.certdir, "ca.crt"))

    def context(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        return ctx


class Registry:
    """docker-registry on 127.0.0.1:port; auth: 'htpasswd', 'token' (realm given) or None."""

    def __init__(self, d, pki, auth="htpasswd", realm=None, port=None):
        self.dir, self.pki, self.auth = d, pki, auth
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        os.makedirs(d, exist_ok=True)
        self.htpasswd = os.path.join(d, "htpasswd")
        run(["htpasswd", "-Bbc", self.htpasswd, USER, PASSWORD])
        cfg = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": os.path.join(d, "data")},
                        "delete": {"enabled": True}},
            "http": {"addr": self.host, "tls": {"certificate": pki.cert, "key": pki.key}},
        }
        if auth == "htpasswd":
            cfg["auth"] = {"htpasswd": {"realm": "sealpod-test", "path": self.htpasswd}}
        elif auth == "token":
            cfg["auth"] = {"token": {"realm": realm, "service": "sealpod-registry",
                                     "issuer": "sealpod-test-issuer",
                                     "rootcertbundle": pki.ca}}
        self.config = os.path.join(d, "config.yml")
        with open(self.config, "w") as f:
            json.dump(cfg, f)  # YAML is a superset of JSON
        self.log = open(os.path.join(d, "registry.log"), "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", self.config],
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("docker-registry did not start: " +
                           open(os.path.join(d, "registry.log")).read()[-2000:])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()

    # --- the distribution API, for pushes skopeo cannot do ---------------------------------
    def _req(self, method, path, data=None, headers=None, token=None):
        h = dict(headers or {})
        if self.auth == "htpasswd":
            h["Authorization"] = "Basic " + base64.b64encode(
                f"{USER}:{PASSWORD}".encode()).decode()
        elif token:
            h["Authorization"] = "Bearer " + token
        url = path if path.startswith("https://") else f"https://{self.host}{path}"
        r = urllib.request.Request(url, data=data, method=method, headers=h)
        return urllib.request.urlopen(r, context=self.pki.context(), timeout=60)

    def push_blob(self, repo, blob, token=None):
        d = sha256(blob)
        with self._req("POST", f"/v2/{repo}/blobs/uploads/", data=b"", token=token) as r:
            loc = r.headers["Location"]
        if not loc.startswith("http"):
            loc = f"https://{self.host}{loc}"
        sep = "&" if "?" in loc else "?"
        with self._req("PUT", f"{loc}{sep}digest={d}", data=blob, token=token,
                       headers={"Content-Type": "application/octet-stream"}):
            pass
        return d

    def push_manifest(self, repo, ref, body, media_type, token=None):
        with self._req("PUT", f"/v2/{repo}/manifests/{ref}", data=body, token=token,
                       headers={"Content-Type": media_type}):
            pass
        return sha256(body)


class TokenServer:
    """Bearer tokens for the token-auth registry. Basic credentials USER:PASSWORD are required
    (anonymous=True also serves anonymous pulls). Records every request in self.requests."""

    def __init__(self, pki, anonymous=False, expires_in=300, port=None):
        from jwcrypto import jwk, jwt  # python3-jwcrypto
        self.pki, self.anonymous, self.expires_in = pki, anonymous, expires_in
        self.port = port or free_port()
        self.requests = []
        key = jwk.JWK.from_pem(open(pki.tok_key, "rb").read())
        der = ssl.PEM_cert_to_DER_cert(open(pki.tok_cert).read())
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                from urllib.parse import urlparse, parse_qs
                q = parse_qs(urlparse(self.path).query)
                auth = self.headers.get("Authorization", "")
                ok_creds = auth == "Basic " + base64.b64encode(
                    f"{USER}:{PASSWORD}".encode()).decode()
                outer.requests.append({"path": self.path, "auth": bool(auth), "ok": ok_creds})
                if not ok_creds and not outer.anonymous:
                    self.send_response(401)
                    self.end_headers()
                    return
                access = []
                for scope in q.get("scope", []):
                    typ, name, actions = scope.split(":")
                    access.append({"type": typ, "name": name, "actions": actions.split(",")})
                now = int(time.time())
                claims = {"iss": "sealpod-test-issuer", "sub": USER if ok_creds else "",
                          "aud": q.get("service", [""])[0], "exp": now + outer.expires_in,
                          "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(),
                          "access": access}
                tok = jwt.JWT(header={"alg": "RS256", "typ": "JWT",
                                      "x5c": [base64.b64encode(der).decode()]},
                              claims=claims)
                tok.make_signed_token(key)
                body = json.dumps({"token": tok.serialize(),
                                   "expires_in": outer.expires_in}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.cert, pki.key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, repo):
        """A token for our own pushes."""
        ctx = self.pki.context()
        r = urllib.request.Request(
            f"https://127.0.0.1:{self.port}/token?service=sealpod-registry&"
            f"scope=repository:{repo}:pull,push",
            headers={"Authorization": "Basic " + base64.b64encode(
                f"{USER}:{PASSWORD}".encode()).decode()})
        return json.load(urllib.request.urlopen(r, context=ctx))["token"]

    def stop(self):
        self.httpd.shutdown()


class EvilRegistry:
    """Serves routes {path: (status, headers, body)} over TLS; anything else is 404."""

    def __init__(self, pki, routes=None, port=None):
        self.routes = routes or {}
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.hits = []
        self.require_basic = False
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.hits.append((self.path, dict(self.headers)))
                if (outer.require_basic and self.path.startswith("/v2/")
                        and "Authorization" not in self.headers):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="evil"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, headers, body = outer.routes.get(self.path, (404, {}, b"{}"))
                if callable(body):
                    body = body(self)
                    if body is None:
                        return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.cert, pki.key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add_image(self, repo, ref, manifest, media_type, blobs, config=None):
        """Routes for one image: the manifest at ref and every blob by digest."""
        self.routes[f"/v2/{repo}/manifests/{ref}"] = (200, {"Content-Type": media_type}, manifest)
        for b in blobs:
            self.routes[f"/v2/{repo}/blobs/{sha256(b)}"] = (
                200, {"Content-Type": "application/octet-stream"}, b)

    def stop(self):
        self.httpd.shutdown()


# --- images ----------------------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER = {"tar": "application/vnd.oci.image.layer.v1.tar",
         "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
         "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
         "docker": "application/vnd.docker.image.rootfs.diff.tar.gzip"}


class TarBuilder:
    def __init__(self):
        self.buf = io.BytesIO()
        self.t = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def add(self, name, kind="file", data=b"", link="", mode=None, pax=None, uid=0, gid=0):
        ti = tarfile.TarInfo(name)
        ti.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                   "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE,
                   "char": tarfile.CHRTYPE}[kind]
        ti.mode = mode if mode is not None else (0o755 if kind == "dir" else 0o644)
        ti.uid, ti.gid, ti.mtime = uid, gid, 1700000000
        ti.linkname = link
        if pax:
            ti.pax_headers = pax
        if kind == "file":
            ti.size = len(data)
            self.t.addfile(ti, io.BytesIO(data))
        else:
            self.t.addfile(ti)
        return self

    def bytes(self):
        self.t.close()
        return self.buf.getvalue()


def compress(tar, how):
    if how in ("gzip", "docker"):
        return gzip.compress(tar, 6, mtime=0)
    if how == "zstd":
        return run(["zstd", "-q", "-c", "-3"], input=tar).stdout
    return tar


def image_blobs(layers, how="gzip", docker=False, config_extra=None, arch="amd64"):
    """(manifest bytes, media type, [blobs]) for raw tar layers."""
    blobs, descs, diff_ids = [], [], []
    for tar in layers:
        b = compress(tar, how)
        blobs.append(b)
        diff_ids.append(sha256(tar))
        descs.append({"mediaType": LAYER["docker" if docker else how], "digest": sha256(b),
                      "size": len(b)})
    cfg = {"architecture": arch, "os": "linux",
           "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
           "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cfg["config"].update(config_extra or {})
    cfgb = json.dumps(cfg).encode()
    blobs.append(cfgb)
    mt = DOCKER_MANIFEST if docker else OCI_MANIFEST
    man = {"schemaVersion": 2, "mediaType": mt,
           "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                      "digest": sha256(cfgb), "size": len(cfgb)},
           "layers": descs}
    return json.dumps(man).encode(), mt, blobs


def push_raw(reg, repo, ref, manifest, media_type, blobs, token=None):
    for b in blobs:
        reg.push_blob(repo, b, token=token)
    return reg.push_manifest(repo, ref, manifest, media_type, token=token)


def busybox_layers():
    """Three layers: busybox and a base tree; changes with whiteouts, an opaque dir, hard links
    and symlinks; then a small app layer. Each a raw tar (the first is built by umoci's
    `unpack`/`repack` cycle in build_umoci_image; these are the same content for raw pushes)."""
    bb = open(BUSYBOX, "rb").read()
    l1 = TarBuilder()
    for d in ("bin", "etc", "tmp", "var", "var/cache", "var/cache/old", "opt"):
        l1.add(d, "dir")
    l1.add("bin/busybox", "file", bb, mode=0o755)
    for applet in ("sh", "ls", "cat", "echo", "true", "sleep", "id", "sha256sum", "readlink"):
        l1.add(f"bin/{applet}", "symlink", link="busybox")
    l1.add("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n")
    l1.add("etc/group", "file", b"root:x:0:\nnobody:x:65534:\n")
    l1.add("etc/removed-later", "file", b"gone\n")
    l1.add("var/cache/old/stale", "file", b"stale\n")
    l2 = TarBuilder()
    l2.add("etc", "dir")
    l2.add("etc/.wh.removed-later", "file")
    l2.add("var/cache", "dir")
    l2.add("var/cache/.wh..wh..opq", "file")
    l2.add("var/cache/fresh", "file", b"fresh\n")
    l2.add("opt/data", "file", b"payload\n" * 64)
    l2.add("opt/data-link", "hardlink", link="opt/data")
    l2.add("opt/rel-link", "symlink", link="data")
    l2.add("opt/abs-link", "symlink", link="/etc/passwd")
    l3 = TarBuilder()
    l3.add("app", "dir")
    l3.add("app/hello.sh", "file", b"#!/bin/sh\necho hello from the pulled image\n", mode=0o755)
    return [l1.bytes(), l2.bytes(), l3.bytes()]


def build_umoci_image(layout, tag="latest", layers=None):
    """An OCI layout built by umoci: `umoci init`, `new`, then each raw layer added with
    `umoci raw add-layer`, and the config set with `umoci config`."""
    if os.path.exists(layout):
        shutil.rmtree(layout)
    run(["umoci", "init", "--layout", layout])
    run(["umoci", "new", "--image", f"{layout}:{tag}"])
    tmp = layout + ".tars"
    os.makedirs(tmp, exist_ok=True)
    for i, t in enumerate(layers or busybox_layers()):
        p = os.path.join(tmp, f"l{i}.tar")
        with open(p, "wb") as f:
            f.write(t)
        run(["umoci", "raw", "add-layer", "--image", f"{layout}:{tag}", p])
    run(["umoci", "config", "--image", f"{layout}:{tag}", "--config.env", "PATH=/bin",
         "--config.cmd", "/app/hello.sh", "--config.workingdir", "/app",
         "--os", "linux", "--architecture", "amd64"])
    shutil.rmtree(tmp)
    return layout


def skopeo_push(pki, layout, tag, reg, repo, fmt="oci", creds=True):
    """Pushes the layout's tag; returns the digest of the manifest as the registry holds it."""
    with tempfile.TemporaryDirectory() as td:
        digestfile = os.path.join(td, "digest")
        cmd = ["skopeo", "copy", "-q", "--dest-cert-dir", pki.certdir, "--format", fmt,
               "--digestfile", digestfile]
        cmd += ["--dest-creds", f"{USER}:{PASSWORD}"] if creds else ["--dest-no-creds"]
        cmd += [f"oci:{layout}:{tag}", f"docker://{reg.host}/{repo}:{tag}"]
        run(cmd)
        with open(digestfile) as f:
            return f.read().strip()


def push_index(reg, repo, ref, amd64, token=None):
    """A multi-platform index whose first entry is an arm64 decoy (same layers, config says
    arm64) and whose second is the real amd64 image. amd64: (manifest, mt, blobs)."""
    man, mt, blobs = amd64
    push_raw(reg, repo, sha256(man), man, mt, blobs, token=token)
    cfg = json.loads(blobs[-1])
    cfg["architecture"] = "arm64"
    cfgb = json.dumps(cfg).encode()
    m2 = json.loads(man)
    m2["config"] = dict(m2["config"], digest=sha256(cfgb), size=len(cfgb))
    m2b = json.dumps(m2).encode()
    reg.push_blob(repo, cfgb, token=token)
    reg.push_manifest(repo, sha256(m2b), m2b, mt, token=token)
    idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": mt, "digest": sha256(m2b), "size": len(m2b),
         "platform": {"architecture": "arm64", "os": "linux"}},
        {"mediaType": mt, "digest": sha256(man), "size": len(man),
         "platform": {"architecture": "amd64", "os": "linux"}}]}
    idxb = json.dumps(idx).encode()
    reg.push_manifest(repo, ref, idxb, OCI_INDEX, token=token)
    return sha256(idxb), sha256(man)
