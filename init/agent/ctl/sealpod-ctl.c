/* sealpod-ctl: a host-side client of the agent API (grpc.AgentService and grpc.Health over
 * ttRPC), built from the same generated protobuf-c code as the agent. One connection, one call
 * at a time. Responses go to stdout as JSON; a failed call goes to stderr as
 * `sealpod-ctl: <Method>: <CODE_NAME>: <message>` and exits with 64 + the status code.
 *
 * Exit codes: 0 OK; 2 usage; 3 connection or protocol failure; 4 bad JSON input;
 * 64 + N an RPC status N (e.g. 76 UNIMPLEMENTED, 67 INVALID_ARGUMENT). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/be.h"
#include "agent.pb-c.h"
#include "health.pb-c.h"
#include "pbjson.h"
#include "ttrpc.pb-c.h"
#include "types.pb-c.h"

#define EXIT_USAGE    2
#define EXIT_CONN     3
#define EXIT_JSON     4
#define EXIT_RPC_BASE 64
#define FRAME_MAX     (4u << 20)
#define HDR_LEN	      10

struct method {
	const char *name, *service;
	const ProtobufCMessageDescriptor *req, *resp;
};

#define H(n, rq, rs)                                                                               \
	{                                                                                          \
#n, "grpc.Health", &grpc__##rq##__descriptor, &grpc__##rs##__descriptor            \
	}
#define A(n, rq, rs)                                                                               \
	{                                                                                          \
#n, "grpc.AgentService", &grpc__##rq##__descriptor, &grpc__##rs##__descriptor      \
	}
static const struct method methods[] = {
	H(Check, check_request, health_check_response),
	H(Version, check_request, version_check_response),
	A(CreateContainer, create_container_request, empty),
	A(StartContainer, start_container_request, empty),
	A(RemoveContainer, remove_container_request, empty),
	A(ExecProcess, exec_process_request, empty),
	A(SignalProcess, signal_process_request, empty),
	A(WaitProcess, wait_process_request, wait_process_response),
	A(ReadStdout, read_stream_request, read_stream_response),
	A(ReadStderr, read_stream_request, read_stream_response),
	A(WriteStdin, write_stream_request, write_stream_response),
	A(CloseStdin, close_stdin_request, empty),
	A(TtyWinResize, tty_win_resize_request, empty),
	A(StatsContainer, stats_container_request, stats_container_response),
	A(GetOOMEvent, get_oomevent_request, oomevent),
	A(GetDiagnosticData, get_diagnostic_data_request, get_diagnostic_data_response),
	A(CreateSandbox, create_sandbox_request, empty),
	A(DestroySandbox, destroy_sandbox_request, empty),
	{ "UpdateInterface", "grpc.AgentService", &grpc__update_interface_request__descriptor,
	  &types__interface__descriptor },
	A(UpdateRoutes, update_routes_request, routes),
	A(AddARPNeighbors, add_arpneighbors_request, empty),
	A(OnlineCPUMem, online_cpumem_request, empty),
	A(CopyFile, copy_file_request, empty),
	A(UpdateEphemeralMounts, update_ephemeral_mounts_request, empty),
	A(GetGuestDetails, guest_details_request, guest_details_response),
	A(RemoveStaleVirtiofsShareMounts, remove_stale_virtiofs_share_mounts_request, empty),
	A(SetPolicy, set_policy_request, empty),
};

static const char *const code_names[] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};

static int conn_fd = -1;
static uint32_t next_stream = 1;
static int timeout_s = 30;

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
	va_list ap;

	(void)fputs("sealpod-ctl: ", stderr);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fputc('\n', stderr);
	exit(code);
}

static const struct method *find_method(const char *name)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(methods[i].name, name))
			return &methods[i];
	return NULL;
}

/* --- transport --------------------------------------------------------------------------------- */

