/* init/image/sigpolicy.c and cosign.c: containers-policy.json (scopes, requirements, identities)
 * and cosign signatures made by tests/image/cosign_sign.py (python3-cryptography) in cosign's
 * format (fixtures: tests/data/trust/README.md). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "image/sigpolicy.h"
#include "unit.h"

#define DATA "tests/data/trust/"

static char *slurp(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *b;
	long n;

	*len = 0;
	if (!name[0])
		return strdup(""); /* no signature */
	(void)snprintf(path, sizeof(path), DATA "%s", name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	(void)fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	if (n < 0) {
		(void)fclose(f);
		return NULL;
	}
	b = malloc((size_t)n + 1);
	*len = b ? fread(b, 1, (size_t)n, f) : 0;
	if (b)
		b[*len] = 0;
	(void)fclose(f);
	return b;
}

/* keyData for a key file: the base64 of its PEM. */
static char *key_data(const char *name)
{
	size_t n;
	char *pem = slurp(name, &n), *b64;

	if (!pem)
		return NULL;
	b64 = malloc(n / 3 * 4 + 8);
	if (b64)
		EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)pem, (int)n);
	free(pem);
	return b64;
}

/* A policy with the given docker scopes (JSON members) and default. */
static struct sp_sigpolicy *policy(const char *def, const char *scopes, struct sp_err *err)
{
	struct sp_sigpolicy *p = calloc(1, sizeof(*p));
	char *doc = NULL;

	if (!p || asprintf(&doc, "{\"default\": %s, \"transports\": {\"docker\": {%s}}}", def,
			   scopes) < 0) {
		free(p);
		return NULL;
	}
	if (sp_sigpolicy_parse(doc, strlen(doc), p, err) < 0) {
		free(p);
		p = NULL;
	}
	free(doc);
	return p;
}

static struct sp_image_ref ref_of(const char *s)
{
	struct sp_image_ref r;
	struct sp_err err;

	if (sp_image_ref_parse(s, &r, &err) < 0)
		memset(&r, 0, sizeof(r));
	return r;
}

TEST(sigpolicy_scopes_most_specific_wins)
{
	struct sp_err err;
	struct sp_sigpolicy *p = policy("[{\"type\": \"reject\"}]",
					"\"r.test/app\": [{\"type\": \"insecureAcceptAnything\"}],"
					"\"r.test/app:v1\": [{\"type\": \"reject\"}],"
					"\"r.test/ns\": [{\"type\": \"insecureAcceptAnything\"}],"
					"\"r.test\": [{\"type\": \"reject\"}, {\"type\": "
					"\"insecureAcceptAnything\"}],"
					"\"*.example.com\": [{\"type\": "
					"\"insecureAcceptAnything\"}],"
					"\"\": [{\"type\": \"insecureAcceptAnything\"}]",
					&err);
	static const struct {
		const char *ref, *scope;
	} cases[] = {
		{ "r.test/app:v1", "r.test/app:v1" },
		{ "r.test/app:v2", "r.test/app" },
		{ "r.test/"
		  "app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
		  "r.test/app" },
		{ "r.test/ns/deeper/img", "r.test/ns" },
		{ "r.test/other", "r.test" },
		{ "a.b.example.com/x", "*.example.com" },
		{ "example.com/x", "" },
		{ "r.test:5000/app", "" },
		{ "busybox", "" },
	};

	if (!p)
		fprintf(stderr, "    %s\n", err.msg);
	REQUIRE(p);
	CHECK(p->nscopes == 6 && p->def.n == 1 && p->def.req[0].type == SP_SIGREQ_REJECT);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sp_image_ref r = ref_of(cases[i].ref);
		CHECK_STR(sp_sigpolicy_select(p, &r)->scope, cases[i].scope);
	}
	free(p);
	/* no "" scope: the default */
	p = policy("[{\"type\": \"reject\"}]", "\"r.test\": [{\"type\": \"reject\"}]", &err);
	REQUIRE(p);
	{
		struct sp_image_ref r = ref_of("q.test/x");
		CHECK(sp_sigpolicy_select(p, &r) == &p->def);
	}
	free(p);
}

