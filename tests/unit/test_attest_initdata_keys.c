/* init/attest/initdata_keys.c: every key of cdh.toml's and aa.toml's image and security sections
 * is one the guest implements, or the boot stops naming it (initdata.unsupported: <key>). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"
#include "unit.h"

static char *doc_with(const char *aa, const char *cdh)
{
	char *s = NULL;

	if (asprintf(&s,
		     "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"aa.toml\" = "
		     "'''\n%s'''\n"
		     "\"cdh.toml\" = '''\n%s'''\n",
		     aa, cdh) < 0)
		return NULL;
	return s;
}

/* NULL when accepted, else the error. */
static const char *parse(const char *aa, const char *cdh, struct sp_err *err)
{
	struct sp_initdata id;
	char *doc = doc_with(aa, cdh);

	if (!doc)
		return "oom";
	if (sp_initdata_parse(doc, strlen(doc), &id, err) < 0)
		return err->msg;
	sp_initdata_free(&id);
	return NULL;
}

static bool refused_naming(const char *aa, const char *cdh, const char *key)
{
	struct sp_err err;
	const char *m = parse(aa, cdh, &err);
	char want[256];

	(void)snprintf(want, sizeof(want), "initdata.unsupported: %s", key);
	if (!m || !strstr(m, want)) {
		fprintf(stderr, "    cdh.toml:\n%s    -> %s (wanted '%s')\n", cdh,
			m ? m : "accepted", want);
		return false;
	}
	return true;
}

static const char KBS_AA[] = "[token_configs.kbs]\nurl = \"https://kbs.test:8443\"\n";

TEST(attest_initdata_supported_keys_accepted)
{
	struct sp_err err;
	const char *m;

	m = parse("[token_configs]\n[token_configs.coco_as]\nurl = \"http://as.test\"\n"
		  "[token_configs.kbs]\nurl = \"https://kbs.test:8443\"\ncert = \"x\"\n"
		  "tee_key_algorithm = \"RSA-OAEP-256\"\n[sealpod]\nevidence = \"tpm\"\n"
		  "attestation = \"required\"\n",
		  "socket = \"unix:///run/cdh.sock\"\nservices_dir = \"/run/s\"\ncredentials = []\n"
		  "[aa]\naa_socket = \"unix:///run/aa.sock\"\n[log]\nlevel = \"info\"\n"
		  "[kbc]\nname = \"cc_kbc\"\nurl = \"https://kbs.test:8443\"\nkbs_cert = \"x\"\n"
		  "[image]\nauthenticated_registry_credentials_uri = \"kbs:///d/c/t\"\n"
		  "max_concurrent_layer_downloads_per_image = 2\n"
		  "image_security_policy = '{\"default\": [{\"type\": \"reject\"}]}'\n"
		  "anonymous_fallback_on_unauthorized = false\n"
		  "[sealpod]\ninsecure_registries = [\"r.test\"]\nregistry_ca = \"x\"\n"
		  "[sealpod.secrets.s]\nresource = \"kbs:///d/s/k\"\nimage = \"sha256:"
		  "0000000000000000000000000000000000000000000000000000000000000000\"\n"
		  "path = \"/run/s\"\n",
		  &err);
	CHECK(m == NULL);
	if (m)
		fprintf(stderr, "    %s\n", m);
}