static void set_timeouts(int fd)
{
	struct timeval tv = { timeout_s, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int fd;

	if (len >= sizeof(sa.sun_path))
		die(EXIT_USAGE, "socket path too long: %s", path);
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(EXIT_CONN, "socket: %s", strerror(errno));
	set_timeouts(fd);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die(EXIT_CONN, "connect %s: %s", path, strerror(errno));
	return fd;
}

static unsigned long parse_ulong(const char *s, unsigned long max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > max || *s == '-')
		die(EXIT_USAGE, "bad %s: '%s'", what, s);
	return v;
}

/* vsock://CID:PORT, unix:///PATH, hvsock:///PATH:PORT (the VMM's socket, then
 * "CONNECT PORT\n" answered by a line containing "OK"). */
static int dial(const char *addr)
{
	if (!strncmp(addr, "unix://", 7))
		return unix_connect(addr + 7);
	if (!strncmp(addr, "vsock://", 8)) {
		struct sockaddr_vm sa = { .svm_family = AF_VSOCK };
		char cid[16];
		const char *colon = strchr(addr + 8, ':');
		int fd;

		if (!colon || (size_t)(colon - addr - 8) >= sizeof(cid))
			die(EXIT_USAGE, "bad address %s: want vsock://CID:PORT", addr);
		memcpy(cid, addr + 8, (size_t)(colon - addr - 8));
		cid[colon - addr - 8] = '\0';
		sa.svm_cid = (unsigned)parse_ulong(cid, 0xffffffffu, "CID");
		sa.svm_port = (unsigned)parse_ulong(colon + 1, 0xffffffffu, "port");
		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die(EXIT_CONN, "vsock socket: %s", strerror(errno));
		set_timeouts(fd);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die(EXIT_CONN, "connect %s: %s", addr, strerror(errno));
		return fd;
	}
	if (!strncmp(addr, "hvsock://", 9)) {
		char path[sizeof(((struct sockaddr_un *)0)->sun_path)], line[128], req[32];
		const char *colon = strrchr(addr + 9, ':');
		size_t n = 0;
		unsigned long port;
		int fd;

		if (!colon || (size_t)(colon - addr - 9) >= sizeof(path) || colon == addr + 9)
			die(EXIT_USAGE, "bad address %s: want hvsock:///PATH:PORT", addr);
		memcpy(path, addr + 9, (size_t)(colon - addr - 9));
		path[colon - addr - 9] = '\0';
		port = parse_ulong(colon + 1, 0xffffffffu, "port");
		fd = unix_connect(path);
		(void)snprintf(req, sizeof(req), "CONNECT %lu\n", port);
		if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
			die(EXIT_CONN, "%s: handshake write: %s", addr, strerror(errno));
		/* Byte by byte: what follows the line is already ttRPC. */
		while (n + 1 < sizeof(line)) {
			ssize_t r = read(fd, line + n, 1);

			if (r <= 0)
				die(EXIT_CONN, "%s: no handshake reply", addr);
			if (line[n++] == '\n')
				break;
		}
		line[n] = '\0';
		if (!n || line[n - 1] != '\n' || !strstr(line, "OK"))
			die(EXIT_CONN, "%s: handshake refused: %.60s", addr, line);
		return fd;
	}
	die(EXIT_USAGE,
	    "bad address %s: want vsock://CID:PORT, unix:///PATH or hvsock:///PATH:PORT", addr);
}

static void write_all(const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(conn_fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die(EXIT_CONN, "send: %s", w < 0 ? strerror(errno) : "closed");
		p += w;
		n -= (size_t)w;
	}
}

static void read_all(uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(conn_fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			die(EXIT_CONN, "no reply within %d s", timeout_s);
		if (r <= 0)
			die(EXIT_CONN, "receive: %s",
			    r < 0 ? strerror(errno) : "connection closed");
		p += r;
		n -= (size_t)r;
	}
}

/* One call. On an OK status returns the decoded response (caller frees); otherwise reports the
 * status on stderr and exits 64 + code unless soft, where it returns NULL with *code set. */
