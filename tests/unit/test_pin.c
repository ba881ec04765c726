/* pin_process_to_image (init/runtime/pin.c) and what it compares with: the image configuration's
 * copy and its user (init/runtime/image.c), the policy keys that turn it on, and the binds it
 * refuses. Temporary rootfs directories stand in for pulled images. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "runtime/runtime.h"
#include "tmp_rootfs.h"
#include "unit.h"

static const char *const img_ep[] = { "/bin/web" };
static const char *const img_cmd[] = { "--port", "8080" };
static const char *const img_env[] = { "PATH=/usr/bin:/bin", "MODE=prod" };

static void img_cfg(struct sp_rt_image_config *c, const char *user)
{
	memset(c, 0, sizeof(*c));
	c->entrypoint = img_ep;
	c->n_entrypoint = 1;
	c->cmd = img_cmd;
	c->n_cmd = 2;
	c->env = img_env;
	c->n_env = 2;
	c->workdir = "/srv";
	c->user = user;
	c->digest = "sha256:0123";
	c->user_resolved = true; /* "" and numeric users: 0:0 unless a test says otherwise */
}

/* A process plan: args and env from the lists, uid:gid. */
struct tproc {
	Grpc__Process proc;
	struct sp_rt_proc_plan pp;
	char *args[8], *env[8];
};

static struct sp_rt_proc_plan *tproc(struct tproc *t, const char *const *args, size_t nargs,
				     const char *const *env, size_t nenv, uid_t uid, gid_t gid)
{
	memset(t, 0, sizeof(*t));
	grpc__process__init(&t->proc);
	for (size_t i = 0; i < nargs; i++)
		t->args[i] = (char *)args[i];
	for (size_t i = 0; i < nenv; i++)
		t->env[i] = (char *)env[i];
	t->proc.args = t->args;
	t->proc.n_args = nargs;
	t->proc.env = t->env;
	t->proc.n_env = nenv;
	t->proc.cwd = (char *)"/srv"; /* img_cfg's WorkingDir */
	t->pp.proc = &t->proc;
	t->pp.uid = uid;
	t->pp.gid = gid;
	return &t->pp;
}

#define ARGS(...)                                                                                  \
	(const char *const[]){ __VA_ARGS__ },                                                      \
		sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *)

