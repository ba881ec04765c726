/* --refvalues (spp.h): for every configuration `make install` put under the prefix (each has its
 * reference values in share/sealpod/reference-values/<name>.json, naming its configuration file),
 * sealpod-kata-refvalues again, for exactly the launches the KBS already trusts, with what binds
 * this initdata into each: a vTPM guest extends PCR8 with its digest (--initdata gives pcr8); a
 * TDX or SNP guest compares it with MRCONFIGID (48 bytes) or HOSTDATA (32 bytes), which the VMM
 * sets to the digest, zero-padded or cut (init/attest/initdata.c, sp_initdata_matches). */
#define _GNU_SOURCE
#include "spp.h"

#include "attest/attest_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define REFVALUES_MAX ((size_t)1 << 20)

extern char **environ;

/* The install prefix: $SEALPOD_PREFIX, else the directory above this program's bin/. */
static int find_prefix(char *out, size_t n, struct sp_err *err)
{
	const char *env = getenv("SEALPOD_PREFIX");
	char exe[PATH_MAX];
	ssize_t len;

	if (env && *env) {
		(void)snprintf(out, n, "%s", env);
		return 0;
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len < 0)
		return sp_error(err, errno, "readlink /proc/self/exe");
	exe[len] = '\0';
	(void)snprintf(out, n, "%s", dirname(dirname(exe)));
	return 0;
}

/* Runs argv, its stdout into *out (malloc'd); 0 only when it exited 0. */
static int run_capture(char *const argv[], char **out, struct sp_err *err)
{
	posix_spawn_file_actions_t fa;
	struct spp_buf b = { 0 };
	int fds[2], status;
	pid_t pid;
	char chunk[4096];
	ssize_t r;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return sp_error(err, errno, "pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	errno = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (errno) {
		close(fds[0]);
		return sp_error(err, errno, "run %s", argv[0]);
	}
	while ((r = read(fds[0], chunk, sizeof(chunk))) > 0 || (r < 0 && errno == EINTR))
		if (r > 0 && b.len < REFVALUES_MAX)
			spp_buf_add(&b, chunk, (size_t)r);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || b.oom || !b.p) {
		spp_buf_free(&b);
		return sp_fail(err, SP_E_INTERNAL, 0, "%s failed (its message is above)", argv[0]);
	}
	*out = b.p;
	return 0;
}

enum launch { LAUNCH_VTPM, LAUNCH_TDX, LAUNCH_SNP };

/* The installed values of one configuration: its file, the --host-cpus its command line was
 * made with (the Go shim's nr_cpus=, when there is one) and what measured it. */
static int installed(const char *path, char *conf, size_t n, char *cpus, size_t ncpus,
		     char **cmdline, enum launch *launch, struct sp_err *err)
{
	json_object *root = json_object_from_file(path), *src, *c, *cmd, *m = NULL;
	const char *nr;

	if (!root || !json_object_object_get_ex(root, "source", &src) ||
	    !json_object_object_get_ex(src, "config", &c) ||
	    !json_object_is_type(c, json_type_string) ||
	    !json_object_object_get_ex(root, "cmdline", &cmd)) {
		json_object_put(root);
		sp_fail(err, SP_E_INVALID, 0, "%s: no source.config and cmdline", path);
		return -1;
	}
	(void)snprintf(conf, n, "%s", json_object_get_string(c));
	json_object_object_get_ex(root, "measure", &m);
	*launch = json_object_object_get_ex(m, "mrtd", NULL)		    ? LAUNCH_TDX
		  : json_object_object_get_ex(m, "snp_launch_digest", NULL) ? LAUNCH_SNP
									    : LAUNCH_VTPM;
	nr = strstr(json_object_get_string(cmd), "nr_cpus=");
	(void)snprintf(cpus, ncpus, "%.*s", nr ? (int)strspn(nr + 8, "0123456789") : 0,
		       nr ? nr + 8 : "");
	*cmdline = strdup(json_object_get_string(cmd));
	json_object_put(root);
	return *cmdline ? 0 : sp_error(err, ENOMEM, "%s", path);
}

/* The initdata whose values are wanted: its path and its digest as the guest computes it. */
struct initdata_id {
	char path[PATH_MAX];
	uint8_t digest[64];
	size_t len;
};

/* A TEE's binding of the initdata into the values of its launch. */
static int add_binding(json_object *values, enum launch launch, const struct initdata_id *id,
		       struct sp_err *err)
{
	size_t blen = launch == LAUNCH_TDX ? 48 : 32;
	uint8_t b[48] = { 0 };
	char hex[97];
	json_object *m;

	memcpy(b, id->digest, id->len < blen ? id->len : blen);
	sp_hex(b, blen, hex);
	if (!json_object_object_get_ex(values, "measure", &m) ||
	    !json_object_is_type(m, json_type_object))
		return sp_fail(err, SP_E_INTERNAL, 0, "no measure object in the values");
	json_object_object_add(m, launch == LAUNCH_TDX ? "mrconfigid" : "hostdata",
			       json_object_new_string(hex));
	return 0;
}

