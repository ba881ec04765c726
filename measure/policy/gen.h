/* sealpod-policy generate: a pod's YAML into the JSON policy the guest runs (gen*.c). Each
 * container's image is pinned by digest with its process (argv, environment, user and groups,
 * working directory) as the kubelet and containerd make it; the pod's mounts as the Kata shims
 * send them; the argv of its exec probes and lifecycle hooks; the capabilities it adds; its
 * sysctls and whether it shares the sandbox's pid namespace. See measure/policy/GENERATE.md. */
#ifndef SEALPOD_MEASURE_POLICY_GEN_H
#define SEALPOD_MEASURE_POLICY_GEN_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "settings.h"

struct spg_text {
	const char *name; /* for messages: the file name */
	const char *buf;
	size_t len;
};

struct spg_input {
	struct spg_text pod;		/* the workload (and maybe its ConfigMaps and Secrets) */
	const struct spg_text *configs; /* --config files: ConfigMaps and Secrets */
	size_t nconfigs;
	struct spg_text lock; /* --lock: the images' digests and configurations (buf NULL: none) */
	const struct sps_settings *settings;
	bool resolve;	  /* --resolve: an image missing from the lock is resolved with skopeo */
	char **lock_json; /* not NULL: gets the lock file with what was resolved (malloc'd) */
};

/* Returns 0 and the policy (pretty JSON, malloc'd) in *policy, or -1 with err naming the file
 * and the field. */
int spg_generate(const struct spg_input *in, char **policy, struct sp_err *err);

#endif
