/* The Kubernetes objects sealpod-policy reads (k8s.c): the one pod a manifest describes (a Pod,
 * or the pod template of a Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob) and
 * the ConfigMaps and Secrets it may reference. Every field the generator needs is taken from the
 * YAML tree; a field that cannot be safe in a confidential guest, or that the generator cannot
 * express as the shim's requests, is an error naming its path (`spec.volumes[0].hostPath`),
 * never dropped. */
#ifndef SEALPOD_MEASURE_POLICY_K8S_H
#define SEALPOD_MEASURE_POLICY_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "yaml.h"

#define SPK_MAX_OBJS 64 /* ConfigMaps + Secrets */

/* A ConfigMap or Secret: its data as "key" -> node (a Secret's data still base64). */
struct spk_obj {
	const char *name, *ns;
	bool secret;
	const struct spy_node *data, *string_data;
};

struct spk_manifest {
	const struct spy_node *pod_meta; /* the pod's (or the template's) metadata */
	const struct spy_node *spec;	 /* the pod spec */
	char path[64];			 /* where the pod spec is: "spec.template.spec" */
	const char *kind;		 /* "Pod", "Deployment", ... */
	bool named;			 /* the pod's name is known (a Pod), not generated */
	const char *name, *ns;		 /* the pod's name (when named) and namespace */
	struct spk_obj objs[SPK_MAX_OBJS];
	size_t nobjs;
};

/* Finds the one workload of s and collects its ConfigMaps and Secrets into *m (pointers into s,
 * valid while s lives). More than one workload, none, or a kind outside the list is an error
 * naming the document and the kind. ns_default: the namespace when metadata names none. */
int spk_find(const struct spy_stream *s, struct spk_manifest *m, const char *ns_default,
	     struct sp_err *err);
/* Adds the ConfigMaps and Secrets of another stream (`--config FILE`); anything else there is an
 * error. */
int spk_add_objects(const struct spy_stream *s, struct spk_manifest *m, struct sp_err *err);
/* The ConfigMap or Secret named name in the pod's namespace, or NULL. */
const struct spk_obj *spk_obj(const struct spk_manifest *m, bool secret, const char *name);

/* Refuses the fields that cannot be safe or that the generator cannot express, naming the first
 * one. */
int spk_check_unsafe(const struct spk_manifest *m, struct sp_err *err);

/* Scalar helpers for manifest fields: a missing field leaves *out as it is and returns 0; a
 * field of the wrong type is an error naming path. */
int spk_int(const struct spy_node *n, const char *path, int64_t lo, int64_t hi, int64_t *out,
	    struct sp_err *err);
int spk_bool(const struct spy_node *n, const char *path, bool *out, struct sp_err *err);
/* A sequence of scalars into a NULL-terminated array (*out malloc'd, the strings borrowed);
 * missing: *out NULL and *n 0. */
int spk_strv(const struct spy_node *seq, const char *path, const char ***out, size_t *n,
	     struct sp_err *err);

#endif
