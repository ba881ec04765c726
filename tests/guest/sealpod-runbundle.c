/* sealpod-runbundle: runs an OCI bundle (config.json + rootfs) through the runtime of init/runtime/
 * without the control port: the same filter, clone, setup, cgroup and exec code that PID 1 uses.
 * Test and benchmark driver, test overlay only.
 *
 *   sealpod-runbundle [--id ID] [--count N] [--allow-caps] [--quiet] BUNDLE
 *   sealpod-runbundle --spec           print a default config.json (busybox, /bin/true)
 *   sealpod-runbundle --time N -- CMD [ARG...]
 *                                      benchmark loop: run CMD N times in a row (fork, exec,
 *                                      wait), "@ID@" in an ARG becomes a fresh id each time;
 *                                      prints `time: runs=N mean_ms= median_ms= min_ms= max_ms=`
 *                                      and stops at the first run that does not exit 0
 *   sealpod-runbundle --probe-root     (inside a container) try the classic chroot escape and
 *                                      print what the root it reaches holds
 *   sealpod-runbundle --probe-nsroot   (inside a container with CAP_SYS_ADMIN) detach its own
 *                                      root and setns into its own mount namespace, which
 *                                      lands on the namespace's root mount, then uncovered,
 *                                      and print what that holds
 *
 * The container's stdio is ours. Exit status: the container's (code or 128+signal); with
 * --count N the bundle runs N times in a row (ids ID-0..ID-N-1) and prints one line
 * `runbundle: N runs, <ms> ms per container` plus the last status. Refusals print the runtime's
 * message and exit 125. config.json keys are matched to the agent's .proto fields without regard
 * to case or underscores, as Kata's shim does when it turns the OCI spec into protobuf. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/ctl/pbjson.c" /* one translation unit: the ctl's codec is not part of /init */
#include "boot/boot.h"
#include "lib/log.h"
#include "lib/pathat.h"
#include "runtime/runtime.h"

static const char default_spec[] =
	"{\n"
	"  \"ociVersion\": \"1.1.0\",\n"
	"  \"process\": {\n"
	"    \"terminal\": false,\n"
	"    \"user\": {\"uid\": 0, \"gid\": 0},\n"
	"    \"args\": [\"/bin/true\"],\n"
	"    \"env\": [\"PATH=/bin\", \"TERM=xterm\"],\n"
	"    \"cwd\": \"/\",\n"
	"    \"capabilities\": {\n"
	"      \"bounding\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
	"      \"effective\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
	"      \"permitted\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"]\n"
	"    },\n"
	"    \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}],\n"
	"    \"noNewPrivileges\": true\n"
	"  },\n"
	"  \"root\": {\"path\": \"rootfs\", \"readonly\": true},\n"
	"  \"hostname\": \"runbundle\",\n"
	"  \"mounts\": [\n"
	"    {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},\n"
	"    {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\",\n"
	"     \"options\": [\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]},\n"
	"    {\"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\",\n"
	"     \"options\": [\"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\", "
	"\"mode=0620\"]},\n"
	"    {\"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\",\n"
	"     \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=65536k\"]},\n"
	"    {\"destination\": \"/dev/mqueue\", \"type\": \"mqueue\", \"source\": \"mqueue\",\n"
	"     \"options\": [\"nosuid\", \"noexec\", \"nodev\"]},\n"
	"    {\"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\",\n"
	"     \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"ro\"]},\n"
	"    {\"destination\": \"/tmp\", \"type\": \"tmpfs\", \"source\": \"tmpfs\",\n"
	"     \"options\": [\"nosuid\", \"nodev\", \"mode=1777\"]}\n"
	"  ],\n"
	"  \"linux\": {\n"
	"    \"resources\": {\"memory\": {\"limit\": 268435456}, \"pids\": {\"limit\": 128}},\n"
	"    \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"ipc\"}, {\"type\": \"uts\"},\n"
	"                   {\"type\": \"mount\"}],\n"
	"    \"maskedPaths\": [\"/proc/kcore\", \"/proc/keys\", \"/proc/timer_list\", "
	"\"/sys/firmware\"],\n"
	"    \"readonlyPaths\": [\"/proc/bus\", \"/proc/fs\", \"/proc/irq\", \"/proc/sys\", "
	"\"/proc/sysrq-trigger\"]\n"
	"  }\n"
	"}\n";