TEST(sigpolicy_refuses_what_it_does_not_implement)
{
	char *kd = key_data("ecdsa.pub");
	char sig[8192];
	static const struct {
		const char *def, *scopes, *why;
	} bad[] = {
		{ "[{\"type\": \"signedBy\", \"keyType\": \"GPGKeys\", \"keyPath\": \"/k\"}]", "",
		  "signedBy" },
		{ "[{\"type\": \"sigstoreSigned\", \"fulcio\": {}}]", "", "keyless" },
		{ "[{\"type\": \"sigstoreSigned\", \"keyPath\": \"/etc/cosign.pub\"}]", "",
		  "kbs:///" },
		{ "[{\"type\": \"sigstoreSigned\", \"keyPaths\": [\"kbs:///a/b/c\"]}]", "",
		  "keyPaths" },
		{ "[{\"type\": \"reject\", \"extra\": 1}]", "", "\"extra\"" },
		{ "[{\"type\": \"acceptSometimes\"}]", "", "unknown requirement" },
		{ "[]", "", "1 to 8" },
		{ "{}", "", "array" },
		{ "[{\"type\": \"sigstoreSigned\"}]", "", "needs one of keyData" },
		{ "[{\"type\": \"sigstoreSigned\", \"keyData\": \"bm90IGEga2V5\"}]", "", "PEM" },
		{ "[{\"type\": \"sigstoreSigned\", \"keyData\": \"!!!!\"}]", "", "base64" },
		{ "[{\"type\": \"reject\"}]", "\"x\": 1", "array" },
	};
	struct sp_err err;

	REQUIRE(kd);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sp_sigpolicy *p = policy(bad[i].def, bad[i].scopes, &err);
		CHECK(!p && strstr(err.msg, bad[i].why));
		if (p || !strstr(err.msg, bad[i].why))
			fprintf(stderr, "    %s -> %s\n", bad[i].def, p ? "accepted" : err.msg);
		free(p);
	}
	(void)snprintf(sig, sizeof(sig),
		       "[{\"type\": \"sigstoreSigned\", \"keyData\": \"%s\", \"signedIdentity\": "
		       "{\"type\": \"remapIdentity\", \"prefix\": \"a\", \"signedPrefix\": "
		       "\"b\"}}]",
		       kd);
	CHECK(!policy(sig, "", &err) && strstr(err.msg, "remapIdentity"));
	free(kd);
	{
		struct sp_sigpolicy *p = calloc(1, sizeof(*p));
		static const char *docs[] = {
			"{\"transports\": {}}",
			"{\"default\": [{\"type\": \"reject\"}], \"transports\": {\"atomic\": {}}}",
			"{\"default\": [{\"type\": \"reject\"}], \"extra\": 1}",
			"{\"default\": [{\"type\": \"reject\"}]} x",
			"[1]",
		};
		REQUIRE(p);
		for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
			CHECK(sp_sigpolicy_parse(docs[i], strlen(docs[i]), p, &err) < 0);
		free(p);
	}
}

struct fixture {
	char *digest, *payload[4], *sig[4];
	size_t plen[4];
};

/* A sigstoreSigned policy for r.test/app with key and identity (JSON member or ""). */
static struct sp_sigpolicy *signed_policy(const char *key, const char *identity)
{
	char *kd = key_data(key), *reqs = NULL;
	struct sp_sigpolicy *p = NULL;
	struct sp_err err;

	if (kd && asprintf(&reqs,
			   "\"r.test/app\": [{\"type\": \"sigstoreSigned\", \"keyData\": "
			   "\"%s\"%s}]",
			   kd, identity) >= 0)
		p = policy("[{\"type\": \"reject\"}]", reqs, &err);
	if (!p)
		fprintf(stderr, "    policy: %s\n", err.msg);
	free(kd);
	free(reqs);
	return p;
}

