/* sealpod PID 1: the boot story. Each step is a function in its own module and logs one
 * timeline line; the harness waits for "sealpod: ready". After boot PID 1 serves the control
 * port and reaps children until it is told to power off. It never returns from main.
 *
 * What the steps hand each other lives in one struct boot passed to each: the loop, the
 * configuration, what initdata said. No module finds it through a global. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/gate.h"
#include "agent/service.h"
#include "attest/attest.h"
#include "boot/boot.h"
#include "image/image.h"
#include "image/sigpolicy.h"
#include "lib/config.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/testmode.h"
#include "lib/worker.h"
#include "runtime/runtime.h"
#include "sandbox/sandbox.h"
#include "storage/storage.h"

#define TESTD_PATH "/sbin/sealpod-testd"

struct boot {
	struct sp_loop loop;
	struct sp_config cfg;
	const char *host_cmdline; /* host test mode: --cmdline or $SEALPOD_CMDLINE */
	bool test_overlay;	  /* the overlay's marker, read once here */
	struct sp_initdata_conf initdata;
};

static struct boot boot = { .loop = { .epfd = -1 } }; /* static only for host_cleanup */

/* Every kind of worker /init can be exec'd as (lib/worker.h): main hands argv to
 * sp_worker_main first, which runs the one named there and never returns. */
static const struct sp_worker_def *const workers[] = {
	&sp_agent_front_worker, /* the control port's front-end (init/front/) */
	&sp_attest_worker,	 &sp_storage_worker,	&sp_pull_worker,
	&sp_pull_release_worker, &sp_pull_meta_worker,	&sp_pull_layer_worker,
	&sp_layer_fetch_worker,	 &sp_layer_read_worker,
};

/* Leave the initramfs for a tmpfs root, so containers can pivot_root (boot/mounts.c). On
 * success this execs /init again, which comes back here and goes on. */
static void step_root(char **argv)
{
	extern char **environ;
	struct sp_err err;

	if (sp_is_pid1() && sp_switch_root(argv, environ, &err) < 0)
		sp_fatal("boot.root", "%s", err.msg);
}

/* Every process PID 1 forks is a copy of its memory until it execs, and some never do (the
 * workers): none may be ptraced, or read through /proc, by anything without CAP_SYS_PTRACE, from
 * the fork on. execve of a program makes a process dumpable again. After step_root, whose exec
 * would undo it. */
