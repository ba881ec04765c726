/* sealpod-policy generate: the command line around spg_generate (gen.h). */
#define _GNU_SOURCE
#include "spp.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"
#include "yaml.h"

#define MAX_CONFIGS  16
#define MAX_SETTINGS ((size_t)64 * 1024)
#define MAX_LOCK     ((size_t)16 * 1024 * 1024)

static const char usage[] =
	"usage: sealpod-policy generate POD.yaml (--lock FILE | --resolve)... [--lock-out FILE]\n"
	"                               [--config FILE]... [--settings FILE] [-o FILE]\n"
	"                               [--initdata-out FILE] [--annotate FILE] [INITDATA FLAGS]\n"
	"\n"
	"The policy that admits exactly the requests the Kata shims send for the pod in POD.yaml\n"
	"(a Pod, or the template of a Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or\n"
	"CronJob), as JSON (measure/policy/GENERATE.md), and with the flags below its initdata.\n"
	"  --lock FILE        each image's digest and configuration (the lock file format is in\n"
	"                     GENERATE.md; skopeo inspect gives both)\n"
	"  --resolve          an image the lock file does not name: its digest and configuration\n"
	"                     from its registry (skopeo inspect --raw and --config, skopeo in "
	"PATH)\n"
	"  --lock-out FILE    write the lock file with what --resolve found (for review and\n"
	"                     offline, reproducible runs with --lock)\n"
	"  --config FILE      ConfigMaps and Secrets the pod references, repeatable (the pod's\n"
	"                     own file may hold them too); a Secret's values never enter the "
	"policy\n"
	"  --settings FILE    what differs between clusters (measure/policy/settings.json)\n"
	"  -o, --output FILE  where the policy goes (default: stdout)\n"
	"  --initdata-out FILE  the initdata TOML around the policy, from the initdata flags\n"
	"  --annotate FILE    POD.yaml with that initdata as the cc_init_data annotation of the\n"
	"                     pod template (as `sealpod-policy annotate` writes it)\n";

struct gen_args {
	const char *pod, *lock, *settings, *out, *lock_out, *initdata_out, *annotate;
	bool resolve, initdata_flags;
	const char *configs[MAX_CONFIGS];
	size_t nconfigs;
	struct spp_initdata_opts o;
};

static int read_text(const char *path, size_t max, struct spg_text *t, char **owned,
		     struct sp_err *err)
{
	size_t len;

	if (spp_read_file(path, max, owned, &len, err) < 0)
		return -1;
	t->name = path;
	t->buf = *owned;
	t->len = len;
	return 0;
}

/* The initdata around policy to --initdata-out, and the pod's YAML with it as the annotation
 * to --annotate. */
static int write_initdata(const struct gen_args *a, const struct spg_text *pod, const char *policy,
			  struct sp_err *err)
{
	char *toml = NULL, *value = NULL, *yaml = NULL;
	size_t ylen = 0;
	int ret = -1;

	if (spp_initdata_build(policy, &a->o, &toml, err) < 0)
		goto out;
	if (a->initdata_out && spp_write_file(a->initdata_out, toml, strlen(toml), err) < 0)
		goto out;
	if (a->annotate && (spp_annotation_encode(toml, strlen(toml), &value, err) < 0 ||
			    spp_annotate_yaml(pod->buf, pod->len, value, &yaml, &ylen, err) < 0 ||
			    spp_write_file(a->annotate, yaml, ylen, err) < 0))
		goto out;
	ret = 0;
out:
	free(toml);
	free(value);
	free(yaml);
	return ret;
}