/* One configuration's values with the initdata, as a JSON object (*out). */
static int one(const char *prefix, const char *name, const struct initdata_id *id,
	       json_object **out, struct sp_err *err)
{
	enum launch launch;
	char tool[PATH_MAX + 64], ref[PATH_MAX + 320], conf[PATH_MAX], cpus[16] = "";
	const char *shim = strstr(name, "-runtime-rs") ? "runtime-rs" : "go";
	const char *env = getenv("SEALPOD_KATA_REFVALUES");
	char *text = NULL, *cmdline = NULL;
	char *argv[12];
	json_object *cmd;
	int k = 0, ret = -1;

	(void)snprintf(tool, sizeof(tool), "%s", env && *env ? env : "");
	if (!*tool)
		(void)snprintf(tool, sizeof(tool), "%s/bin/sealpod-kata-refvalues", prefix);
	(void)snprintf(ref, sizeof(ref), "%s/share/sealpod/reference-values/%s", prefix, name);
	if (installed(ref, conf, sizeof(conf), cpus, sizeof(cpus), &cmdline, &launch, err) < 0)
		return -1;
	argv[k++] = tool;
	argv[k++] = "--config";
	argv[k++] = conf;
	argv[k++] = "--shim";
	argv[k++] = (char *)shim;
	if (launch == LAUNCH_VTPM) {
		argv[k++] = "--initdata";
		argv[k++] = (char *)id->path;
	}
	if (*cpus) {
		argv[k++] = "--host-cpus";
		argv[k++] = cpus;
	}
	argv[k] = NULL;
	if (run_capture(argv, &text, err) < 0) {
		sp_error_wrap(err, "%s", name);
		goto out;
	}
	*out = json_tokener_parse(text);
	if (!*out) {
		sp_fail(err, SP_E_INTERNAL, 0, "%s: %s printed no JSON", name, tool);
		goto out;
	}
	/* The launch the KBS trusts is the installed one: a configuration edited since would
	 * give values for a command line nobody measured. */
	if (!json_object_object_get_ex(*out, "cmdline", &cmd) ||
	    strcmp(json_object_get_string(cmd), cmdline) != 0) {
		json_object_put(*out);
		*out = NULL;
		sp_fail(err, SP_E_INVALID, 0,
			"%s: %s no longer gives the installed command line (edited since make "
			"install?)",
			name, conf);
		goto out;
	}
	ret = launch == LAUNCH_VTPM ? 0 : add_binding(*out, launch, id, err);
out:
	free(text);
	free(cmdline);
	return ret;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int json_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

/* The initdata's digest by the guest's own parser (which refuses what the guest would). */
static int identify(const char *path, struct initdata_id *id, struct sp_err *err)
{
	struct sp_initdata d;
	char *toml;
	size_t len;

	if (!realpath(path, id->path))
		return sp_error(err, errno, "%s", path);
	if (spp_read_file(id->path, SP_INITDATA_MAX_TOML, &toml, &len, err) < 0)
		return -1;
	if (sp_initdata_parse(toml, len, &d, err) < 0) /* takes toml */
		return sp_error_wrap(err, "%s", path);
	memcpy(id->digest, d.digest, d.digest_len);
	id->len = d.digest_len;
	sp_initdata_free(&d);
	return 0;
}

int spp_refvalues(const char *initdata_path, FILE *out, struct sp_err *err)
{
	char prefix[PATH_MAX], dir[PATH_MAX + 64];
	struct initdata_id id;
	struct dirent **names = NULL;
	json_object *all;
	int n, ret = 0;

	if (find_prefix(prefix, sizeof(prefix), err) < 0 || identify(initdata_path, &id, err) < 0)
		return -1;
	(void)snprintf(dir, sizeof(dir), "%s/share/sealpod/reference-values", prefix);
	n = scandir(dir, &names, json_file, by_name);
	if (n <= 0) {
		free(names);
		return sp_fail(err, SP_E_NOT_FOUND, n < 0 ? errno : 0,
			       "no installed configuration in %s (make install; SEALPOD_PREFIX=)",
			       dir);
	}
	all = json_object_new_object();
	for (int i = 0; i < n; i++) {
		json_object *v = NULL;
		char key[256];

		if (ret == 0 && (!all || one(prefix, names[i]->d_name, &id, &v, err) < 0))
			ret = all ? -1 : sp_error(err, ENOMEM, "refvalues");
		(void)snprintf(key, sizeof(key), "%.*s", (int)strlen(names[i]->d_name) - 5,
			       names[i]->d_name);
		if (v)
			json_object_object_add(all, key, v);
		free(names[i]);
	}
	free(names);
	if (ret == 0)
		(void)fprintf(out, "%s\n",
			      json_object_to_json_string_ext(
				      all,
				      JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(all);
	return ret;
}