/* Judges one signature (payload and sig fixture names) for ref at the fixtures' digest. */
static int judge(const struct sp_sigpolicy *p, const char *ref, const char *payload,
		 const char *sig, const char *want, char *why, size_t cap)
{
	size_t plen, slen, dlen;
	char *pl = slurp(payload, &plen), *sg = slurp(sig, &slen), *dg = slurp("digest", &dlen);
	struct sp_image_ref r = ref_of(ref);
	struct sp_cosign_sig s = { (const uint8_t *)pl, plen, sg };
	struct sp_err err = { 0 };
	int ret = -1;

	if (pl && sg && dg)
		ret = sp_sigpolicy_judge(sp_sigpolicy_select(p, &r), &r, want ? want : dg, &s,
					 payload[0] ? 1 : 0, &err);
	(void)snprintf(why, cap, "%s", ret < 0 ? err.msg : "");
	free(pl);
	free(sg);
	free(dg);
	return ret;
}

TEST(sigpolicy_cosign_signatures_judged)
{
	struct sp_sigpolicy *p = signed_policy("ecdsa.pub", ""), *ed, *repo, *exact;
	char why[512];

	REQUIRE(p);
	/* matchRepoDigestOrExact (the default): a pull by digest needs the same repository */
	CHECK(judge(p,
		    "r.test/app@sha256:9d270eacd5e7ad854b1abc94191d130c93341de017231536a8c06f9a"
		    "6992868b",
		    "payload-good", "sig-good.ecdsa", NULL, why, sizeof(why)) == 0);
	CHECK(judge(p, "r.test/app:v1", "payload-tagged", "sig-tagged.ecdsa", NULL, why,
		    sizeof(why)) == 0);
	/* ... and a tagged pull the same tag: cosign's untagged identity does not do */
	CHECK(judge(p, "r.test/app:v1", "payload-good", "sig-good.ecdsa", NULL, why, sizeof(why)) <
		      0 &&
	      strstr(why, "identity"));
	CHECK(judge(p, "r.test/app:v1", "payload-good", "sig-good.other", NULL, why, sizeof(why)) <
		      0 &&
	      strstr(why, "no signature verifies"));
	CHECK(strstr(why, "scope \"r.test/app\" requirement 0 (sigstoreSigned)"));
	CHECK(judge(p, "r.test/app:v1", "payload-other-digest", "sig-other-digest.ecdsa", NULL, why,
		    sizeof(why)) < 0 &&
	      strstr(why, "another manifest digest"));
	/* the tag moved after signing: the guest's digest is not the signed one */
	CHECK(judge(p, "r.test/app:v1", "payload-tagged", "sig-tagged.ecdsa",
		    "sha256:1111111111111111111111111111111111111111111111111111111111111111", why,
		    sizeof(why)) < 0 &&
	      strstr(why, "another manifest digest"));
	CHECK(judge(p, "r.test/app:v1", "", "sig-good.ecdsa", NULL, why, sizeof(why)) < 0 &&
	      strstr(why, "no signature"));
	/* a signature of this key over one payload is not one over another */
	CHECK(judge(p, "r.test/app:v1", "payload-tagged", "sig-good.ecdsa", NULL, why,
		    sizeof(why)) < 0 &&
	      strstr(why, "no signature verifies"));
	/* outside the scope: the default rejects, naming it */
	CHECK(judge(p, "r.test/else:v1", "payload-tagged", "sig-tagged.ecdsa", NULL, why,
		    sizeof(why)) < 0 &&
	      strstr(why, "scope \"default\" requirement 0 (reject)"));
	free(p);

	ed = signed_policy("ed25519.pub", ", \"signedIdentity\": {\"type\": \"matchRepository\"}");
	REQUIRE(ed);
	CHECK(judge(ed, "r.test/app:v1", "payload-good", "sig-good.ed25519", NULL, why,
		    sizeof(why)) == 0);
	CHECK(judge(ed, "r.test/app:v1", "payload-good", "sig-good.ecdsa", NULL, why, sizeof(why)) <
	      0);
	CHECK(judge(ed, "r.test/app:v1", "payload-other-repo", "sig-other-repo.ecdsa", NULL, why,
		    sizeof(why)) < 0);
	free(ed);

	repo = signed_policy("ecdsa.pub", ", \"signedIdentity\": {\"type\": \"exactRepository\", "
					  "\"dockerRepository\": \"r.test/elsewhere\"}");
	REQUIRE(repo);
	CHECK(judge(repo, "r.test/app:v1", "payload-other-repo", "sig-other-repo.ecdsa", NULL, why,
		    sizeof(why)) == 0);
	CHECK(judge(repo, "r.test/app:v1", "payload-good", "sig-good.ecdsa", NULL, why,
		    sizeof(why)) < 0);
	free(repo);

	exact = signed_policy("ecdsa.pub", ", \"signedIdentity\": {\"type\": \"exactReference\", "
					   "\"dockerReference\": \"r.test/app:v1\"}");
	REQUIRE(exact);
	CHECK(judge(exact, "r.test/app:v2", "payload-tagged", "sig-tagged.ecdsa", NULL, why,
		    sizeof(why)) == 0);
	CHECK(judge(exact, "r.test/app:v2", "payload-good", "sig-good.ecdsa", NULL, why,
		    sizeof(why)) < 0);
	free(exact);
}

