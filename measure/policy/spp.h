/* sealpod-policy: the host tool that turns a pod into what its confidential guest needs (its
 * policy, its initdata, the annotation that carries it, the KBS's reference values) and explains
 * offline what a guest would decide for a request. Shared declarations of its subcommands:
 *
 *   generate.c      POD.yaml -> the policy and initdata (spp_generate_main)
 *   explain*.c      a policy and a request -> the guest's verdict and why (spp_explain_main)
 *   initdata_out*.c the initdata TOML from flags or a settings file (spp_initdata_main)
 *   annotate*.c     the cc_init_data annotation on a pod's YAML (spp_annotate_main)
 *
 * The guest's own init/policy and init/attest code is compiled for the host and linked in, so a
 * verdict or an accepted initdata here is the guest's. */
#ifndef SEALPOD_MEASURE_POLICY_SPP_H
#define SEALPOD_MEASURE_POLICY_SPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lib/err.h"

/* Exit statuses of every subcommand: 0 done (explain: allowed), 1 explain: denied,
 * 2 usage or input errors. */
enum { SPP_EXIT_OK = 0, SPP_EXIT_DENIED = 1, SPP_EXIT_ERROR = 2 };

/* Each subcommand's entry point: argv[0] is the subcommand's name. */
int spp_generate_main(int argc, char **argv);
int spp_explain_main(int argc, char **argv);
int spp_initdata_main(int argc, char **argv);
int spp_annotate_main(int argc, char **argv);

/* --- initdata (initdata_out.c) -----------------------------------------------------------------
 * Everything of initdata besides the policy, as the guest accepts it today (init/attest/initdata.c,
 * secrets.c): aa.toml's KBS and our [sealpod] keys, cdh.toml's [image] and [sealpod] keys and
 * secret declarations. Strings are owned (spp_initdata_opts_free); the files named by flags are
 * read when the flag is parsed, so an unreadable file is an error naming the flag. */
#define SPP_MAX_INSECURE 16 /* the guest's limit (struct sp_initdata, insecure[]) */
#define SPP_MAX_SECRETS	 32 /* SP_SECRETS_MAX */

struct spp_secret {
	char *name, *resource, *image, *path, *mode; /* mode: octal text, NULL for the default */
};

struct spp_initdata_opts {
	char *algorithm;	 /* [initdata] algorithm: sha256 (default), sha384, sha512 */
	char *kbs_url;		 /* aa.toml token_configs.kbs.url and cdh.toml kbc.url */
	char *kbs_cert;		 /* PEM text of the KBS's CA (token_configs.kbs.cert) */
	char *tee_key_algorithm; /* token_configs.kbs.tee_key_algorithm */
	char *evidence;		 /* aa.toml [sealpod] evidence */
	char *attestation;	 /* aa.toml [sealpod] attestation: "required" or "auto" */
	char *registry_auth_uri; /* cdh.toml [image] authenticated_registry_credentials_uri */
	char *registry_ca;	 /* PEM text: cdh.toml [sealpod] registry_ca */
	int max_layers;		 /* [image] max_concurrent_layer_downloads_per_image, 0 unset */
	char *insecure[SPP_MAX_INSECURE]; /* cdh.toml [sealpod] insecure_registries */
	size_t ninsecure;
	struct spp_secret secrets[SPP_MAX_SECRETS]; /* cdh.toml [sealpod.secrets.<name>] */
	size_t nsecrets;
};

void spp_initdata_opts_free(struct spp_initdata_opts *o);

/* The initdata flags, for any subcommand's getopt_long table: append SPP_INITDATA_LONGOPTS; when
 * getopt_long returns SPP_OPT_INITDATA, hand longopts[index].name and optarg to
 * spp_initdata_parse_flag. Every one takes a value. */