TEST(runtime_image_config_copy)
{
	struct sp_rt_image_config c;
	struct sp_rt_image_config *got;
	char big[70000];
	const char *bigv[] = { big };
	const char *nullv[] = { NULL };
	char ep0[] = "/bin/web";
	const char *epv[] = { ep0 };

	img_cfg(&c, "1000:1000");
	c.entrypoint = epv;
	CHECK(sp_rt_image_config_dup(NULL) == NULL);
	got = sp_rt_image_config_dup(&c);
	REQUIRE(got != NULL && got != &c);
	ep0[1] = 'X'; /* the copy is its own */
	CHECK(got->n_entrypoint == 1 && got->n_cmd == 2 && got->n_env == 2);
	CHECK_STR(got->entrypoint[0], "/bin/web");
	CHECK_STR(got->cmd[1], "8080");
	CHECK_STR(got->env[1], "MODE=prod");
	CHECK_STR(got->workdir, "/srv");
	CHECK_STR(got->user, "1000:1000");
	CHECK_STR(got->digest, "sha256:0123");
	free(got);
	/* refused whole: a NULL string, a missing array, an over-long string, too many */
	img_cfg(&c, NULL);
	c.cmd = nullv;
	c.n_cmd = 1;
	CHECK(sp_rt_image_config_dup(&c) == NULL);
	c.cmd = NULL;
	c.n_cmd = 1;
	CHECK(sp_rt_image_config_dup(&c) == NULL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	c.cmd = bigv;
	CHECK(sp_rt_image_config_dup(&c) == NULL);
	c.cmd = NULL;
	c.n_cmd = 0;
	c.n_env = SP_RT_MAX_ARGS + 1;
	CHECK(sp_rt_image_config_dup(&c) == NULL);
	/* empty lists and NULL strings are fine */
	memset(&c, 0, sizeof(c));
	got = sp_rt_image_config_dup(&c);
	REQUIRE(got && got->n_cmd == 0 && got->user == NULL);
	free(got);
}

TEST(runtime_image_pin_args_env)
{
	struct sp_policy_pin off = { .enabled = false }, on = { .enabled = true },
			     relaxed = { .enabled = true,
					 .allow_args_override = true,
					 .allow_extra_env = true,
					 .allow_workdir_override = true };
	struct sp_rt_image_config c;
	struct sp_err err;
	struct tproc t;
	struct sp_rt_proc_plan *pp;

	img_cfg(&c, "");
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"),
		   0, 0);
	CHECK(sp_rt_check_image_pin(&c, pp, &on, &err) == 0);
	CHECK(sp_rt_check_image_pin(NULL, pp, &off, &err) == 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(NULL, pp, &on, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "no image configuration") != NULL);
	/* args: cmd replaced */
	pp = tproc(&t, ARGS("/bin/web", "--debug"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"), 0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "args is not the image's entrypoint + cmd") != NULL);
	CHECK(sp_rt_check_image_pin(&c, pp, &relaxed, &err) == 0);
	pp = tproc(&t, ARGS("/bin/web", "--port", "9090"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"),
		   0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "args[2] differs from the image's cmd") != NULL);
	CHECK(strstr(err.msg, "9090") == NULL && strstr(err.msg, "8080") == NULL);
	/* the entrypoint is never replaced, even with the override */
	pp = tproc(&t, ARGS("/bin/sh", "-c", "id"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"), 0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &relaxed, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "args[0] differs from the image's entrypoint") != NULL);
	CHECK(strstr(err.msg, "/bin/web") == NULL);
	pp = tproc(&t, ARGS("/bin/web"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"), 0, 0);
	CHECK(sp_rt_check_image_pin(&c, pp, &relaxed, &err) == 0); /* cmd replaced by nothing */
	/* env: missing, changed, extra; values never in the message */
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"), ARGS("PATH=/usr/bin:/bin"), 0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &relaxed, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "env: a variable of the image's is missing") != NULL);
	CHECK(strstr(err.msg, "MODE") == NULL);
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"),
		   ARGS("PATH=/usr/bin:/bin", "MODE=prod", "MODE=s3cret"), 0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &relaxed, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "env[2] gives a variable of the image's another value") != NULL);
	CHECK(strstr(err.msg, "s3cret") == NULL);
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"),
		   ARGS("PATH=/usr/bin:/bin", "MODE=prod", "TOKEN=s3cret"), 0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "env[2] is not in the image configuration") != NULL);
	CHECK(strstr(err.msg, "s3cret") == NULL);
	CHECK(sp_rt_check_image_pin(&c, pp, &relaxed, &err) == 0);
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"),
		   ARGS("PATH=/usr/bin:/bin", "MODE=prod", "NOEQUALS"), 0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &relaxed, &err), err, SP_E_INVALID));
	/* cwd: the image's WorkingDir, unless the policy allows overriding it; "" is "/" */
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"),
		   0, 0);
	t.proc.cwd = (char *)"/tmp";
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "cwd is not the image's WorkingDir") != NULL);
	CHECK(strstr(err.msg, "/srv") == NULL);
	CHECK(sp_rt_check_image_pin(&c, pp, &relaxed, &err) == 0);
	c.workdir = "";
	t.proc.cwd = (char *)"";
	CHECK(sp_rt_check_image_pin(&c, pp, &on, &err) == 0);
	t.proc.cwd = (char *)"/";
	CHECK(sp_rt_check_image_pin(&c, pp, &on, &err) == 0);
	t.proc.cwd = (char *)"/srv";
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, &err), err, SP_E_DENIED));
	c.workdir = "/srv";
	/* an image with neither entrypoint nor cmd cannot pin anything: refused */
	c.n_entrypoint = c.n_cmd = 0;
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &relaxed, &err), err, SP_E_DENIED));
}

