/* What differs between clusters (settings.c, documented in settings.json, which holds the
 * defaults): the containerd version (its default sysctls on the pause spec), the Kata shims the
 * policy must admit, how emptyDirs reach the guest, where the kubelet mounts the service-account
 * token, the variables of the `kubernetes` service it puts in every container, and the
 * policy's attestation and storage requirements. */
#ifndef SEALPOD_MEASURE_POLICY_SETTINGS_H
#define SEALPOD_MEASURE_POLICY_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

#define SPS_MAX_ENV 32
#define SPS_MAX_STR 256

enum sps_containerd { SPS_CONTAINERD_17, SPS_CONTAINERD_2 };
enum sps_emptydir { SPS_EMPTYDIR_BLOCK, SPS_EMPTYDIR_SHARED_FS };
enum { SPS_SHIM_GO = 1, SPS_SHIM_RS = 2 };

struct sps_settings {
	enum sps_containerd containerd;
	unsigned shims; /* SPS_SHIM_* bits */
	enum sps_emptydir emptydir;
	char sa_path[SPS_MAX_STR];		    /* the token volume's mount path */
	char service_env[SPS_MAX_ENV][SPS_MAX_STR]; /* variable names, any value */
	size_t nservice_env;
	char namespace_default[SPS_MAX_STR];
	bool require_attestation;
	bool require_encrypted_storage;
};

/* The defaults (the same as settings.json; a unit test holds them equal). */
void sps_defaults(struct sps_settings *s);
/* Reads a settings file over the defaults: every key optional, unknown keys and wrong types
 * refused naming the key. */
int sps_load(const char *text, size_t len, struct sps_settings *s, struct sp_err *err);

#endif