TEST(sigpolicy_identity_matchers)
{
	struct sp_sigreq rq = { .id = SP_SIGID_MATCH_EXACT };
	struct sp_image_ref tagged = ref_of("r.test/app:v1");
	struct sp_image_ref bydigest = ref_of("r.test/"
					      "app@sha256:"
					      "9d270eacd5e7ad854b1abc94191d130c93341de017231536a8c0"
					      "6f9a6992868b");

	CHECK(sp_sigpolicy_identity_ok(&rq, &tagged, "r.test/app:v1"));
	CHECK(!sp_sigpolicy_identity_ok(&rq, &tagged, "r.test/app"));
	CHECK(!sp_sigpolicy_identity_ok(&rq, &tagged, "r.test/app:v2"));
	CHECK(!sp_sigpolicy_identity_ok(&rq, &bydigest, "r.test/app"));
	CHECK(sp_sigpolicy_identity_ok(&rq, &bydigest,
				       "r.test/app@sha256:9d270eacd5e7ad854b1abc94191d130c9334"
				       "1de017231536a8c06f9a6992868b"));
	rq.id = SP_SIGID_MATCH_REPOSITORY;
	CHECK(sp_sigpolicy_identity_ok(&rq, &tagged, "r.test/app:other"));
	CHECK(!sp_sigpolicy_identity_ok(&rq, &tagged, "r.test/app2"));
	CHECK(!sp_sigpolicy_identity_ok(&rq, &tagged, "q.test/app"));
	CHECK(!sp_sigpolicy_identity_ok(&rq, &tagged, "not a reference"));
	/* docker.io's normalisation applies to both sides */
	tagged = ref_of("busybox:1");
	CHECK(sp_sigpolicy_identity_ok(&rq, &tagged, "docker.io/library/busybox"));
}

TEST(cosign_registry_format)
{
	struct sp_cosign_layer l[SP_COSIGN_MAX_SIGS];
	size_t len, plen, n = 0;
	char *man = slurp("sig-manifest.json", &len), *pl = slurp("payload-good", &plen);
	char tag[80], ref[300], dg[SP_DIGEST_LEN + 1], want[SP_DIGEST_LEN + 1];
	struct sp_err err;
	static const char *bad_payloads[] = {
		"{\"critical\":{\"identity\":{\"docker-reference\":\"r\"},\"image\":{\"docker-"
		"manifest-digest\":\"sha256:00\"},\"type\":\"cosign container image signature\"}}",
		"{\"critical\":{\"identity\":{\"docker-reference\":\"r\"},\"image\":{\"docker-"
		"manifest-digest\":\"sha256:0000000000000000000000000000000000000000000000000000000"
		"000000000\"},\"type\":\"something else\"}}",
		"{\"critical\":{\"image\":{\"docker-manifest-digest\":\"sha256:"
		"000000000000000000000"
		"0000000000000000000000000000000000000000000\"},\"type\":\"cosign container image "
		"signature\"}}",
		"[]",
		"{",
	};

	REQUIRE(man && pl);
	sp_cosign_sig_tag("sha256:9d270eacd5e7ad854b1abc94191d130c93341de017231536a8c06f9a6992868b",
			  tag);
	CHECK_STR(tag, "sha256-9d270eacd5e7ad854b1abc94191d130c93341de017231536a8c06f9a6992868b."
		       "sig");
	REQUIRE(sp_cosign_sig_manifest(man, len, l, SP_COSIGN_MAX_SIGS, &n, &err) == 0);
	CHECK(n == 2);
	sp_sha256_digest(pl, plen, want);
	CHECK_STR(l[0].digest, want);
	CHECK(l[0].size == plen);
	REQUIRE(sp_cosign_payload((const uint8_t *)pl, plen, ref, dg, &err) == 0);
	CHECK_STR(ref, "r.test/app");
	for (size_t i = 0; i < sizeof(bad_payloads) / sizeof(bad_payloads[0]); i++)
		CHECK(sp_cosign_payload((const uint8_t *)bad_payloads[i], strlen(bad_payloads[i]),
					ref, dg, &err) < 0);
	CHECK(sp_cosign_sig_manifest("{\"layers\": 1}", 13, l, 4, &n, &err) < 0);
	/* other layer kinds are never taken for signatures */
	{
		const char *other = "{\"layers\": [{\"mediaType\": \"x\"}]}";
		CHECK(sp_cosign_sig_manifest(other, strlen(other), l, 4, &n, &err) == 0 && n == 0);
	}
	free(man);
	free(pl);
}