/* A rootfs in a temporary directory with etc/passwd and etc/group. */
TEST(runtime_image_user)
{
	char dir[64];
	int rootfd = tmp_rootfs(dir,
				"root:x:0:0:root:/root:/bin/sh\n"
				"web:x:1000:1001::/srv:/bin/false\n"
				"broken:x:notanumber:1:::\n",
				"root:x:0:\nstaff:x:50:web\n");
	struct sp_err err;
	uint32_t uid, gid;
	struct sp_rt_image_config c;
	struct tproc t;
	struct sp_policy_pin on = { .enabled = true };
	struct sp_rt_proc_plan *pp;

	REQUIRE(rootfd >= 0);
	CHECK(sp_image_user("", rootfd, &uid, &gid, &err) == 0 && uid == 0 && gid == 0);
	CHECK(sp_image_user(NULL, rootfd, &uid, &gid, &err) == 0 && uid == 0 && gid == 0);
	CHECK(sp_image_user("web", rootfd, &uid, &gid, &err) == 0 && uid == 1000 && gid == 1001);
	CHECK(sp_image_user("1000", rootfd, &uid, &gid, &err) == 0 && uid == 1000 && gid == 1001);
	CHECK(sp_image_user("4242", rootfd, &uid, &gid, &err) == 0 && uid == 4242 && gid == 0);
	CHECK(sp_image_user("web:staff", rootfd, &uid, &gid, &err) == 0 && uid == 1000 &&
	      gid == 50);
	CHECK(sp_image_user("7:8", -1, &uid, &gid, &err) == 0 && uid == 7 && gid == 8);
	CHECK(sp_image_user("web", -1, &uid, &gid, &err) < 0);
	CHECK(sp_image_user("nobody", rootfd, &uid, &gid, &err) < 0);
	CHECK(strstr(err.msg, "is not in its /etc/passwd") != NULL);
	CHECK(strstr(err.msg, "nobody") == NULL);
	CHECK(sp_image_user("broken", rootfd, &uid, &gid, &err) < 0);
	CHECK(sp_image_user("web:wheel", rootfd, &uid, &gid, &err) < 0);
	CHECK(FAILS_AS(sp_image_user("web:", rootfd, &uid, &gid, &err), err, SP_E_INVALID));
	CHECK(FAILS_AS(sp_image_user(":5", rootfd, &uid, &gid, &err), err, SP_E_INVALID));
	CHECK(FAILS_AS(sp_image_user("1:2:3", rootfd, &uid, &gid, &err), err, SP_E_INVALID));
	CHECK(sp_image_user("99999999999", rootfd, &uid, &gid, &err) < 0);
	/* the pin compares uid and gid: what the pull worker resolved, carried with the config */
	img_cfg(&c, "web");
	c.user_ret = sp_image_user(c.user, rootfd, &c.uid, &c.gid, &c.user_err);
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"),
		   1000, 1001);
	CHECK(sp_rt_check_image_pin(&c, pp, &on, &err) == 0);
	/* a configuration whose user nobody looked up is refused, never taken as 0:0 */
	c.user_resolved = false;
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, &err), err, SP_E_DENIED));
	c.user_resolved = true;
	pp->uid = 0;
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "user: the process runs as 0:1001, not as the image's user") != NULL);
	CHECK(strstr(err.msg, "web") == NULL && strstr(err.msg, "1000") == NULL);
	/* additional gids: the process's own gid, or what the policy lists */
	pp->uid = 1000;
	pp->gids[0] = 1001;
	pp->ngids = 1;
	CHECK(sp_rt_check_image_pin(&c, pp, &on, &err) == 0);
	pp->gids[1] = 0;
	pp->ngids = 2;
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "additional gid 0 is neither") != NULL);
	on.extra_gids[0] = 0;
	on.nextra_gids = 1;
	CHECK(sp_rt_check_image_pin(&c, pp, &on, &err) == 0);
	on.nextra_gids = 0;
	pp->ngids = 0;
	/* a user the image's files do not have: the pin refuses with the lookup's words */
	img_cfg(&c, "nobody");
	c.user_ret = sp_image_user(c.user, rootfd, &c.uid, &c.gid, &c.user_err);
	CHECK(c.user_ret < 0);
	pp->uid = pp->gid = 0;
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, &err), err, SP_E_PRECONDITION));
	CHECK(strstr(err.msg, "user: the image's user is not in its /etc/passwd") != NULL);
	close(rootfd);
	rm_rootfs(dir);
	/* a symlinked /etc/passwd pointing out of the rootfs resolves inside it */
	rootfd = tmp_rootfs(dir, NULL, NULL);
	REQUIRE(rootfd >= 0);
	{
		char p[128];

		(void)snprintf(p, sizeof(p), "%s/etc/passwd", dir);
		CHECK(symlink("/etc/passwd", p) == 0); /* in the rootfs: itself, a loop */
		CHECK(sp_image_user("root", rootfd, &uid, &gid, &err) < 0);
		unlink(p);
	}
	close(rootfd);
	rm_rootfs(dir);
}