#define SPP_OPT_INITDATA 0x5350
/* clang-format off */
#define SPP_INITDATA_LONGOPTS \
	{ "kbs-url", required_argument, NULL, SPP_OPT_INITDATA }, \
	{ "kbs-cert", required_argument, NULL, SPP_OPT_INITDATA }, \
	{ "tee-key-algorithm", required_argument, NULL, SPP_OPT_INITDATA }, \
	{ "evidence", required_argument, NULL, SPP_OPT_INITDATA }, \
	{ "attestation", required_argument, NULL, SPP_OPT_INITDATA }, \
	{ "registry-auth-uri", required_argument, NULL, SPP_OPT_INITDATA }, \
	{ "registry-ca", required_argument, NULL, SPP_OPT_INITDATA }, \
	{ "max-layers", required_argument, NULL, SPP_OPT_INITDATA }, \
	{ "insecure-registry", required_argument, NULL, SPP_OPT_INITDATA }, \
	{ "secret", required_argument, NULL, SPP_OPT_INITDATA }, \
	{ "algorithm", required_argument, NULL, SPP_OPT_INITDATA }, \
	{ "initdata-settings", required_argument, NULL, SPP_OPT_INITDATA }
/* clang-format on */
/* One help paragraph describing those flags, for a subcommand's --help. */
extern const char spp_initdata_flags_help[];

/* name is the long option without "--". Returns 0 when it was one of the initdata flags and is
 * now in o, 1 when it is not one of them (o untouched), -1 with err when its value is refused. */
int spp_initdata_parse_flag(struct spp_initdata_opts *o, const char *name, const char *value,
			    struct sp_err *err);

/* The initdata TOML (version 0.1.0) carrying policy_json as [data] "policy.rego" (the key Kata
 * uses; the guest reads JSON there too), aa.toml and cdh.toml from o. policy_json NULL: no
 * policy (the guest keeps its built-in default). *toml is malloc'd. The result is checked with
 * the guest's own parser before it is returned: what it refuses is an error here. */
int spp_initdata_build(const char *policy_json, const struct spp_initdata_opts *o, char **toml,
		       struct sp_err *err);

/* --- annotation (annotate.c) ------------------------------------------------------------------- */
#define SPP_ANNOTATION "io.katacontainers.config.hypervisor.cc_init_data"

/* The annotation value for an initdata document: gzip, then standard base64 (what Kata's
 * runtimes decode). *out is malloc'd and NUL-terminated. */
int spp_annotation_encode(const char *toml, size_t len, char **out, struct sp_err *err);
/* yaml with the annotation set to value on the pod template's metadata of every workload
 * document (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob); the rest of the
 * text is kept byte for byte. *out malloc'd. */
int spp_annotate_yaml(const char *yaml, size_t len, const char *value, char **out, size_t *outlen,
		      struct sp_err *err);

/* --- reference values (refvalues.c) -----------------------------------------------------------
 * What the KBS needs for a guest booted with the initdata file initdata_path: for every sealpod
 * configuration installed for Kata (the scripts/install layout, found as scripts/kata-refvalues
 * finds it), sealpod-measure --initdata's reference values, printed to out. */
int spp_refvalues(const char *initdata_path, FILE *out, struct sp_err *err);

/* --- small helpers (util.c) ------------------------------------------------------------------- */
/* A growing NUL-terminated string; on a failed allocation oom is set and later appends do
 * nothing, so a builder checks once at the end. */
struct spp_buf {
	char *p;
	size_t len, cap;
	bool oom;
};
void spp_buf_add(struct spp_buf *b, const char *s, size_t n);
void spp_buf_printf(struct spp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void spp_buf_free(struct spp_buf *b);
/* The whole file (at most max bytes), NUL-terminated; "-" is stdin. */
int spp_read_file(const char *path, size_t max, char **out, size_t *len, struct sp_err *err);
/* Writes buf to path ("-": stdout) through a temporary file renamed over it. */
int spp_write_file(const char *path, const void *buf, size_t len, struct sp_err *err);

#endif