static ProtobufCMessage *call(const struct method *m, const ProtobufCMessage *req, bool soft,
			      int *code)
{
	Ttrpc__Request env = TTRPC__REQUEST__INIT;
	Ttrpc__Response *resp;
	ProtobufCMessage *out;
	uint8_t hdr[HDR_LEN], *frame, *body;
	uint32_t stream = next_stream, len;
	size_t plen, elen;

	next_stream += 2;
	plen = protobuf_c_message_get_packed_size(req);
	env.service = (char *)m->service;
	env.method = (char *)m->name;
	env.payload.len = plen;
	env.payload.data = malloc(plen ? plen : 1);
	env.timeout_nano = (int64_t)timeout_s * 1000000000;
	if (!env.payload.data)
		die(EXIT_CONN, "out of memory");
	protobuf_c_message_pack(req, env.payload.data);
	elen = ttrpc__request__get_packed_size(&env);
	if (elen > FRAME_MAX)
		die(EXIT_USAGE, "%s: request of %zu bytes is over the 4 MiB frame limit", m->name,
		    elen);
	frame = malloc(HDR_LEN + elen);
	if (!frame)
		die(EXIT_CONN, "out of memory");
	sp_put_be32(frame, (uint32_t)elen);
	sp_put_be32(frame + 4, stream);
	frame[8] = 1; /* request */
	frame[9] = 0;
	ttrpc__request__pack(&env, frame + HDR_LEN);
	write_all(frame, HDR_LEN + elen);
	free(frame);
	free(env.payload.data);
	for (;;) {
		read_all(hdr, HDR_LEN);
		len = sp_get_be32(hdr);
		if (len > FRAME_MAX)
			die(EXIT_CONN, "%s: reply frame of %u bytes", m->name, len);
		body = malloc(len ? len : 1);
		if (!body)
			die(EXIT_CONN, "out of memory");
		read_all(body, len);
		if (sp_get_be32(hdr + 4) == stream && hdr[8] == 2)
			break;
		free(body); /* not ours: another stream or a data frame */
	}
	resp = ttrpc__response__unpack(NULL, len, body);
	free(body);
	if (!resp)
		die(EXIT_CONN, "%s: undecodable ttRPC response", m->name);
	*code = resp->status ? resp->status->code : 0;
	if (*code != 0) {
		const char *name =
			*code > 0 && (size_t)*code < sizeof(code_names) / sizeof(code_names[0])
				? code_names[*code]
				: "UNKNOWN";

		(void)fprintf(stderr, "sealpod-ctl: %s: %s: %s\n", m->name, name,
			      resp->status->message ? resp->status->message : "");
		ttrpc__response__free_unpacked(resp, NULL);
		if (soft)
			return NULL;
		exit(EXIT_RPC_BASE + (*code > 0 && *code < 64 ? *code : 2));
	}
	out = protobuf_c_message_unpack(m->resp, NULL, resp->payload.len, resp->payload.data);
	ttrpc__response__free_unpacked(resp, NULL);
	if (!out)
		die(EXIT_CONN, "%s: undecodable %s", m->name, m->resp->name);
	return out;
}

static void print_json(const ProtobufCMessage *msg)
{
	json_object *j = pbjson_from_message(msg);

	puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
}

/* Builds the request of method from a JSON object, calls it, prints the response. */
static int call_json(const char *method, json_object *obj)
{
	const struct method *m = find_method(method);
	ProtobufCMessage *req, *resp;
	char why[256];
	int code;

	if (!m)
		die(EXIT_USAGE, "unknown method '%s'", method);
	req = pbjson_to_message(m->req, obj, why, sizeof(why));
	if (!req)
		die(EXIT_JSON, "%s: %s", method, why);
	resp = call(m, req, false, &code);
	protobuf_c_message_free_unpacked(req, NULL);
	print_json(resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

static json_object *parse_json_text(const char *text)
{
	enum json_tokener_error jerr;
	json_object *obj = json_tokener_parse_verbose(text, &jerr);

	if (!obj)
		die(EXIT_JSON, "bad JSON: %s", json_tokener_error_desc(jerr));
	return obj;
}

static char *read_stdin(void)
{
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap);

	while (buf) {
		size_t r = fread(buf + n, 1, cap - n - 1, stdin);

		n += r;
		if (r == 0)
			break;
		if (n + 1 == cap) {
			if (cap > (size_t)FRAME_MAX * 2)
				die(EXIT_JSON, "JSON on stdin too large");
			buf = realloc(buf, cap *= 2);
		}
	}
	if (!buf)
		die(EXIT_CONN, "out of memory");
	buf[n] = '\0';
	return buf;
}

/* --- verbs ------------------------------------------------------------------------------------- */

struct opts {
	const char *id, *exec_id, *image, *hostname, *cwd;
	json_object *dns, *env; /* env: NULL until the first --env */
	unsigned long sig;
	bool tty;
};

static json_object *str(const char *s)
{
	return json_object_new_string(s);
}

static json_object *argv_array(int argc, char **argv)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < argc; i++)
		json_object_array_add(a, str(argv[i]));
	return a;
}

