/* sealpod-policy annotate: a pod's YAML with its initdata as the cc_init_data annotation
 * (annotate.c), and with --refvalues what the KBS needs for that initdata. */
#define _GNU_SOURCE
#include "spp.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"

#define YAML_MAX ((size_t)16 << 20)

static const char usage[] =
	"usage: sealpod-policy annotate POD.yaml --initdata FILE [-o OUT] [--refvalues]\n"
	"\n"
	"Writes POD.yaml (\"-\": stdin) with the annotation\n"
	"  " SPP_ANNOTATION ": gzip, then base64, of FILE\n"
	"on the pod template's metadata of every Pod, Deployment, StatefulSet, DaemonSet,\n"
	"ReplicaSet, Job and CronJob document (an existing one is replaced); everything else in\n"
	"the file is kept as it is. FILE must be initdata the guest accepts.\n"
	"  -o, --output FILE  where to write (default: stdout; may be POD.yaml itself)\n"
	"  --refvalues        print the reference values the KBS needs for FILE (stdout; needs "
	"-o)\n";

/* The initdata must be what the guest takes: a pod whose guest would power off is no use. */
static int read_initdata(const char *path, char **toml, size_t *len, struct sp_err *err)
{
	struct sp_initdata d;
	char *copy;

	if (spp_read_file(path, SP_INITDATA_MAX_TOML, toml, len, err) < 0)
		return sp_error_wrap(err, "--initdata");
	copy = strdup(*toml);
	if (!copy) {
		free(*toml);
		*toml = NULL;
		return sp_error(err, 0, "out of memory");
	}
	if (sp_initdata_parse(copy, *len, &d, err) < 0) { /* takes copy */
		free(*toml);
		*toml = NULL;
		return sp_error_wrap(err, "%s: the guest would refuse it", path);
	}
	sp_initdata_free(&d);
	return 0;
}

static int annotate(const char *yaml_path, const char *initdata, const char *out, bool refvalues)
{
	char *toml = NULL, *value = NULL, *yaml = NULL, *res = NULL;
	size_t tlen, ylen, rlen;
	struct sp_err err = { 0 };
	int rc = SPP_EXIT_ERROR;

	if (read_initdata(initdata, &toml, &tlen, &err) < 0 ||
	    spp_annotation_encode(toml, tlen, &value, &err) < 0 ||
	    spp_read_file(yaml_path, YAML_MAX, &yaml, &ylen, &err) < 0)
		goto out;
	if (spp_annotate_yaml(yaml, ylen, value, &res, &rlen, &err) < 0) {
		sp_error_wrap(&err, "%s", yaml_path);
		goto out;
	}
	if (spp_write_file(out, res, rlen, &err) < 0 ||
	    (refvalues && spp_refvalues(initdata, stdout, &err) < 0))
		goto out;
	rc = SPP_EXIT_OK;
out:
	if (rc != SPP_EXIT_OK)
		(void)fprintf(stderr, "sealpod-policy annotate: %s\n", err.msg);
	free(toml);
	free(value);
	free(yaml);
	free(res);
	return rc;
}

int spp_annotate_main(int argc, char **argv)
{
	enum { OPT_INITDATA = 0x100, OPT_REFVALUES };
	static const struct option longopts[] = {
		{ "initdata", required_argument, NULL, OPT_INITDATA },
		{ "output", required_argument, NULL, 'o' },
		{ "refvalues", no_argument, NULL, OPT_REFVALUES },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *initdata = NULL, *out = "-";
	bool refvalues = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_INITDATA:
			initdata = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case OPT_REFVALUES:
			refvalues = true;
			break;
		case 'h':
			(void)fputs(usage, stdout);
			return SPP_EXIT_OK;
		default:
			(void)fputs(usage, stderr);
			return SPP_EXIT_ERROR;
		}
	}
	if (optind + 1 != argc || !initdata || (refvalues && strcmp(out, "-") == 0)) {
		(void)fputs(usage, stderr);
		return SPP_EXIT_ERROR;
	}
	return annotate(argv[optind], initdata, out, refvalues);
}