/* Lower case without underscores: "noNewPrivileges", "NoNewPrivileges" and "no_new_privileges"
 * all read "nonewprivileges". */
static void norm(const char *in, char *out, size_t size)
{
	size_t k = 0;

	for (; *in && k + 1 < size; in++)
		if (*in != '_')
			out[k++] = (char)tolower((unsigned char)*in);
	out[k] = '\0';
}

static bool is_entry_desc(const ProtobufCMessageDescriptor *d)
{
	size_t n = strlen(d->name);

	return n > 5 && !strcmp(d->name + n - 5, "Entry");
}

/* A copy of obj whose keys are the .proto field names of d; keys d does not know are dropped. */
static json_object *rename_keys(const ProtobufCMessageDescriptor *d, json_object *obj)
{
	json_object *out = json_object_new_object();

	json_object_object_foreach(obj, key, val)
	{
		const ProtobufCFieldDescriptor *f = NULL;
		char a[128], b[128];
		json_object *v;

		norm(key, a, sizeof(a));
		if (!strcmp(a, "ociversion"))
			strcpy(a, "version");
		for (unsigned i = 0; i < d->n_fields && !f; i++) {
			norm(d->fields[i].name, b, sizeof(b));
			if (!strcmp(a, b))
				f = &d->fields[i];
		}
		if (!f)
			continue;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && !is_entry_desc(f->descriptor) &&
		    json_object_is_type(val, json_type_object)) {
			v = rename_keys(f->descriptor, val);
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE && !is_entry_desc(f->descriptor) &&
			   json_object_is_type(val, json_type_array)) {
			v = json_object_new_array();
			for (size_t i = 0; i < json_object_array_length(val); i++) {
				json_object *e = json_object_array_get_idx(val, i);

				json_object_array_add(v, json_object_is_type(e, json_type_object)
								 ? rename_keys(f->descriptor, e)
								 : json_object_get(e));
			}
		} else {
			v = json_object_get(val);
		}
		json_object_object_add(out, f->name, v);
	}
	return out;
}

static Grpc__Spec *load_spec(const char *bundle)
{
	char path[PATH_MAX], why[256];
	json_object *raw, *norm_obj;
	ProtobufCMessage *m;

	snprintf(path, sizeof(path), "%s/config.json", bundle);
	raw = json_object_from_file(path);
	if (!raw) {
		fprintf(stderr, "runbundle: cannot read %s\n", path);
		return NULL;
	}
	norm_obj = rename_keys(&grpc__spec__descriptor, raw);
	m = pbjson_to_message(&grpc__spec__descriptor, norm_obj, why, sizeof(why));
	json_object_put(raw);
	json_object_put(norm_obj);
	if (!m)
		fprintf(stderr, "runbundle: %s: %s\n", path, why);
	return (Grpc__Spec *)m;
}

/* The classic escape for a process with CAP_SYS_CHROOT: chroot into a subdirectory while the
 * working directory stays outside it, climb with "..", and chroot to where the climb stopped.
 * In a container that was only chrooted this lands in the guest's root; after pivot_root and
 * the detach of the old root it lands in the empty rootfs beneath every mount. Prints
 * `probe: <name>` per entry of the root it reached and `probe: guest-files=<yes|no>`. */
static int probe_list(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir("/");
	if (!d)
		return perror("probe: opendir /"), 1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			printf("probe: %s\n", de->d_name);
			n++;
		}
	closedir(d);
	printf("probe: entries=%d\n", n);
	printf("probe: guest-files=%s\n",
	       access("/init", F_OK) == 0 || access("/etc/sealpod", F_OK) == 0 ? "yes" : "no");
	return 0;
}

