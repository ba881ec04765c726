"""Image trust as Confidential Containers users configure it (issue 17): settings of cdh.toml and
aa.toml the guest does not implement stop the boot naming the key, so no setup that asks for
signatures or a registry configuration boots believing they are in force.
"""
import os
import shutil
import subprocess
import tempfile

import harness
from test_attest import Boot, initdata_disk

TOP = harness.TOP

# The shape of CoCo's example cdh.toml (our own values): [[credentials]] would be named first,
# so this one carries the image section's settings only, in CoCo's order.
COCO_CDH = """socket = "unix:///run/confidential-containers/cdh.sock"
[kbc]
name = "cc_kbc"
url = "http://10.0.2.100:8080"
[image]
max_concurrent_layer_downloads_per_image = 3
sigstore_config_uri = "kbs:///default/sigstore-config/test"
image_security_policy_uri = "kbs:///default/security-policy/test"
authenticated_registry_credentials_uri = "kbs:///default/credential/test"
registry_configuration_uri = "kbs:///default/registry-configuration/test"
[image.registry_config]
unqualified-search-registries = ["r1.test", "r2.test"]
[[image.registry_config.registry]]
prefix = "r1.test/foo"
location = "inner.test/bar"
[[image.registry_config.registry.mirror]]
location = "m0.test/foo"
[image.image_pull_proxy]
https_proxy = "http://127.0.0.1:5432"
"""


def initdata(cdh, aa=""):
    return ('version = "0.1.0"\nalgorithm = "sha384"\n[data]\n'
            f'"aa.toml" = \'\'\'\n{aa}\'\'\'\n"cdh.toml" = \'\'\'\n{cdh}\'\'\'\n')


def test_unknown_security_key_stops_the_boot():
    work = tempfile.mkdtemp(prefix="sealpod-trust-unsupported-")
    try:
        with Boot(work, initdata=initdata_disk(work, initdata(COCO_CDH))) as g:
            assert g.fatal_at_boot, "the guest became ready"
            g.wait_off()
            con = g.console()
            assert ("FATAL initdata.parse: initdata.unsupported: image.sigstore_config_uri "
                    "(cdh.toml: not implemented here" in con), con[-3000:]
            for later in ("policy:", "listen:", "attest: start", "ready:"):
                assert f"sealpod: {later}" not in con, later
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_trusttest(*args):
    p = subprocess.run(["unshare", "-n", "/usr/bin/python3",
                        os.path.join(TOP, "tests/image/trusttest.py"), *args],
                       cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1200)
    out = p.stdout.decode(errors="replace")
    lines = [ln for ln in out.splitlines() if ln.startswith(("ok ", "not ok "))]
    if p.returncode != 0:
        raise AssertionError("; ".join(ln for ln in lines if ln.startswith("not ok"))
                             + "\n" + out[-5000:])
    return "\n".join(lines)


def test_signature_policy_matrix_in_the_guest():
    """tests/image/trusttest.py: one boot, a pull per case (cosign signatures accepted and
    refused, reject and insecureAcceptAnything scopes), nothing of a refused image but its
    manifest fetched."""
    return run_trusttest()


def test_signature_policy_from_the_kbs():
    """image_security_policy_uri: the policy is a KBS resource fetched after attestation (sample
    evidence, tests/kbs/kbs.py); a signed image pulls, an unsigned one is refused before any of
    its blobs."""
    return run_trusttest("kbs")