static int run(const struct gen_args *a, struct sp_err *err)
{
	struct spg_text pod, lock, cfg[MAX_CONFIGS];
	char *bufs[MAX_CONFIGS + 3] = { 0 }, *policy = NULL, *lock_json = NULL;
	struct sps_settings set;
	struct spg_input in = { 0 };
	int ret = -1;

	sps_defaults(&set);
	if (a->settings) {
		struct spg_text s;

		if (read_text(a->settings, MAX_SETTINGS, &s, &bufs[MAX_CONFIGS + 2], err) < 0 ||
		    sps_load(s.buf, s.len, &set, err) < 0)
			goto out;
	}
	memset(&lock, 0, sizeof(lock));
	if (read_text(a->pod, SPY_MAX_INPUT, &pod, &bufs[MAX_CONFIGS], err) < 0 ||
	    (a->lock && read_text(a->lock, MAX_LOCK, &lock, &bufs[MAX_CONFIGS + 1], err) < 0))
		goto out;
	for (size_t i = 0; i < a->nconfigs; i++)
		if (read_text(a->configs[i], SPY_MAX_INPUT, &cfg[i], &bufs[i], err) < 0)
			goto out;
	in = (struct spg_input){
		pod, cfg, a->nconfigs, lock, &set, a->resolve, a->lock_out ? &lock_json : NULL
	};
	if (spg_generate(&in, &policy, err) < 0)
		goto out;
	if ((a->initdata_out || a->annotate) && write_initdata(a, &pod, policy, err) < 0)
		goto out;
	if (a->lock_out && spp_write_file(a->lock_out, lock_json, strlen(lock_json), err) < 0)
		goto out;
	ret = spp_write_file(a->out, policy, strlen(policy), err);
out:
	for (size_t i = 0; i < MAX_CONFIGS + 3; i++)
		free(bufs[i]);
	free(policy);
	free(lock_json);
	return ret;
}

static int parse(int argc, char **argv, struct gen_args *a, struct sp_err *err)
{
	enum {
		OPT_LOCK = 0x100,
		OPT_CONFIG,
		OPT_SETTINGS,
		OPT_INITDATA_OUT,
		OPT_ANNOTATE,
		OPT_RESOLVE,
		OPT_LOCK_OUT
	};
	static const struct option longopts[] = {
		{ "lock", required_argument, NULL, OPT_LOCK },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "settings", required_argument, NULL, OPT_SETTINGS },
		{ "initdata-out", required_argument, NULL, OPT_INITDATA_OUT },
		{ "annotate", required_argument, NULL, OPT_ANNOTATE },
		{ "resolve", no_argument, NULL, OPT_RESOLVE },
		{ "lock-out", required_argument, NULL, OPT_LOCK_OUT },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		SPP_INITDATA_LONGOPTS,
		{ 0 }
	};
	int c, idx;

	optind = 1;
	a->out = "-";
	while ((c = getopt_long(argc, argv, "o:h", longopts, &idx)) != -1) {
		if (c == OPT_LOCK)
			a->lock = optarg;
		else if (c == OPT_CONFIG && a->nconfigs < MAX_CONFIGS)
			a->configs[a->nconfigs++] = optarg;
		else if (c == OPT_CONFIG)
			return sp_fail(err, SP_E_INVALID, 0, "more than %d --config files",
				       MAX_CONFIGS);
		else if (c == OPT_SETTINGS)
			a->settings = optarg;
		else if (c == OPT_INITDATA_OUT)
			a->initdata_out = optarg;
		else if (c == OPT_ANNOTATE)
			a->annotate = optarg;
		else if (c == OPT_RESOLVE)
			a->resolve = true;
		else if (c == OPT_LOCK_OUT)
			a->lock_out = optarg;
		else if (c == 'o')
			a->out = optarg;
		else if (c == 'h')
			return 1;
		else if (c == SPP_OPT_INITDATA) {
			if (spp_initdata_parse_flag(&a->o, longopts[idx].name, optarg, err) != 0)
				return -1;
			a->initdata_flags = true;
		} else
			return sp_fail(err, SP_E_INVALID, 0, "unknown option (see --help)");
	}
	if (optind + 1 != argc || (!a->lock && !a->resolve))
		return sp_fail(err, SP_E_INVALID, 0,
			       "one POD.yaml and --lock FILE or --resolve are required");
	/* never a flag accepted and then ignored */
	if (a->initdata_flags && !a->initdata_out && !a->annotate)
		return sp_fail(err, SP_E_INVALID, 0,
			       "initdata flags without --initdata-out or --annotate");
	a->pod = argv[optind];
	return 0;
}

int spp_generate_main(int argc, char **argv)
{
	struct gen_args a = { 0 };
	struct sp_err err = { 0 };
	int rc = parse(argc, argv, &a, &err);

	if (rc == 1) {
		printf("%s\n%s", usage, spp_initdata_flags_help);
		spp_initdata_opts_free(&a.o);
		return SPP_EXIT_OK;
	}
	if (rc == 0)
		rc = run(&a, &err);
	spp_initdata_opts_free(&a.o);
	if (rc < 0) {
		(void)fprintf(stderr, "sealpod-policy generate: %s\n", err.msg);
		return SPP_EXIT_ERROR;
	}
	return SPP_EXIT_OK;
}
