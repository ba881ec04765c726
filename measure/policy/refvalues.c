/* --refvalues (spp.h): for every configuration `make install` put under the prefix (each has its
 * reference values in share/sealpod/reference-values/<name>.json, naming its configuration file),
 * sealpod-kata-refvalues again with --initdata, so the KBS gets pcr8 (vTPM) or the values a TEE
 * binds initdata into, for exactly the launches it already trusts. */
#define _GNU_SOURCE
#include "spp.h"

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

/* The installed values of one configuration: its file and the --host-cpus its command line was
 * made with (the Go shim's nr_cpus=, when there is one). */
static int installed(const char *path, char *conf, size_t n, char *cpus, size_t ncpus,
		     char **cmdline, struct sp_err *err)
{
	json_object *root = json_object_from_file(path), *src, *c, *cmd;
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
	nr = strstr(json_object_get_string(cmd), "nr_cpus=");
	(void)snprintf(cpus, ncpus, "%.*s", nr ? (int)strspn(nr + 8, "0123456789") : 0,
		       nr ? nr + 8 : "");
	*cmdline = strdup(json_object_get_string(cmd));
	json_object_put(root);
	return *cmdline ? 0 : sp_error(err, ENOMEM, "%s", path);
}

/* One configuration's values with the initdata, as a JSON object (*out). */
static int one(const char *prefix, const char *name, const char *initdata, json_object **out,
	       struct sp_err *err)
{
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
	if (installed(ref, conf, sizeof(conf), cpus, sizeof(cpus), &cmdline, err) < 0)
		return -1;
	argv[k++] = tool;
	argv[k++] = "--config";
	argv[k++] = conf;
	argv[k++] = "--shim";
	argv[k++] = (char *)shim;
	argv[k++] = "--initdata";
	argv[k++] = (char *)initdata;
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
	ret = 0;
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

int spp_refvalues(const char *initdata_path, FILE *out, struct sp_err *err)
{
	char prefix[PATH_MAX], dir[PATH_MAX + 64], initdata[PATH_MAX];
	struct dirent **names = NULL;
	json_object *all = json_object_new_object();
	int n, ret = 0;

	if (!all || find_prefix(prefix, sizeof(prefix), err) < 0) {
		json_object_put(all);
		return all ? -1 : sp_error(err, ENOMEM, "refvalues");
	}
	if (!realpath(initdata_path, initdata)) {
		json_object_put(all);
		return sp_error(err, errno, "%s", initdata_path);
	}
	(void)snprintf(dir, sizeof(dir), "%s/share/sealpod/reference-values", prefix);
	n = scandir(dir, &names, json_file, by_name);
	if (n <= 0) {
		json_object_put(all);
		free(names);
		return sp_fail(err, SP_E_NOT_FOUND, n < 0 ? errno : 0,
			       "no installed configuration in %s (make install; SEALPOD_PREFIX=)",
			       dir);
	}
	for (int i = 0; i < n; i++) {
		json_object *v = NULL;
		char key[256];

		if (ret == 0 && one(prefix, names[i]->d_name, initdata, &v, err) < 0)
			ret = -1;
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