static int probe_root(void)
{
	if (mkdir("/tmp/probe-escape", 0700) < 0 && errno != EEXIST)
		return perror("probe: mkdir /tmp/probe-escape"), 1;
	if (chdir("/") < 0 || chroot("/tmp/probe-escape") < 0)
		return perror("probe: chroot"), 1;
	for (int i = 0; i < 64; i++)
		if (chdir("..") < 0)
			return perror("probe: chdir .."), 1;
	if (chroot(".") < 0 || chdir("/") < 0)
		return perror("probe: chroot ."), 1;
	return probe_list();
}

/* setns(2) into a mount namespace sets root and cwd to whatever is mounted topmost on the
 * namespace's root mount. Once the container's own root is detached, that is the namespace's
 * root itself: the rootfs beneath everything, which PID 1 emptied at boot. */
static int probe_nsroot(void)
{
	int fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || umount2("/", MNT_DETACH) < 0)
		return perror("probe: detach /"), 1;
	if (setns(fd, CLONE_NEWNS) < 0)
		return perror("probe: setns"), 1;
	close(fd);
	return probe_list();
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The benchmark loop: the same fork + exec + wait around every runtime, ours included. */
static int time_runs(long n, char **cmd, int ncmd)
{
	double *ms = calloc((size_t)n, sizeof(double)), sum = 0;
	char **argv = calloc((size_t)ncmd + 1, sizeof(char *));
	char ids[32][64];

	if (!ms || !argv || ncmd < 1 || ncmd > 32)
		return fprintf(stderr, "time: bad arguments\n"), 2;
	for (long i = 0; i < n; i++) {
		double t0;
		pid_t pid;
		int st;

		for (int k = 0; k < ncmd; k++) {
			char *at = strstr(cmd[k], "@ID@");

			argv[k] = cmd[k];
			if (at) {
				snprintf(ids[k], sizeof(ids[k]), "%.*sb%ld%s", (int)(at - cmd[k]),
					 cmd[k], i, at + 4);
				argv[k] = ids[k];
			}
		}
		t0 = now_ms();
		pid = fork();
		if (pid == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid)
			return perror("time: fork/wait"), 1;
		ms[i] = now_ms() - t0;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "time: run %ld of %s: status %d\n", i, argv[0], st);
			return 1;
		}
		sum += ms[i];
	}
	qsort(ms, (size_t)n, sizeof(double), cmp_double);
	printf("time: runs=%ld mean_ms=%.2f median_ms=%.2f min_ms=%.2f max_ms=%.2f\n", n,
	       sum / (double)n, ms[n / 2], ms[0], ms[n - 1]);
	free(ms);
	free(argv);
	return 0;
}

/* One asynchronous lifecycle step (create, start) run to its report on the loop. */
struct waited {
	bool done;
	int ret;
	struct sp_err err;
};

static void on_done(void *arg, int ret, const struct sp_err *err)
{
	struct waited *w = arg;

	w->done = true;
	w->ret = ret;
	if (err)
		w->err = *err;
}

static int wait_for(struct sp_loop *loop, int started, struct waited *w, struct sp_err *err)
{
	if (started != SP_PENDING)
		return started;
	while (!w->done)
		if (sp_loop_run_once(loop, 1000, err) < 0)
			return -1;
	if (w->ret < 0)
		*err = w->err;
	return w->ret;
}

/* create + start + wait + remove of one container; returns its status or 125. */
static int run_one(struct sp_loop *loop, const char *id, Grpc__Spec *spec, const char *root,
		   uint64_t caps)
{
	static const int stdio[3] = { 0, 1, 2 };
	struct sp_rootfs rootfs = { .path = "" };
	struct sp_rt_create a = {
		.cid = id, .spec = spec, .allowed_extra = caps, .stdio = stdio, .rootfs = &rootfs
	};
	struct sp_err err = { 0 };
	struct waited created = { 0 }, started = { 0 };
	struct sp_rt_pending *pending;
	bool exited = false;
	int status = 0;

	snprintf(rootfs.path, sizeof(rootfs.path), "%s", root);
	if (sp_path_mount_id(root, &rootfs.mnt_id, &err) < 0) {
		fprintf(stderr, "runbundle: %s: %s\n", root, err.msg);
		return 125;
	}
	if (wait_for(loop, sp_rt_create(&a, on_done, &created, &pending, &err), &created, &err) <
	    0) {
		fprintf(stderr, "runbundle: create %s: %s\n", id, err.msg);
		return 125;
	}
	if (wait_for(loop, sp_rt_start(id, on_done, &started, &err), &started, &err) < 0) {
		fprintf(stderr, "runbundle: start %s: %s\n", id, err.msg);
		status = 125;
	}
	while (sp_rt_status(id, "", &exited, &status) == 0 && !exited)
		if (sp_loop_run_once(loop, 1000, &err) < 0)
			break;
	if (sp_rt_remove(id, &err) < 0)
		fprintf(stderr, "runbundle: remove %s: %s\n", id, err.msg);
	(void)sp_loop_run_once(loop, 0, &err); /* frees what was released */
	return status;
}

