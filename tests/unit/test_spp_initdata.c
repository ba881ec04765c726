/* Unit tests of sealpod-policy's initdata (measure/policy/initdata_out.c): what it writes is read
 * back by the guest's own parser with every setting where the guest looks for it. */
#define _GNU_SOURCE
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

#include "../../measure/policy/spp.h"
#include "attest/attest_int.h"

#define DIGEST "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define SECRET "name=db,resource=kbs:///default/db/pw,image=" DIGEST ",path=/run/db,mode=0440"

static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

static int write_tmp(char *path, const char *text)
{
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int flag(struct spp_initdata_opts *o, const char *name, const char *value)
{
	struct sp_err err;

	return spp_initdata_parse_flag(o, name, value, &err);
}

TEST(spp_initdata_round_trips_through_the_guest_parser)
{
	/* A policy with ''' in it cannot be a literal string: the writer must escape it. */
	static const char policy[] = "{\"version\": 1, \"default\": \"allow\", \"requests\": "
				     "{\"ExecProcessRequest\": \"allow\"}, \"allowed_exec\": "
				     "[[\"/bin/echo\", \"'''\"]]}";
	char ca[] = "/tmp/spp-ca-XXXXXX";
	struct spp_initdata_opts o = { 0 };
	struct sp_initdata d;
	struct sp_err err;
	char *toml = NULL;

	REQUIRE(write_tmp(ca, pem) == 0);
	CHECK(flag(&o, "kbs-url", "https://kbs.example:8080") == 0);
	CHECK(flag(&o, "kbs-cert", ca) == 0);
	CHECK(flag(&o, "attestation", "required") == 0);
	CHECK(flag(&o, "max-layers", "5") == 0);
	CHECK(flag(&o, "insecure-registry", "reg.local:5000") == 0);
	CHECK(flag(&o, "registry-auth-uri", "kbs:///default/auth/reg") == 0);
	CHECK(flag(&o, "secret", SECRET) == 0);
	CHECK(flag(&o, "algorithm", "sha384") == 0);
	unlink(ca);
	REQUIRE(spp_initdata_build(policy, &o, &toml, &err) == 0);
	REQUIRE(sp_initdata_parse(toml, strlen(toml), &d, &err) == 0); /* takes toml */
	CHECK(d.alg == SP_HASH_SHA384 && d.digest_len == 48);
	CHECK_STR(d.kbs_url, "https://kbs.example:8080");
	CHECK_STR(d.kbs_cert, pem);
	CHECK(d.require_attestation);
	CHECK(d.image.max_parallel_layers == 5);
	CHECK(d.image.n_insecure_registries == 1);
	CHECK_STR(d.image.auth_uri, "kbs:///default/auth/reg");
	REQUIRE(d.nsecrets == 1);
	CHECK_STR(d.secrets[0].name, "db");
	CHECK_STR(d.secrets[0].image, DIGEST);
	CHECK(d.secrets[0].mode == 0440);
	CHECK_STR(d.policy, policy);
	sp_initdata_free(&d);
	spp_initdata_opts_free(&o);
}

TEST(spp_initdata_without_settings_is_the_bare_document)
{
	struct spp_initdata_opts o = { 0 };
	struct sp_err err;
	char *toml = NULL;

	REQUIRE(spp_initdata_build(NULL, &o, &toml, &err) == 0);
	CHECK_STR(toml, "version = \"0.1.0\"\nalgorithm = \"sha256\"\n\n[data]\n");
	free(toml);
}

TEST(spp_initdata_refuses_what_the_guest_would)
{
	struct spp_initdata_opts o = { 0 };
	struct sp_err err;
	char *toml = NULL;

	/* The guest powers off on these: the tool says so instead of writing them. */
	CHECK(flag(&o, "attestation", "sometimes") == 0);
	CHECK(spp_initdata_build(NULL, &o, &toml, &err) < 0);
	CHECK(strstr(err.msg, "the guest would refuse") && strstr(err.msg, "attestation"));
	spp_initdata_opts_free(&o);
	CHECK(flag(&o, "secret", "name=s,resource=kbs:///a/b/c,image=busybox,path=/x") == 0);
	CHECK(spp_initdata_build(NULL, &o, &toml, &err) < 0);
	CHECK(strstr(err.msg, "image must be a digest") != NULL);
	spp_initdata_opts_free(&o);
	CHECK(spp_initdata_build("{\"version\": 2}", &o, &toml, &err) < 0);
	CHECK(strstr(err.msg, "the guest would refuse this policy") != NULL);
}

TEST(spp_initdata_flags_refused_with_the_flag_named)
{
	struct spp_initdata_opts o = { 0 };
	struct sp_err err;

	CHECK(spp_initdata_parse_flag(&o, "policy", "x", &err) == 1); /* not one of them */
	CHECK(spp_initdata_parse_flag(&o, "max-layers", "0", &err) < 0);
	CHECK(strstr(err.msg, "--max-layers") != NULL);
	CHECK(spp_initdata_parse_flag(&o, "secret", "name=a,resource=r,image=i", &err) < 0);
	CHECK(spp_initdata_parse_flag(&o, "secret", "name=a,name=b,resource=r,image=i,path=/p",
				      &err) < 0);
	CHECK(spp_initdata_parse_flag(&o, "secret", "name=a,colour=r", &err) < 0);
	CHECK(strstr(err.msg, "colour") != NULL);
	CHECK(spp_initdata_parse_flag(&o, "kbs-cert", "/nonexistent/ca.pem", &err) < 0);
	CHECK(strstr(err.msg, "--kbs-cert") != NULL);
	CHECK(o.nsecrets == 0 && !o.kbs_cert);
	spp_initdata_opts_free(&o);
}

TEST(spp_initdata_settings_file_is_the_flags)
{
	char path[] = "/tmp/spp-settings-XXXXXX";
	struct spp_initdata_opts o = { 0 };
	struct sp_err err;

	REQUIRE(write_tmp(path, "kbs-url = \"https://k:1\"\nmax-layers = 7\n"
				"insecure-registry = [\"a:1\", \"b:2\"]\n[secret.db]\n"
				"resource = \"kbs:///r/t/g\"\nimage = \"" DIGEST "\"\n"
				"path = \"/run/db\"\n") == 0);
	CHECK(flag(&o, "initdata-settings", path) == 0);
	CHECK_STR(o.kbs_url, "https://k:1");
	CHECK(o.max_layers == 7 && o.ninsecure == 2 && o.nsecrets == 1);
	CHECK(o.nsecrets == 1 && strcmp(o.secrets[0].path, "/run/db") == 0);
	spp_initdata_opts_free(&o);
	unlink(path);
	/* A misspelt key, or a secret key outside its table, is never dropped silently. */
	strcpy(path, "/tmp/spp-settings-XXXXXX");
	REQUIRE(write_tmp(path, "kbs_url = \"https://k:1\"\n") == 0);
	CHECK(spp_initdata_parse_flag(&o, "initdata-settings", path, &err) < 0);
	CHECK(strstr(err.msg, "unknown key 'kbs_url'") != NULL);
	unlink(path);
	strcpy(path, "/tmp/spp-settings-XXXXXX");
	REQUIRE(write_tmp(path, "secret.db.resource = \"kbs:///r/t/g\"\n") == 0);
	CHECK(spp_initdata_parse_flag(&o, "initdata-settings", path, &err) < 0);
	unlink(path);
	spp_initdata_opts_free(&o);
}