static json_object *ids(const struct opts *o, bool exec)
{
	json_object *j = json_object_new_object();

	if (!o->id)
		die(EXIT_USAGE, "--id is required");
	json_object_object_add(j, "container_id", str(o->id));
	if (exec && o->exec_id)
		json_object_object_add(j, "exec_id", str(o->exec_id));
	return j;
}

/* The process: argv, the --env entries (default: a PATH), --cwd (default /). */
static json_object *process(const struct opts *o, int argc, char **argv)
{
	json_object *p = json_object_new_object(), *env = o->env;

	if (argc == 0)
		die(EXIT_USAGE, "a command is required after the options");
	if (env) {
		env = json_object_get(env);
	} else {
		env = json_object_new_array();
		json_object_array_add(env, str("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
					       "/usr/bin:/sbin:/bin"));
	}
	json_object_object_add(p, "Terminal", json_object_new_boolean(o->tty));
	json_object_object_add(p, "Args", argv_array(argc, argv));
	json_object_object_add(p, "Env", env);
	json_object_object_add(p, "Cwd", str(o->cwd ? o->cwd : "/"));
	return p;
}

/* CreateContainer with a minimal spec (the image pulled in the guest, the given command). */
static void verb_run_create(const struct opts *o, int argc, char **argv)
{
	char rootfs[256];
	json_object *req = ids(o, false), *spec = json_object_new_object();
	json_object *root = json_object_new_object(), *st = json_object_new_object();
	json_object *storages = json_object_new_array();
	int n;

	if (!o->image)
		die(EXIT_USAGE, "run: --image is required");
	n = snprintf(rootfs, sizeof(rootfs), "/run/kata-containers/%s/rootfs", o->id);
	if (n < 0 || (size_t)n >= sizeof(rootfs))
		die(EXIT_USAGE, "run: --id too long");
	json_object_object_add(req, "exec_id", str(o->id));
	json_object_object_add(st, "driver", str("image_guest_pull"));
	json_object_object_add(st, "source", str(o->image));
	json_object_object_add(st, "mount_point", str(rootfs));
	json_object_array_add(storages, st);
	json_object_object_add(req, "storages", storages);
	json_object_object_add(root, "Path", str(rootfs));
	json_object_object_add(spec, "Version", str("1.1.0"));
	json_object_object_add(spec, "Process", process(o, argc, argv));
	json_object_object_add(spec, "Root", root);
	json_object_object_add(req, "OCI", spec);
	call_json("CreateContainer", req);
	json_object_put(req);
}

/* run: CreateContainer, then StartContainer. */
static int verb_run(const struct opts *o, int argc, char **argv)
{
	json_object *req;

	verb_run_create(o, argc, argv);
	req = ids(o, false);
	call_json("StartContainer", req);
	json_object_put(req);
	return 0;
}

/* pull: the guest pulls --image into the pod's layer store (CreateContainer with an
 * image_guest_pull Storage for a container that is never started, then RemoveContainer: the
 * layers stay in the store, so a later `run` of the image downloads nothing). */
static int verb_pull(struct opts *o)
{
	static char *const argv[] = { "/bin/true", NULL };
	char id[64];
	json_object *req;

	if (!o->id) {
		(void)snprintf(id, sizeof(id), "pull-%ld", (long)getpid());
		o->id = id;
	}
	verb_run_create(o, 1, (char **)argv);
	req = ids(o, false);
	call_json("RemoveContainer", req);
	json_object_put(req);
	return 0;
}

