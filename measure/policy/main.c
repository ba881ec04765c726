/* sealpod-policy: one program, four subcommands (spp.h).
 *
 *   sealpod-policy generate POD.yaml [options]     the pod's policy and initdata
 *   sealpod-policy explain POLICY REQUEST.json     what the guest would decide, and why
 *   sealpod-policy initdata [options]              the initdata TOML around a policy
 *   sealpod-policy annotate POD.yaml --initdata F  the pod's YAML with the cc_init_data annotation
 *
 * `sealpod-policy SUBCOMMAND --help` describes each. */
#include "spp.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
	"usage: sealpod-policy SUBCOMMAND [ARGS]\n"
	"\n"
	"  generate POD.yaml        the policy (and with initdata flags, the initdata) of a pod\n"
	"  explain POLICY REQ.json  what a sealpod guest under POLICY decides for the request(s)\n"
	"                           in REQ.json (Kata request fixture format), and why\n"
	"  initdata                 the initdata TOML: a policy, the KBS, image settings, secrets\n"
	"  annotate POD.yaml        the YAML with the " SPP_ANNOTATION "\n"
	"                           annotation on each pod template\n"
	"\n"
	"`sealpod-policy SUBCOMMAND --help` describes a subcommand.\n"
	"Exit status: 0 done (explain: allowed), 1 explain: denied, 2 errors.\n";

struct subcommand {
	const char *name;
	int (*main)(int argc, char **argv);
};

int main(int argc, char **argv)
{
	const struct subcommand cmds[] = {
		{ "generate", spp_generate_main },
		{ "explain", spp_explain_main },
		{ "initdata", spp_initdata_main },
		{ "annotate", spp_annotate_main },
	};

	if (argc < 2) {
		(void)fputs(usage, stderr);
		return SPP_EXIT_ERROR;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		(void)fputs(usage, stdout);
		return SPP_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		return cmds[i].main(argc - 1, argv + 1);
	}
	(void)fprintf(stderr, "sealpod-policy: unknown subcommand '%s'\n%s", argv[1], usage);
	return SPP_EXIT_ERROR;
}
