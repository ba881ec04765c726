/* sealpod-policy initdata: the initdata TOML around a policy (initdata_out.c), to a file or
 * stdout, and with --refvalues what the KBS needs for it. */
#define _GNU_SOURCE
#include "spp.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/policy.h"

const char spp_initdata_flags_help[] =
	"initdata (aa.toml, cdh.toml; each as the guest reads it, see README \"Attestation and\n"
	"initdata\"):\n"
	"  --kbs-url URL                 the KBS (aa.toml token_configs.kbs.url, cdh.toml "
	"kbc.url)\n"
	"  --kbs-cert PEMFILE            the only CA the guest trusts for the KBS\n"
	"  --tee-key-algorithm ALG       ECDH-ES+A256KW (the guest's default) or RSA-OAEP-256\n"
	"  --evidence tdx|snp|tpm        aa.toml [sealpod] evidence (default: what the machine "
	"has)\n"
	"  --attestation required|auto   aa.toml [sealpod] attestation\n"
	"  --registry-auth-uri kbs:///R/T/G  a containers-auth.json KBS resource\n"
	"  --registry-ca PEMFILE         a CA the guest adds for registries\n"
	"  --max-layers N                layers pulled at once per image (1..64)\n"
	"  --insecure-registry HOST      plain http for HOST (test overlay only), repeatable\n"
	"  --secret name=N,resource=kbs:///R/T/G,image=sha256:H,path=/P[,mode=0400]\n"
	"                                a KBS secret for the containers of one image, repeatable\n"
	"  --algorithm sha256|sha384|sha512  the initdata digest (sha256 for a vTPM guest)\n"
	"  --initdata-settings FILE      the same as a TOML file: each flag's name as a key, "
	"arrays\n"
	"                                for the repeatable ones, [secret.<name>] tables\n";

static const char usage[] =
	"usage: sealpod-policy initdata [--policy FILE] [INITDATA FLAGS] [-o FILE] [--refvalues]\n"
	"\n"
	"Writes the initdata TOML for a sealpod guest: the policy (JSON or Rego, as the guest\n"
	"loads it; none: the guest's built-in default) and the settings below. The result is read\n"
	"back with the guest's own initdata parser and policy loader before it is written.\n"
	"  --policy FILE      the API policy ([data] policy.rego)\n"
	"  -o, --output FILE  where to write (default: stdout)\n"
	"  --refvalues        then print the reference values the KBS needs for it (stdout;\n"
	"                     the initdata then goes to -o, which is required)\n";

static int write_initdata(const char *policy_path, const struct spp_initdata_opts *o,
			  const char *out, bool refvalues)
{
	char *policy = NULL, *toml = NULL;
	size_t plen;
	struct sp_err err = { 0 };
	int rc = SPP_EXIT_ERROR;

	if (policy_path && spp_read_file(policy_path, SP_POLICY_MAX_DOC, &policy, &plen, &err) < 0)
		goto out;
	if (policy && strlen(policy) != plen) {
		sp_fail(&err, SP_E_INVALID, 0, "%s: holds a NUL byte", policy_path);
		goto out;
	}
	if (spp_initdata_build(policy, o, &toml, &err) < 0 ||
	    spp_write_file(out, toml, strlen(toml), &err) < 0)
		goto out;
	if (refvalues && spp_refvalues(out, stdout, &err) < 0)
		goto out;
	rc = SPP_EXIT_OK;
out:
	if (rc != SPP_EXIT_OK)
		(void)fprintf(stderr, "sealpod-policy initdata: %s\n", err.msg);
	free(policy);
	free(toml);
	return rc;
}

int spp_initdata_main(int argc, char **argv)
{
	enum { OPT_POLICY = 0x100, OPT_REFVALUES };
	static const struct option longopts[] = { { "policy", required_argument, NULL, OPT_POLICY },
						  { "output", required_argument, NULL, 'o' },
						  { "refvalues", no_argument, NULL, OPT_REFVALUES },
						  { "help", no_argument, NULL, 'h' },
						  SPP_INITDATA_LONGOPTS,
						  { 0 } };
	struct spp_initdata_opts o = { 0 };
	const char *policy = NULL, *out = "-";
	bool refvalues = false;
	struct sp_err err;
	int c, idx, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", longopts, &idx)) != -1) {
		switch (c) {
		case OPT_POLICY:
			policy = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case OPT_REFVALUES:
			refvalues = true;
			break;
		case 'h':
			(void)printf("%s\n%s", usage, spp_initdata_flags_help);
			spp_initdata_opts_free(&o);
			return SPP_EXIT_OK;
		case SPP_OPT_INITDATA:
			if (spp_initdata_parse_flag(&o, longopts[idx].name, optarg, &err) == 0)
				break;
			(void)fprintf(stderr, "sealpod-policy initdata: %s\n", err.msg);
			spp_initdata_opts_free(&o);
			return SPP_EXIT_ERROR;
		default:
			(void)fputs(usage, stderr);
			spp_initdata_opts_free(&o);
			return SPP_EXIT_ERROR;
		}
	}
	if (optind != argc || (refvalues && strcmp(out, "-") == 0)) {
		(void)fputs(usage, stderr);
		spp_initdata_opts_free(&o);
		return SPP_EXIT_ERROR;
	}
	rc = write_initdata(policy, &o, out, refvalues);
	spp_initdata_opts_free(&o);
	return rc;
}