/* ReadStdout, then ReadStderr, each until the empty reply that means EOF. */
static int verb_logs(const struct opts *o)
{
	static const char *const streams[] = { "ReadStdout", "ReadStderr" };
	bool write_failed = false;

	for (int s = 0; s < 2; s++) {
		const struct method *m = find_method(streams[s]);

		for (;;) {
			Grpc__ReadStreamRequest req = GRPC__READ_STREAM_REQUEST__INIT;
			Grpc__ReadStreamResponse *resp;
			int code;

			req.container_id = (char *)o->id;
			req.exec_id = (char *)(o->exec_id ? o->exec_id : o->id);
			req.len = 32768;
			resp = (Grpc__ReadStreamResponse *)(void *)call(m, &req.base, false, &code);
			if (resp->data.len == 0) {
				grpc__read_stream_response__free_unpacked(resp, NULL);
				break;
			}
			if (fwrite(resp->data.data, 1, resp->data.len, s ? stderr : stdout) !=
			    resp->data.len)
				write_failed = true;
			grpc__read_stream_response__free_unpacked(resp, NULL);
		}
	}
	if (fflush(stdout) != 0 || write_failed)
		die(1, "logs: writing the output failed");
	return 0;
}

static void usage(FILE *f)
{
	(void)fputs("usage: sealpod-ctl --addr ADDR [--timeout S] VERB [ARGS]\n"
		    "  ADDR: vsock://CID:PORT | unix:///PATH | hvsock:///PATH:PORT\n"
		    "  check | version | destroy\n"
		    "  create-sandbox [--hostname H] [--dns LINE]... [--id ID]\n"
		    "  run --id ID --image REF [--tty] [--env K=V]... [--cwd DIR] [--] CMD "
		    "[ARG]...\n"
		    "  pull --image REF [--id ID]                    (into the pod's layer store)\n"
		    "  exec --id ID --exec-id EID [--tty] [--env K=V]... [--cwd DIR] [--] CMD...\n"
		    "  kill --id ID [--exec-id EID] [--signal N]     (default 15)\n"
		    "  wait --id ID [--exec-id EID] | logs --id ID [--exec-id EID] | stats --id "
		    "ID\n"
		    "  raw METHOD JSON|-                             (any method, JSON in and "
		    "out)\n"
		    "exit: 0 ok, 2 usage, 3 connection, 4 bad JSON, 64+N RPC status N\n",
		    f);
}