static void step_undumpable(void)
{
	if (sp_is_pid1() && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		sp_fatal("boot.dumpable", "PR_SET_DUMPABLE: %s", strerror(errno));
}

static void step_signals(struct boot *b)
{
	struct sp_err err;

	if (sp_loop_init(&b->loop, &err) < 0 || sp_signals_init(&b->loop, &err) < 0)
		sp_fatal("boot.signals", "%s", err.msg);
}

static void step_mounts(void)
{
	struct sp_err err;

	if (!sp_is_pid1()) {
		sp_info("mounts", "skipped: not PID 1 (host test mode)");
		return;
	}
	if (sp_mount_all(&err) < 0)
		sp_fatal("boot.mounts", "%s", err.msg);
	sp_open_log_sinks();
	if (sp_harden_self(&err) < 0)
		sp_warn("mounts", "%s", err.msg);
	if (sp_loopback_up(&err) < 0)
		sp_warn("mounts", "lo: %s", err.msg);
	else
		sp_info("mounts", "lo up");
}

/* The /init workers are exec'd from (lib/worker.h), opened once, now that the root is final:
 * nothing a worker runs is looked up by path later. */
static void step_workers(void)
{
	struct sp_err err;

	if (sp_worker_set_exe(sp_is_pid1() ? "/init" : "/proc/self/exe", &err) < 0)
		sp_fatal("boot.workers", "%s", err.msg);
}

static void step_cmdline(struct boot *b)
{
	struct sp_config *cfg = &b->cfg;
	char buf[SP_CMDLINE_MAX + 1];
	char addr[128];
	size_t len = 0;
	bool truncated = false;
	struct sp_err err;

	sp_config_default(cfg);
	if (!sp_is_pid1()) {
		len = b->host_cmdline ? strlen(b->host_cmdline) : 0;
		sp_cmdline_parse(b->host_cmdline ? b->host_cmdline : "", len, cfg);
	} else if (sp_read_file("/proc/cmdline", buf, sizeof(buf), &len, &truncated, &err) < 0) {
		sp_warn("cmdline", "%s; using defaults", err.msg);
	} else {
		/* buf holds one byte more than the parser reads, so it can tell truncation. */
		sp_cmdline_parse(buf, len, cfg);
	}
	/* The overlay's marker, read once here: what the command line may do depends on it. */
	b->test_overlay = sp_test_overlay_latch(SP_TEST_OVERLAY_MARKER);
	sp_config_restrict(cfg, b->test_overlay || !sp_is_pid1());
	sp_log_set_level(cfg->log_level);
	for (unsigned i = 0; i < cfg->nnotes; i++)
		sp_warn("cmdline", "%s", cfg->notes[i]);
	if (cfg->notes_dropped)
		sp_warn("cmdline", "%u more notes not shown", cfg->notes_dropped);
	if (cfg->debug_console_requested)
		sp_warn("cmdline", "agent.debug_console ignored: this guest has no shell");
	sp_listen_addr_format(&cfg->addr, addr, sizeof(addr));
	sp_info("cmdline", "server_addr=%s log=%s hotplug_timeout=%us loopback=%s attest=%s", addr,
		cfg->log_level == SP_LOG_DEBUG ? "debug" : "info", cfg->hotplug_timeout_s,
		cfg->sec.allow_loopback ? "test-overlay-only" : "refused",
		cfg->sec.attest == SP_ATTEST_REQUIRED ? "required" : "auto");
}

/* initdata: read, verified against the launch binding, parsed (init/attest/). Its policy, if
 * any, replaces the built-in default in the next step; its image settings and secrets go to the
 * runtime. */
static void step_initdata(struct boot *b)
{
	const char *sig;
	struct sp_sigpolicy *p;
	struct sp_err err;

	sp_attest_boot_initdata(&b->cfg, b->test_overlay, &b->initdata);
	sig = b->initdata.image ? b->initdata.image->sig_policy : NULL;
	if (b->initdata.image && b->initdata.image->sig_policy_uri)
		sp_info("image", "signature policy: %s, fetched after attestation for each pull",
			b->initdata.image->sig_policy_uri);
	if (!sig)
		return;
	/* A signature policy this guest cannot enforce stops the boot here, not at a pull. */
	p = calloc(1, sizeof(*p));
	if (!p || sp_sigpolicy_parse(sig, strlen(sig), p, &err) < 0)
		sp_fatal("initdata.parse", "cdh.toml image_security_policy: %s",
			 p ? err.msg : "out of memory");
	sp_info("image", "signature policy: %zu docker scope%s besides the default", p->nscopes,
		p->nscopes == 1 ? "" : "s");
	free(p);
}

static void step_policy(struct boot *b)
{
	struct sp_policy *p = b->initdata.policy;
	struct sp_err err;

	if (!p && sp_policy_builtin(&p, &err) < 0)
		sp_fatal("policy.load", "%s", err.msg);
	sp_agent_install_policy(p, b->initdata.policy != NULL, b->initdata.present);
	b->initdata.policy = NULL; /* the agent owns it now */
	sp_info("policy", "%s", sp_policy_describe(p));
}

static void runtime_child_exited(pid_t pid, int status, void *data)
{
	(void)data;
	sp_rt_child_exited(pid, status);
}

/* The container runtime: the cgroup sandbox, exits routed to it, and what initdata gives it. */
static void step_runtime(struct boot *b)
{
	const struct sp_runtime_conf rc = {
		.loop = &b->loop,
		.test_overlay = b->test_overlay,
		.image = b->initdata.image,
		.secrets = b->initdata.secrets,
		.nsecrets = b->initdata.nsecrets,
	};
	struct sp_err err;

	sp_set_child_hook(runtime_child_exited, NULL);
	sp_sandbox_init(&b->loop);
	if (sp_runtime_init(&rc, &err) < 0)
		sp_warn("runtime", "%s", err.msg);
}

/* The control port: PID 1 listens and accepts; a confined front-end reads every host byte
 * (init/front/) and hands PID 1 each request in a form it checks itself. */
static void step_listen(struct boot *b)
{
	struct sp_agent_listen_conf lc = {
		.loop = &b->loop,
		.addr = &b->cfg.addr,
		.accept_loopback = b->test_overlay && b->cfg.sec.allow_loopback,
		.front = &sp_agent_front_worker,
	};
	struct sp_err err;
	char addr[128];

	sp_listen_addr_format(&b->cfg.addr, addr, sizeof(addr));
	if (sp_agent_service_init(&err) < 0)
		sp_fatal("agent.listen", "%s", err.msg);
	lc.server = sp_agent_server();
	if (sp_agent_listen(&lc, &err) < 0)
		sp_fatal("agent.listen", "%s", err.msg);
	if (b->cfg.addr.kind == SP_ADDR_VSOCK)
		sp_info("listen", "%s, peers: host (cid 2)%s; front-end pid %d", addr,
			lc.accept_loopback ? ", loopback (cid 1, test overlay)"
			: b->test_overlay  ? "; loopback refused by sealpod.loopback=0"
					   : "",
			(int)sp_agent_front_pid());
	else
		sp_info("listen", "%s, peers: any (host test mode); front-end pid %d", addr,
			(int)sp_agent_front_pid());
	sp_info("ready", "control port %s", addr);
}

/* After the control port is up: formatting runs in a worker, so the port keeps answering. */
static void step_storage(struct boot *b)
{
	(void)sp_storage_boot(&b->loop, b->cfg.hotplug_timeout_s);
}

/* Standalone (network from the command line): attest now; under Kata at the first
 * CreateContainer, once the network has arrived through the control port. */
static void step_attest(struct boot *b)
{
	sp_attest_boot_start(&b->loop, &b->cfg);
}

/* Test images only: the overlay's marker file is part of the measured initrd, so no production
 * reference value matches a guest that runs this. */
static void step_test_overlay(struct boot *b)
{
	static char *const argv[] = { TESTD_PATH, NULL };
	static char *const envp[] = { "PATH=/sbin:/bin:/usr/sbin:/usr/bin", "HOME=/", NULL };
	struct sp_err err;
	pid_t pid;

	if (!b->test_overlay)
		return;
	if (sp_spawn(TESTD_PATH, argv, envp, &pid, &err) < 0)
		sp_warn("testd", "%s", err.msg);
	else
		sp_info("testd", "started %s pid %d", TESTD_PATH, (int)pid);
}

static void serve(struct boot *b)
{
	struct sp_err err;

	for (;;) {
		if (sp_loop_run_once(&b->loop, -1, &err) < 0)
			sp_fatal("boot.loop", "%s", err.msg);
	}
}

static void host_cleanup(void)
{
	sp_agent_shutdown();
	if (boot.cfg.addr.kind == SP_ADDR_UNIX)
		unlink(boot.cfg.addr.path);
}

/* Off PID 1 (host tests), argv configures what the kernel command line would. As PID 1 argv
 * holds whatever the kernel did not understand and is ignored. */
static void parse_host_args(struct boot *b, int argc, char **argv)
{
	b->host_cmdline = getenv("SEALPOD_CMDLINE");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cmdline") == 0 && i + 1 < argc) {
			b->host_cmdline = argv[++i];
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("%s\n", SP_AGENT_VERSION);
			exit(0);
		} else {
			(void)fprintf(stderr,
				      "usage: %s [--cmdline 'agent.server_addr=unix:///tmp/a.sock "
				      "agent.log=debug']\n",
				      argv[0]);
			exit(2);
		}
	}
	(void)atexit(host_cleanup);
}

int main(int argc, char **argv)
{
	struct boot *b = &boot;

	sp_worker_main(argc, argv, workers, sizeof(workers) / sizeof(workers[0]));
	if (!sp_is_pid1())
		parse_host_args(b, argc, argv);
	step_root(argv);
	step_undumpable();
	step_signals(b);
	step_mounts();
	step_workers();
	step_cmdline(b);
	step_initdata(b);
	step_policy(b);
	step_runtime(b);
	step_listen(b);
	step_storage(b);
	step_test_overlay(b);
	step_attest(b);
	serve(b);
}