static void child_exited(pid_t pid, int status, void *data)
{
	(void)data;
	sp_rt_child_exited(pid, status);
}

int main(int argc, char **argv)
{
	static struct sp_loop loop = { .epfd = -1 };
	const char *id = "runbundle", *bundle = NULL;
	char root[PATH_MAX], idbuf[160];
	uint64_t caps = 0;
	long count = 1;
	bool quiet = false;
	struct sp_err err;
	Grpc__Spec *spec;
	int status = 0;
	double t0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--time") && i + 2 < argc && !strcmp(argv[i + 2], "--")) {
			return time_runs(strtol(argv[i + 1], NULL, 10), argv + i + 3, argc - i - 3);
		} else if (!strcmp(argv[i], "--probe-nsroot")) {
			return probe_nsroot();
		} else if (!strcmp(argv[i], "--probe-root")) {
			return probe_root();
		} else if (!strcmp(argv[i], "--spec")) {
			fputs(default_spec, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--id") && i + 1 < argc) {
			id = argv[++i];
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			count = strtol(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--allow-caps")) {
			caps = ~0ULL;
		} else if (!strcmp(argv[i], "--quiet")) {
			quiet = true; /* errors only (the benchmark runs without cgroups on the host) */
		} else if (argv[i][0] != '-' && !bundle) {
			bundle = argv[i];
		} else {
			fprintf(stderr,
				"usage: %s [--id ID] [--count N] [--allow-caps] [--quiet] BUNDLE | "
				"--spec\n",
				argv[0]);
			return 2;
		}
	}
	if (!bundle || count < 1)
		return fprintf(stderr, "runbundle: no bundle\n"), 2;
	spec = load_spec(bundle);
	if (!spec)
		return 125;
	if (!spec->root || !spec->root->path)
		return fprintf(stderr, "runbundle: config.json has no root.path\n"), 125;
	if (spec->root->path[0] == '/')
		snprintf(root, sizeof(root), "%s", spec->root->path);
	else {
		char rel[PATH_MAX];

		snprintf(rel, sizeof(rel), "%s/%s", bundle, spec->root->path);
		if (!realpath(rel, root))
			return fprintf(stderr, "runbundle: %s: %s\n", rel, strerror(errno)), 125;
		free(spec->root->path);
		spec->root->path = strdup(root);
	}
	sp_log_set_level(quiet ? SP_LOG_ERROR : SP_LOG_WARN);
	sp_set_child_hook(child_exited, NULL);
	if (sp_loop_init(&loop, &err) < 0 || sp_signals_init(&loop, &err) < 0 ||
	    sp_rt_init(&loop, &err) < 0)
		return fprintf(stderr, "runbundle: %s\n", err.msg), 125;
	t0 = now_ms();
	for (long i = 0; i < count; i++) {
		if (count > 1)
			snprintf(idbuf, sizeof(idbuf), "%.100s-%ld", id, i);
		else
			snprintf(idbuf, sizeof(idbuf), "%.100s", id);
		status = run_one(&loop, idbuf, spec, root, caps);
		if (status == 125)
			break;
	}
	if (count > 1)
		printf("runbundle: %ld runs, %.2f ms per container, last status %d\n", count,
		       (now_ms() - t0) / (double)count, status);
	protobuf_c_message_free_unpacked(&spec->base, NULL);
	return status;
}