TEST(runtime_policy_pin_keys)
{
	static const char on[] = "{\"version\": 1, \"default\": \"allow\", "
				 "\"pin_process_to_image\": true, \"pin_allow_extra_env\": true}";
	static const char orphan[] = "{\"version\": 1, \"default\": \"allow\", "
				     "\"pin_allow_args_override\": true}";
	static const char orphan_wd[] = "{\"version\": 1, \"default\": \"allow\", "
					"\"pin_allow_workdir_override\": true}";
	static const char wd[] = "{\"version\": 1, \"default\": \"allow\", "
				 "\"pin_process_to_image\": true, "
				 "\"pin_allow_workdir_override\": true}";
	static const char wrong[] = "{\"version\": 1, \"default\": \"allow\", "
				    "\"pin_process_to_image\": \"yes\"}";
	static const char rego[] = "package agent_policy\ndefault CreateContainerRequest := true\n";
	struct sp_policy *p = NULL;
	struct sp_policy_pin pin;
	struct sp_err err;

	REQUIRE(sp_policy_load(on, strlen(on), &p, &err) == 0);
	sp_policy_pin(p, &pin);
	CHECK(pin.enabled && pin.allow_extra_env && !pin.allow_args_override);
	sp_policy_free(p);
	CHECK(sp_policy_load(orphan, strlen(orphan), &p, &err) < 0);
	CHECK(strstr(err.msg, "pin_process_to_image, which is not set") != NULL);
	CHECK(sp_policy_load(orphan_wd, strlen(orphan_wd), &p, &err) < 0);
	REQUIRE(sp_policy_load(wd, strlen(wd), &p, &err) == 0);
	sp_policy_pin(p, &pin);
	CHECK(pin.enabled && pin.allow_workdir_override && !pin.allow_extra_env);
	sp_policy_free(p);
	CHECK(sp_policy_load(wrong, strlen(wrong), &p, &err) < 0);
	REQUIRE(sp_policy_load(rego, strlen(rego), &p, &err) == 0);
	sp_policy_pin(p, &pin);
	CHECK(!pin.enabled);
	sp_policy_free(p);
	REQUIRE(sp_policy_builtin(&p, &err) == 0);
	sp_policy_pin(p, &pin);
	CHECK(!pin.enabled);
	sp_policy_free(p);
	sp_policy_pin(NULL, &pin);
	CHECK(!pin.enabled);
}

TEST(runtime_image_user_malformed_db)
{
	struct sp_err err;
	uint32_t uid, gid;

	/* no trailing newline, comment-free minimal lines */
	CHECK(sp_image_user_db("a", "a:x:5:6", NULL, &uid, &gid, &err) == 0 && uid == 5 &&
	      gid == 6);
	/* fields missing, ids not numbers or too big, an empty file: the name is not found */
	CHECK(sp_image_user_db("a", "a:x:5", NULL, &uid, &gid, &err) < 0);
	CHECK(sp_image_user_db("a", "a", NULL, &uid, &gid, &err) < 0);
	CHECK(sp_image_user_db("a", "a:x::6\n", NULL, &uid, &gid, &err) < 0);
	CHECK(sp_image_user_db("a", "a:x:-1:6\n", NULL, &uid, &gid, &err) < 0);
	CHECK(sp_image_user_db("a", "a:x:4294967296:6\n", NULL, &uid, &gid, &err) < 0);
	CHECK(sp_image_user_db("a", "", NULL, &uid, &gid, &err) < 0);
	CHECK(FAILS_AS(sp_image_user_db("a", NULL, NULL, &uid, &gid, &err), err,
		       SP_E_PRECONDITION));
	/* a prefix of a name is not the name; the first entry of a name wins */
	CHECK(sp_image_user_db("a", "ab:x:1:1\na:x:2:2\na:x:3:3\n", NULL, &uid, &gid, &err) == 0 &&
	      uid == 2 && gid == 2);
	/* group: the 3rd field, members ignored; a missing group file refuses a group name */
	CHECK(sp_image_user_db("1:g", NULL, "g:x:9:a,b", &uid, &gid, &err) == 0 && uid == 1 &&
	      gid == 9);
	CHECK(FAILS_AS(sp_image_user_db("1:g", NULL, NULL, &uid, &gid, &err), err,
		       SP_E_PRECONDITION));
	CHECK(sp_image_user_db("1:g", NULL, "g:x\n", &uid, &gid, &err) < 0);
	/* escaped in the message */
	CHECK(sp_image_user_db("\x1b[2J", "", NULL, &uid, &gid, &err) < 0);
	CHECK(strchr(err.msg, '\x1b') == NULL);
}

/* The pin's binds: none over, above or beneath the program's directory or the dynamic loader's
 * files, whatever the policy says; none over a path the image has unless allowed_mounts judged
 * the mounts, but for the files Kubernetes writes for every pod. */
