"""Encrypted layers on the host (issue 18): images skopeo encrypted (JWE, containers/ocicrypt)
and images our key-provider encryptor made (tests/image/crypt_image.py), pushed to
docker-registry on loopback and pulled by the guest's pull code built as a host command
(build/host/sealpod-pull-asan) with `--decryption-key URI=FILE` standing in for the KBS.

Run inside a fresh network and mount namespace:
    unshare -n -m /usr/bin/python3 tests/image/crypthost.py
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import crypt_image as C  # noqa: E402
import hosttest as H  # noqa: E402
import registry as R  # noqa: E402

JWE_URI = "kbs:///default/image-key/jwe"
KEK_URI = "kbs:///default/image-kek/k1"
SECRET = b"the plaintext of an encrypted layer\n"


def layers():
    base = C.tar_of([("etc", None), ("etc/os-release", b"ID=sealpod-test\n")])
    secret = C.tar_of([("app", None), ("app/secret.txt", SECRET * 4)])
    return [base, secret]


def layer_dirs(store):
    return sorted(n for n in os.listdir(store) if len(n) == 64)


def read_secret(store, diff_id):
    with open(os.path.join(store, diff_id[7:], "app", "secret.txt"), "rb") as f:
        return f.read()


def main():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if len(subprocess.run(["ip", "-o", "link"], stdout=subprocess.PIPE).stdout.splitlines()) != 1:
        sys.exit("refusing to run outside a fresh network namespace (use unshare -n -m)")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run([os.path.join(HERE, "build-cli"), "--asan"], check=True)
    w = H.WORK
    reg = R.Registry(os.path.join(w, "reg"), H.PKI, auth="htpasswd")
    auth = H.auth_json(reg.host)
    priv, pub = C.rsa_keypair(w)
    other_priv = os.path.join(w, "other")
    os.makedirs(other_priv)
    other_priv, _ = C.rsa_keypair(other_priv)
    src = os.path.join(w, "src")
    ls = layers()
    C.write_layout(src, ls)
    secret_diff = C.sha256(ls[1])
    # skopeo: every layer, and only the second (a mixed image)
    C.skopeo_encrypt_jwe(src, os.path.join(w, "jwe-all"), pub)
    C.skopeo_encrypt_jwe(src, os.path.join(w, "jwe-mixed"), pub, layers=[1])
    R.skopeo_push(H.PKI, os.path.join(w, "jwe-all"), "latest", reg, "jwe-all")
    R.skopeo_push(H.PKI, os.path.join(w, "jwe-mixed"), "latest", reg, "jwe-mixed")
    # our key-provider encryptor
    kek = os.urandom(32)
    kek_file = os.path.join(w, "kek")
    with open(kek_file, "wb") as f:
        f.write(kek)
    man, blobs = C.read_layout(src)
    aa = C.aa_encrypt_image(man, blobs, KEK_URI, kek)
    R.push_raw(reg, "aa-all", "latest", *aa)
    # the same with one ciphertext byte flipped (its digest fixed up: only the HMAC can tell)
    tm = json.loads(aa[0])
    bad = bytearray(aa[2][2])
    bad[len(bad) // 2] ^= 1
    tm["layers"][1].update(digest=C.sha256(bytes(bad)), size=len(bad))
    R.push_raw(reg, "aa-tampered", "latest", json.dumps(tm).encode(), aa[1],
               [aa[2][0], aa[2][1], bytes(bad)])
    jwe_key = ["--decryption-key", f"{JWE_URI}={priv}"]
    kek_key = ["--decryption-key", f"{KEK_URI}={kek_file}"]

    @H.case
    def crypt_jwe_skopeo_image_pulls_with_the_key():
        # the KEK first: a key that is not a private key is skipped for JWE recipients
        info = H.pull(f"{reg.host}/jwe-all:latest", auth=auth, extra=kek_key + jwe_key)
        assert info["layers"] == "2" and info["fetched"] == "2", info
        assert read_secret(info["store"], secret_diff) == SECRET * 4
        H.nothing_outside(info["store"])

    @H.case
    def crypt_jwe_without_or_with_another_key_fails_unpacks_nothing():
        for extra in ([], ["--decryption-key", f"{JWE_URI}={other_priv}"]):
            info = H.pull(f"{reg.host}/jwe-all:latest", auth=auth, extra=extra, expect_ok=False)
            assert "decrypt" in info.get("error", "") and "JWE" in info["error"], info
            assert layer_dirs(info["store"]) == [], os.listdir(info["store"])

    @H.case
    def crypt_mixed_image():
        info = H.pull(f"{reg.host}/jwe-mixed:latest", auth=auth, extra=jwe_key)
        assert info["fetched"] == "2", info
        assert read_secret(info["store"], secret_diff) == SECRET * 4
        # without the key: the plain layer may land, the encrypted one never does
        info = H.pull(f"{reg.host}/jwe-mixed:latest", auth=auth, expect_ok=False)
        assert secret_diff[7:] not in layer_dirs(info["store"]), info

    @H.case
    def crypt_key_provider_packet():
        info = H.pull(f"{reg.host}/aa-all:latest", auth=auth, extra=kek_key)
        assert read_secret(info["store"], secret_diff) == SECRET * 4
        H.nothing_outside(info["store"])

    @H.case
    def crypt_key_provider_missing_or_wrong_kek_names_the_kid():
        wrong = os.path.join(w, "wrong-kek")
        with open(wrong, "wb") as f:
            f.write(bytes(32))
        for extra in ([], jwe_key, ["--decryption-key", f"{KEK_URI}={wrong}"]):
            info = H.pull(f"{reg.host}/aa-all:latest", auth=auth, extra=extra, expect_ok=False)
            assert KEK_URI in info.get("error", ""), info
            assert layer_dirs(info["store"]) == [], os.listdir(info["store"])

    @H.case
    def crypt_tampered_ciphertext_fails_on_the_hmac():
        info = H.pull(f"{reg.host}/aa-tampered:latest", auth=auth, extra=kek_key,
                      expect_ok=False)
        assert "HMAC" in info.get("error", ""), info
        # neither the layer nor its staging directory (the plain layer's worker, stopped by
        # the failure, may leave its own staging directory: not this test's subject)
        assert not [n for n in os.listdir(info["store"]) if secret_diff[7:] in n], info

    @H.case
    def crypt_require_encrypted_refuses_a_plain_layer_before_fetching():
        req = ["--require-encrypted"]
        info = H.pull(f"{reg.host}/jwe-all:latest", auth=auth, extra=req + jwe_key)
        assert info["fetched"] == "2", info
        info = H.pull(f"{reg.host}/jwe-mixed:latest", auth=auth, extra=req + jwe_key,
                      expect_ok=False)
        err = info.get("error", "")
        assert "require_encrypted_layers" in err and "layer 0" in err, info
        assert os.listdir(info["store"]) == [], os.listdir(info["store"])

    for fn in (crypt_jwe_skopeo_image_pulls_with_the_key,
               crypt_require_encrypted_refuses_a_plain_layer_before_fetching,
               crypt_jwe_without_or_with_another_key_fails_unpacks_nothing, crypt_mixed_image,
               crypt_key_provider_packet, crypt_key_provider_missing_or_wrong_kek_names_the_kid,
               crypt_tampered_ciphertext_fails_on_the_hmac):
        fn()
    reg.stop()
    failed = sum(1 for _, e in H.results if e)
    print(f"{len(H.results) - failed} passed, {failed} failed")
    subprocess.run(f"grep -o ' {w}/[^ ]*' /proc/mounts | xargs -r -n1 umount", shell=True)
    subprocess.run(["rm", "-rf", w])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