TEST(attest_initdata_unsupported_keys_stop_the_boot)
{
	static const struct {
		const char *cdh, *key;
	} cases[] = {
		/* image trust and registry settings not implemented yet */
		{ "[image]\nsigstore_config_uri = \"kbs:///d/s/t\"\n", "image.sigstore_config_"
								       "uri" },
		{ "[image]\nregistry_configuration_uri = \"kbs:///d/r/t\"\n", "image.registry_"
									      "configuration_uri" },
		{ "[image.registry_config]\nunqualified-search-registries = [\"r.test\"]\n", "image"
											     ".regi"
											     "stry_"
											     "confi"
											     "g" },
		{ "[image]\nextra_root_certificates = [\"x\"]\n", "image.extra_root_certificates" },
		{ "[image.image_pull_proxy]\nhttps_proxy = \"http://127.0.0.1:1\"\n", "image.image_"
										      "pull_"
										      "proxy" },
		{ "[image]\nskip_proof_of_ownership = true\n", "image.skip_proof_of_ownership" },
		{ "[image]\nwork_dir = \"/run/image-rs\"\n", "image.work_dir" },
		{ "[image]\nanonymous_fallback_on_unauthorized = true\n", "image.anonymous_"
									  "fallback_on_"
									  "unauthorized" },
		{ "[image]\nno_such_key = 1\n", "image.no_such_key" },
		/* a quoted key that only looks like a supported one */
		{ "\"image.max_concurrent_layer_downloads_per_image\" = 3\n", "image.max_"
									      "concurrent_layer_"
									      "downloads_per_"
									      "image" },
		/* CDH's [[credentials]]: files fetched from the KBS at start, not done here */
		{ "[[credentials]]\npath = \"/run/x\"\nresource_uri = \"kbs:///d/x/y\"\n", "credent"
											   "ials" },
		{ "credentials = [ { path = \"/run/x\", resource_uri = \"kbs:///d/x/y\" } ]\n",
		  "credentials" },
		{ "[kbc]\nname = \"offline_fs_kbc\"\n", "kbc.name" },
		{ "[kbc]\nnmae = \"cc_kbc\"\n", "kbc.nmae" },
		{ "[sealpod]\nregistry_cas = \"x\"\n", "sealpod.registry_cas" },
		{ "[something]\nx = 1\n", "something" },
		{ "[log]\nfile = \"/tmp/x\"\n", "log.file" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(refused_naming(KBS_AA, cases[i].cdh, cases[i].key));
	/* aa.toml's security sections */
	CHECK(refused_naming("[token_configs.kbs]\nurl = \"https://k\"\nca = \"x\"\n", "",
			     "token_configs.kbs.ca"));
	CHECK(refused_naming("[token_configs.kbs_proxy]\nurl = \"https://k\"\n", "",
			     "token_configs.kbs_proxy"));
	CHECK(refused_naming("[sealpod]\nevidenc = \"tpm\"\n", "", "sealpod.evidenc"));
}

TEST(attest_initdata_unsupported_key_is_escaped)
{
	struct sp_err err;
	const char *m = parse("", "[image]\n\"a\\u001b[31mb\" = 1\n", &err);

	REQUIRE(m != NULL);
	CHECK(strstr(m, "initdata.unsupported: image.a") != NULL);
	CHECK(strchr(m, '\x1b') == NULL);
}

/* The shape of CoCo's example cdh.toml (our own text): the TOML parses, and the boot stops at
 * the first setting not implemented, named. */
TEST(attest_initdata_coco_example_shape_is_refused_by_name)
{
	CHECK(refused_naming(KBS_AA,
			     "socket = \"unix:///run/cdh.sock\"\n"
			     "[kbc]\nname = \"cc_kbc\"\nurl = \"https://kbs.test:8443\"\n"
			     "[image]\nmax_concurrent_layer_downloads_per_image = 3\n"
			     "sigstore_config_uri = \"kbs:///default/sigstore-config/t\"\n"
			     "[[image.registry_config.registry]]\nprefix = \"r.test/foo\"\n"
			     "location = \"inner.test/bar\"\n"
			     "[[image.registry_config.registry.mirror]]\nlocation = \"m.test\"\n",
			     "image.sigstore_config_uri"));
}

TEST(attest_initdata_signature_policy_from_the_kbs)
{
	struct sp_err err;
	const char *m;

	m = parse(KBS_AA, "[image]\nimage_security_policy_uri = \"kbs:///default/policy/p\"\n",
		  &err);
	CHECK(m == NULL);
	m = parse("", "[image]\nimage_security_policy_uri = \"kbs:///default/policy/p\"\n", &err);
	CHECK(m && strstr(m, "no KBS"));
	m = parse(KBS_AA, "[image]\nimage_security_policy_uri = \"kbs:///a/../p\"\n", &err);
	CHECK(m && strstr(m, "image_security_policy_uri"));
	m = parse(KBS_AA,
		  "[image]\nimage_security_policy_uri = \"kbs:///default/policy/p\"\n"
		  "image_security_policy = '{\"default\": [{\"type\": \"reject\"}]}'\n",
		  &err);
	CHECK(m && strstr(m, "both set"));
}