static int pin_bind(const char *dest, const char *prog, bool judged, int rootfd, struct sp_err *err)
{
	static struct sp_rt_plan plan;
	static Grpc__Process proc;
	static char *args[1], *env[1] = { "PATH=/usr/bin:/bin" };
	struct sp_policy_pin on = { .enabled = true };

	memset(&plan, 0, sizeof(plan));
	proc = (Grpc__Process)GRPC__PROCESS__INIT;
	args[0] = (char *)prog;
	proc.args = args;
	proc.n_args = 1;
	proc.env = env;
	proc.n_env = 1;
	proc.cwd = "/srv";
	plan.p.proc = &proc;
	plan.nmounts = 2;
	plan.mounts[0] = (struct sp_rt_mount){ .kind = MK_TMPFS, .dest = "/app" };
	plan.mounts[1] = (struct sp_rt_mount){ .kind = MK_BIND, .dest = dest, .source = "/x" };
	memset(err, 0, sizeof(*err));
	return sp_rt_check_pin_mounts(&plan, &on, judged, rootfd, err);
}

TEST(runtime_pin_binds)
{
	struct sp_policy_pin off = { .enabled = false };
	static struct sp_rt_plan plan;
	struct sp_err err;
	char dir[64], p[128];
	int rootfd = tmp_rootfs(dir, "root:x:0:0::/:/bin/sh\n", NULL);

	REQUIRE(rootfd >= 0);
	(void)snprintf(p, sizeof(p), "%s/lnk", dir);
	REQUIRE(symlink("etc", p) == 0);
	/* the program's directory, above it, in it (a tmpfs is not a bind: not judged) */
	CHECK(FAILS_AS(pin_bind("/app", "/app/web", true, rootfd, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "mounts[1]: a bind at /app covers the program's directory") != NULL);
	CHECK(FAILS_AS(pin_bind("/app/plugins", "/app/web", true, rootfd, &err), err, SP_E_DENIED));
	CHECK(FAILS_AS(pin_bind("/opt", "/opt/app/bin/web", true, rootfd, &err), err, SP_E_DENIED));
	CHECK(pin_bind("/application", "/app/web", true, rootfd, &err) == 0);
	/* a bare name: every directory of its PATH; a relative path: beneath the cwd */
	CHECK(FAILS_AS(pin_bind("/usr/bin", "web", true, rootfd, &err), err, SP_E_DENIED));
	CHECK(FAILS_AS(pin_bind("/bin/web", "web", true, rootfd, &err), err, SP_E_DENIED));
	CHECK(pin_bind("/usr/share/web", "web", true, rootfd, &err) == 0);
	CHECK(FAILS_AS(pin_bind("/srv/bin", "./bin/web", true, rootfd, &err), err, SP_E_DENIED));
	/* a program in /: only itself */
	CHECK(FAILS_AS(pin_bind("/web", "/web", true, rootfd, &err), err, SP_E_DENIED));
	CHECK(pin_bind("/data", "/web", true, rootfd, &err) == 0);
	/* the dynamic loader: preload, configuration, libraries, musl's path file */
	CHECK(FAILS_AS(pin_bind("/etc/ld.so.preload", "/app/web", true, rootfd, &err), err,
		       SP_E_DENIED));
	CHECK(FAILS_AS(pin_bind("/etc", "/app/web", true, rootfd, &err), err, SP_E_DENIED));
	CHECK(FAILS_AS(pin_bind("/usr/lib/x86_64-linux-gnu", "/app/web", true, rootfd, &err), err,
		       SP_E_DENIED));
	CHECK(FAILS_AS(pin_bind("/etc/ld-musl-x86_64.path", "/app/web", true, rootfd, &err), err,
		       SP_E_DENIED));
	/* a path the image has: refused unless allowed_mounts judged the mounts */
	CHECK(FAILS_AS(pin_bind("/etc/passwd", "/app/web", false, rootfd, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "covers a path the image provides") != NULL);
	CHECK(pin_bind("/etc/passwd", "/app/web", true, rootfd, &err) == 0);
	CHECK(FAILS_AS(pin_bind("/lnk/x", "/app/web", false, rootfd, &err), err, SP_E_DENIED));
	/* what is not in the image, and the pod's own files, are fine */
	CHECK(pin_bind("/data", "/app/web", false, rootfd, &err) == 0);
	CHECK(pin_bind("/etc/passwd-not", "/app/web", false, rootfd, &err) == 0);
	CHECK(pin_bind("/etc/hosts", "/app/web", false, rootfd, &err) == 0);
	CHECK(pin_bind("/dev/termination-log", "/app/web", false, rootfd, &err) == 0);
	/* no rootfs to look in: assume the worst */
	CHECK(FAILS_AS(pin_bind("/data", "/app/web", false, -1, &err), err, SP_E_DENIED));
	/* pinning off: nothing is judged here */
	memset(&plan, 0, sizeof(plan));
	CHECK(sp_rt_check_pin_mounts(&plan, &off, false, -1, &err) == 0);
	unlink(p);
	close(rootfd);
	rm_rootfs(dir);
}