/* keyPath kbs:///: listed for PID 1 to fetch, then resolved from the keys it fetched. */
TEST(sigpolicy_key_from_the_kbs)
{
	static const char doc[] =
		"{\"default\": [{\"type\": \"reject\"}], \"transports\": {\"docker\": {"
		"\"r.test/app\": [{\"type\": \"sigstoreSigned\", \"keyPath\": \"kbs:///d/k/a\","
		" \"signedIdentity\": {\"type\": \"matchRepository\"}}],"
		"\"r.test/b\": [{\"type\": \"sigstoreSigned\", \"keyPath\": \"kbs:///d/k/a\"}],"
		"\"r.test/c\": [{\"type\": \"sigstoreSigned\", \"keyPath\": \"kbs:///d/k/c\"}]}}}";
	struct sp_sigpolicy *p = calloc(1, sizeof(*p));
	struct sp_sigkey *keys = calloc(2, sizeof(*keys));
	struct sp_image_ref r = ref_of("r.test/app:v1");
	size_t n, slen;
	char *pem = slurp("ecdsa.pub", &n), *pl = slurp("payload-good", &n);
	char *sg = slurp("sig-good.ecdsa", &slen), *dg = slurp("digest", &slen);
	struct sp_err err;

	REQUIRE(p && keys && pem && pl && sg && dg);
	/* listing: both URIs once, the keys left empty (nothing verifies with them) */
	REQUIRE(sp_sigpolicy_parse(doc, strlen(doc), p, &err) == 0);
	CHECK(p->nkey_uris == 2);
	CHECK_STR(p->key_uris[0], "kbs:///d/k/a");
	CHECK_STR(p->key_uris[1], "kbs:///d/k/c");
	CHECK(sp_sigpolicy_select(p, &r)->req[0].key_pem[0] == '\0');
	/* resolving: every keyPath must have its key */
	(void)snprintf(keys[0].uri, sizeof(keys[0].uri), "kbs:///d/k/a");
	(void)snprintf(keys[0].pem, sizeof(keys[0].pem), "%s", pem);
	CHECK(sp_sigpolicy_parse_keys(doc, strlen(doc), keys, 1, p, &err) < 0 &&
	      strstr(err.msg, "not fetched"));
	(void)snprintf(keys[1].uri, sizeof(keys[1].uri), "kbs:///d/k/c");
	(void)snprintf(keys[1].pem, sizeof(keys[1].pem), "%s", pem);
	REQUIRE(sp_sigpolicy_parse_keys(doc, strlen(doc), keys, 2, p, &err) == 0);
	{
		struct sp_cosign_sig s = { (const uint8_t *)pl, n, sg };
		CHECK(sp_sigpolicy_judge(sp_sigpolicy_select(p, &r), &r, dg, &s, 1, &err) == 0);
	}
	CHECK(sp_sigpolicy_parse_keys(doc, strlen(doc), NULL, 0, p, &err) < 0);
	free(p);
	free(keys);
	free(pem);
	free(pl);
	free(sg);
	free(dg);
}