static const struct option lopts[] = {
	{ "addr", required_argument, NULL, 'a' },
	{ "timeout", required_argument, NULL, 't' },
	{ "id", required_argument, NULL, 'i' },
	{ "exec-id", required_argument, NULL, 'e' },
	{ "image", required_argument, NULL, 'I' },
	{ "hostname", required_argument, NULL, 'H' },
	{ "dns", required_argument, NULL, 'd' },
	{ "signal", required_argument, NULL, 's' },
	{ "tty", no_argument, NULL, 'T' },
	{ "env", required_argument, NULL, 'E' },
	{ "cwd", required_argument, NULL, 'C' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The verb's options, up to "--" or the first non-option; *argc and *argv are left on the
 * verb's operands. Returns -1 on an option the verbs do not take. */
static int parse_verb_opts(struct opts *o, int *argc, char ***argv)
{
	int vargc = *argc - optind + 1, c;
	char **vargv = *argv + optind - 1;

	optind = 1;
	while ((c = getopt_long(vargc, vargv, "+", lopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->id = optarg;
			break;
		case 'e':
			o->exec_id = optarg;
			break;
		case 'I':
			o->image = optarg;
			break;
		case 'H':
			o->hostname = optarg;
			break;
		case 'd':
			json_object_array_add(o->dns, str(optarg));
			break;
		case 's':
			o->sig = parse_ulong(optarg, 64, "signal");
			break;
		case 'T':
			o->tty = true;
			break;
		case 'E':
			if (!strchr(optarg, '='))
				die(EXIT_USAGE, "--env takes NAME=VALUE");
			if (!o->env)
				o->env = json_object_new_array();
			json_object_array_add(o->env, str(optarg));
			break;
		case 'C':
			o->cwd = optarg;
			break;
		default:
			return -1;
		}
	}
	*argc = vargc - optind;
	*argv = vargv + optind;
	return 0;
}

/* Sends the verb's request(s) on conn_fd; returns the exit status. */
static int run_verb(struct opts *o, const char *verb, int argc, char **argv)
{
	json_object *req = NULL;
	int ret = 0;

	if (!strcmp(verb, "check") || !strcmp(verb, "version")) {
		req = json_object_new_object();
		call_json(verb[0] == 'c' ? "Check" : "Version", req);
	} else if (!strcmp(verb, "destroy")) {
		req = json_object_new_object();
		call_json("DestroySandbox", req);
	} else if (!strcmp(verb, "create-sandbox")) {
		req = json_object_new_object();
		if (o->hostname)
			json_object_object_add(req, "hostname", str(o->hostname));
		json_object_object_add(req, "dns", json_object_get(o->dns));
		if (o->id)
			json_object_object_add(req, "sandbox_id", str(o->id));
		call_json("CreateSandbox", req);
	} else if (!strcmp(verb, "pull")) {
		if (!o->image)
			die(EXIT_USAGE, "pull: --image is required");
		ret = verb_pull(o);
	} else if (!strcmp(verb, "run")) {
		ret = verb_run(o, argc, argv);
	} else if (!strcmp(verb, "exec")) {
		req = ids(o, true);
		if (!o->exec_id)
			die(EXIT_USAGE, "exec: --exec-id is required");
		json_object_object_add(req, "process", process(o, argc, argv));
		call_json("ExecProcess", req);
	} else if (!strcmp(verb, "kill")) {
		req = ids(o, true);
		json_object_object_add(req, "signal", json_object_new_int64((int64_t)o->sig));
		call_json("SignalProcess", req);
	} else if (!strcmp(verb, "wait")) {
		req = ids(o, true);
		if (!o->exec_id)
			json_object_object_add(req, "exec_id", str(o->id));
		call_json("WaitProcess", req);
	} else if (!strcmp(verb, "logs")) {
		if (!o->id)
			die(EXIT_USAGE, "--id is required");
		ret = verb_logs(o);
	} else if (!strcmp(verb, "stats")) {
		req = ids(o, false);
		call_json("StatsContainer", req);
	} else if (!strcmp(verb, "raw")) {
		char *text = strcmp(argv[1], "-") ? NULL : read_stdin();

		req = parse_json_text(text ? text : argv[1]);
		free(text);
		call_json(argv[0], req);
	} else {
		die(EXIT_USAGE, "unknown verb '%s'", verb);
	}
	json_object_put(req);
	return ret;
}

int main(int argc, char **argv)
{
	struct opts o = { .sig = 15 };
	const char *addr = getenv("SEALPOD_ADDR"), *verb;
	int c, ret;

	o.dns = json_object_new_array();
	/* "+": options stop at the first non-option, so the verb's own command keeps its flags. */
	while ((c = getopt_long(argc, argv, "+h", lopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			addr = optarg;
			break;
		case 't':
			timeout_s = (int)parse_ulong(optarg, 86400, "timeout");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	verb = argv[optind];
	optind++;
	if (parse_verb_opts(&o, &argc, &argv) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!addr)
		die(EXIT_USAGE, "--addr is required");
	if (!strcmp(verb, "raw") && argc != 2)
		die(EXIT_USAGE, "usage: raw METHOD JSON|-");
	if (!strcmp(verb, "raw") && !find_method(argv[0]))
		die(EXIT_USAGE, "unknown method '%s'", argv[0]);
	conn_fd = dial(addr);

	ret = run_verb(&o, verb, argc, argv);
	json_object_put(o.dns);
	close(conn_fd);
	return ret;
}
