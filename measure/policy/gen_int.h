/* Shared between the generator's files (gen.c, gen_proc.c, gen_mounts.c). */
#ifndef SEALPOD_MEASURE_POLICY_GEN_INT_H
#define SEALPOD_MEASURE_POLICY_GEN_INT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "k8s.h"
#include "settings.h"

#define SPG_MAX_ENV  512
#define SPG_MAX_GIDS 32

/* One variable of a container's environment; any: its value is not known when the policy is
 * made (a Secret's, the pod's IP, a generated name), so the policy allows any value. */
struct spg_env {
	char *name, *value;
	bool any;
};

struct spg_envl {
	struct spg_env v[SPG_MAX_ENV];
	size_t n;
};

struct spg_ctx {
	struct spk_manifest m;
	const struct sps_settings *set;
	json_object *lock;   /* the lock file's "images" object */
	json_object *images; /* allowed_images */
	json_object *execs;  /* allowed_exec */
	json_object *mounts; /* allowed_mounts */
	json_object *caps;   /* allow_privileged_capabilities */
	bool resolve;	     /* images missing from the lock are resolved (gen_resolve.c) */
};

/* A container (c at path "spec.containers[0]") into an allowed_images entry and its exec argv
 * lists into allowed_exec (gen_proc.c). */
int spg_container(struct spg_ctx *g, const struct spy_node *c, const char *path,
		  struct sp_err *err);
/* The mounts the shims send for container c into allowed_mounts (gen_mounts.c). */
int spg_mounts(struct spg_ctx *g, const struct spy_node *c, const char *path, struct sp_err *err);
/* The lock entry of image from the registry, with skopeo (gen_resolve.c). */
int spg_resolve(const char *image, json_object **entry, struct sp_err *err);
/* Appends v to the array a unless an equal value is there already (takes v either way). */
void spg_add_unique(json_object *a, json_object *v);

#endif
