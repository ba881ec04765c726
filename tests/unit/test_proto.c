/* Our protobuf-c codec (init/agent/proto/) against golden vectors made by Google's protobuf from
 * Kata Containers' own .proto files (tests/golden/make-vectors.py, tests/data/golden/): requests
 * decode to the values in <name>.json and re-pack to the same bytes; responses built from values
 * pack to exactly the golden bytes. Then the AgentService dispatch path. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/gate.h"
#include "agent/service.h"
#include "agent/ttrpc.h"
#include "ttpair.h"
#include "agent.pb-c.h"
#include "sandbox/sandbox.h"
#include "health.pb-c.h"
#include "ttrpc.pb-c.h"
#include "hooks/hooks.h"
#include "unit.h"

#define GOLDEN "tests/data/golden/"

static uint8_t *golden(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	uint8_t *buf;
	long n;

	snprintf(path, sizeof(path), GOLDEN "%s.bin", name);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "    cannot open %s (run from the repository root)\n", path);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Packs msg and compares with want byte for byte; prints the first difference. */
static int same_bytes(const ProtobufCMessage *msg, const uint8_t *want, size_t want_len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *got = malloc(n ? n : 1);
	int ok;

	protobuf_c_message_pack(msg, got);
	ok = n == want_len && memcmp(got, want, n) == 0;
	if (!ok) {
		size_t i = 0;

		while (i < n && i < want_len && got[i] == want[i])
			i++;
		fprintf(stderr, "    %s: packed %zu bytes, golden %zu; first difference at %zu\n",
			msg->descriptor->name, n, want_len, i);
	}
	free(got);
	return ok;
}

/* Decodes golden <name> as desc, checks that it re-packs to the same bytes, returns it. */
static ProtobufCMessage *decode_golden(const char *name, const ProtobufCMessageDescriptor *desc,
				       int *repacked)
{
	size_t len;
	uint8_t *bin = golden(name, &len);
	ProtobufCMessage *m;

	if (!bin)
		return NULL;
	m = protobuf_c_message_unpack(desc, NULL, len, bin);
	*repacked = m && same_bytes(m, bin, len);
	free(bin);
	return m;
}

/* Packs msg and compares it with golden <name>. */
static int matches_golden(const char *name, const ProtobufCMessage *msg)
{
	size_t len;
	uint8_t *bin = golden(name, &len);
	int ok = bin && same_bytes(msg, bin, len);

	free(bin);
	return ok;
}

static const char *annotation(const Grpc__Spec *s, const char *key)
{
	for (size_t i = 0; i < s->n_annotations; i++)
		if (strcmp(s->annotations[i]->key, key) == 0)
			return s->annotations[i]->value;
	return NULL;
}

#define IMAGE                                                                                      \
	"registry.example/"                                                                        \
	"app@sha256:abababababababababababababababababababababababababababababababab"

TEST(proto_create_container_request_golden)
{
	int repacked;
	Grpc__CreateContainerRequest *r = (Grpc__CreateContainerRequest *)decode_golden(
		"create_container_request", &grpc__create_container_request__descriptor, &repacked);

	REQUIRE(r);
	CHECK(repacked);
	CHECK_STR(r->container_id, "c0ffee01");
	CHECK_STR(r->exec_id, "c0ffee01");
	CHECK(r->sandbox_pidns);
	CHECK(r->string_user == NULL);
	CHECK(r->stdin_port == 0 && r->stdout_port == 0 && r->stderr_port == 0);
	REQUIRE(r->n_devices == 1);
	CHECK_STR(r->devices[0]->type, "blk");
	CHECK_STR(r->devices[0]->vm_path, "/dev/vdb");
	CHECK_STR(r->devices[0]->container_path, "/dev/xvda");
	CHECK(r->devices[0]->n_options == 1);

	REQUIRE(r->n_storages == 2);
	const Grpc__Storage *pull = r->storages[0], *eph = r->storages[1];
	CHECK_STR(pull->driver, "image_guest_pull");
	REQUIRE(pull->n_driver_options == 1);
	CHECK(strncmp(pull->driver_options[0], "image_guest_pull={\"metadata\": {",
		      strlen("image_guest_pull={\"metadata\": {")) == 0);
	CHECK(strstr(pull->driver_options[0], "\"io.kubernetes.cri.container-type\": "
					      "\"container\""));
	CHECK_STR(pull->source, IMAGE);
	CHECK_STR(pull->fstype, "overlay");
	CHECK_STR(pull->mount_point, "/run/kata-containers/c0ffee01/rootfs");
	CHECK(pull->fs_group == NULL && !pull->shared);
	CHECK_STR(eph->driver, "ephemeral");
	REQUIRE(eph->n_options == 2);
	CHECK_STR(eph->options[0], "size=67108864");
	CHECK_STR(eph->options[1], "mode=1777");
	REQUIRE(eph->fs_group);
	CHECK(eph->fs_group->group_id == 2000);
	CHECK(eph->fs_group->group_change_policy == TYPES__FSGROUP_CHANGE_POLICY__OnRootMismatch);
	CHECK(eph->shared);

	const Grpc__Spec *s = r->oci;
	REQUIRE(s);
	CHECK_STR(s->version, "1.1.0");
	CHECK_STR(s->hostname, "pod-a");
	CHECK(s->hooks == NULL && s->solaris == NULL && s->windows == NULL);
	REQUIRE(s->process);
	const Grpc__Process *p = s->process;
	CHECK(!p->terminal);
	REQUIRE(p->consolesize);
	CHECK(p->consolesize->height == 24 && p->consolesize->width == 80);
	REQUIRE(p->user);
	CHECK(p->user->uid == 1000 && p->user->gid == 1000);
	REQUIRE(p->user->n_additionalgids == 4); /* packed on the wire */
	CHECK(p->user->additionalgids[0] == 1000 && p->user->additionalgids[1] == 10);
	CHECK(p->user->additionalgids[2] == 65534 && p->user->additionalgids[3] == 300000);
	CHECK_STR(p->user->username, "app");
	REQUIRE(p->n_args == 4);
	CHECK_STR(p->args[0], "/app/server");
	CHECK_STR(p->args[3], "--name=\xc3\xbcn\xc3\xaf"
			      "code");
	REQUIRE(p->n_env == 3);
	CHECK_STR(p->env[1], "HOSTNAME=pod-a");
	CHECK_STR(p->cwd, "/app");
	REQUIRE(p->capabilities);
	CHECK(p->capabilities->n_bounding == 3 && p->capabilities->n_effective == 2);
	CHECK(p->capabilities->n_inheritable == 0 && p->capabilities->n_permitted == 2);
	REQUIRE(p->capabilities->n_ambient == 1);
	CHECK_STR(p->capabilities->ambient[0], "CAP_NET_BIND_SERVICE");
	REQUIRE(p->n_rlimits == 2);
	CHECK_STR(p->rlimits[0]->type, "RLIMIT_NOFILE");
	CHECK(p->rlimits[0]->hard == 1048576 && p->rlimits[0]->soft == 1024);
	CHECK(p->rlimits[1]->hard == UINT64_MAX && p->rlimits[1]->soft == UINT64_MAX);
	CHECK(p->nonewprivileges);
	CHECK(p->oomscoreadj == -997);

	REQUIRE(s->root);
	CHECK_STR(s->root->path, "/run/kata-containers/c0ffee01/rootfs");
	CHECK(s->root->readonly);
	REQUIRE(s->n_mounts == 3);
	CHECK_STR(s->mounts[1]->destination, "/dev/shm");
	CHECK_STR(s->mounts[1]->source, "/run/kata-containers/sandbox/shm");
	CHECK_STR(s->mounts[2]->type, "bind");
	REQUIRE(s->mounts[2]->n_options == 3);
	CHECK_STR(s->mounts[2]->options[2], "ro");

	/* The map: four entries, sorted by key by the deterministic encoder. */
	REQUIRE(s->n_annotations == 4);
	CHECK_STR(s->annotations[0]->key, "io.katacontainers.pkg.oci.bundle_path");
	CHECK_STR(annotation(s, "io.kubernetes.cri.image-name"), IMAGE);
	CHECK_STR(annotation(s, "io.kubernetes.cri.sandbox-id"), "5a4d0b0c");
	CHECK_STR(annotation(s, "io.kubernetes.cri.container-type"), "container");

	const Grpc__Linux *l = s->linux_;
	REQUIRE(l);
	REQUIRE(l->n_uidmappings == 1);
	CHECK(l->uidmappings[0]->hostid == 100000 && l->uidmappings[0]->containerid == 0);
	CHECK(l->uidmappings[0]->size == 65536);
	CHECK(l->n_gidmappings == 0);
	REQUIRE(l->n_sysctl == 2);
	CHECK_STR(l->sysctl[0]->key, "kernel.shm_rmid_forced");
	CHECK_STR(l->sysctl[0]->value, "1");
	CHECK_STR(l->sysctl[1]->key, "net.ipv4.ip_unprivileged_port_start");
	REQUIRE(l->resources && l->resources->memory && l->resources->cpu);
	CHECK(l->resources->memory->limit == 536870912);
	CHECK(l->resources->memory->swap == -1);
	CHECK(l->resources->memory->swappiness == UINT64_MAX);
	CHECK(!l->resources->memory->disableoomkiller);
	CHECK(l->resources->cpu->shares == 1024 && l->resources->cpu->quota == -1);
	CHECK(l->resources->cpu->period == 100000);
	CHECK_STR(l->resources->cpu->cpus, "");
	CHECK_STR(l->resources->cpu->mems, "0");
	CHECK(l->resources->pids == NULL && l->resources->blockio == NULL);
	REQUIRE(l->resources->n_hugepagelimits == 1);
	CHECK_STR(l->resources->hugepagelimits[0]->pagesize, "2MB");
	CHECK_STR(l->cgroupspath, "/kubepods/besteffort/pod1234/c0ffee01");
	REQUIRE(l->n_namespaces == 4);
	CHECK_STR(l->namespaces[0]->type, "ipc");
	CHECK_STR(l->namespaces[3]->type, "pid");
	CHECK_STR(l->namespaces[3]->path, "");
	REQUIRE(l->n_devices == 1);
	CHECK_STR(l->devices[0]->path, "/dev/fuse");
	CHECK(l->devices[0]->major == 10 && l->devices[0]->minor == 229);
	CHECK(l->devices[0]->filemode == 0666);

	const Grpc__LinuxSeccomp *sc = l->seccomp;
	REQUIRE(sc);
	CHECK_STR(sc->defaultaction, "SCMP_ACT_ERRNO");
	REQUIRE(sc->n_architectures == 3);
	CHECK_STR(sc->architectures[2], "SCMP_ARCH_X32");
	REQUIRE(sc->n_flags == 1);
	REQUIRE(sc->n_syscalls == 4);
	/* The oneof: absent, set to 1, absent, and set to 0 (present although zero). */
	CHECK(sc->syscalls[0]->errno_ret_case == GRPC__LINUX_SYSCALL__ERRNO_RET__NOT_SET);
	CHECK(sc->syscalls[0]->n_names == 3);
	CHECK(sc->syscalls[1]->errno_ret_case == GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET);
	CHECK(sc->syscalls[1]->errnoret == 1);
	CHECK_STR(sc->syscalls[1]->names[0], "ptrace");
	CHECK(sc->syscalls[2]->errno_ret_case == GRPC__LINUX_SYSCALL__ERRNO_RET__NOT_SET);
	REQUIRE(sc->syscalls[2]->n_args == 1);
	CHECK(sc->syscalls[2]->args[0]->index == 0);
	CHECK(sc->syscalls[2]->args[0]->value == 4294967295u);
	CHECK_STR(sc->syscalls[2]->args[0]->op, "SCMP_CMP_EQ");
	CHECK(sc->syscalls[3]->errno_ret_case == GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET);
	CHECK(sc->syscalls[3]->errnoret == 0);
	CHECK_STR(l->rootfspropagation, "rslave");
	CHECK(l->n_maskedpaths == 3 && l->n_readonlypaths == 2);
	CHECK_STR(l->maskedpaths[2], "/sys/firmware");
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

TEST(proto_create_sandbox_request_golden)
{
	int repacked;
	Grpc__CreateSandboxRequest *r = (Grpc__CreateSandboxRequest *)decode_golden(
		"create_sandbox_request", &grpc__create_sandbox_request__descriptor, &repacked);

	REQUIRE(r);
	CHECK(repacked);
	CHECK_STR(r->hostname, "pod-a");
	REQUIRE(r->n_dns == 3);
	CHECK_STR(r->dns[0], "nameserver 10.96.0.10");
	CHECK_STR(r->dns[2], "options ndots:5");
	REQUIRE(r->n_storages == 1);
	CHECK_STR(r->storages[0]->driver, "ephemeral");
	CHECK_STR(r->storages[0]->source, "shm");
	CHECK_STR(r->storages[0]->mount_point, "/run/kata-containers/sandbox/shm");
	REQUIRE(r->storages[0]->n_options == 5);
	CHECK_STR(r->storages[0]->options[4], "size=67108864");
	CHECK(!r->sandbox_pidns);
	CHECK_STR(r->sandbox_id, "5a4d0b0c");
	CHECK_STR(r->guest_hook_path, "");
	CHECK(r->n_kernel_modules == 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

TEST(proto_network_requests_golden)
{
	int repacked;
	Grpc__UpdateInterfaceRequest *ui = (Grpc__UpdateInterfaceRequest *)decode_golden(
		"update_interface_request", &grpc__update_interface_request__descriptor, &repacked);

	REQUIRE(ui && ui->interface);
	CHECK(repacked);
	const Types__Interface *i = ui->interface;
	CHECK_STR(i->device, "eth0");
	CHECK_STR(i->name, "eth0");
	REQUIRE(i->n_ipaddresses == 2);
	CHECK(i->ipaddresses[0]->family == TYPES__IPFAMILY__v4);
	CHECK_STR(i->ipaddresses[0]->address, "10.244.1.7");
	CHECK_STR(i->ipaddresses[0]->mask, "24");
	CHECK(i->ipaddresses[1]->family == TYPES__IPFAMILY__v6);
	CHECK_STR(i->ipaddresses[1]->address, "fd00::7");
	CHECK(i->mtu == 1450);
	CHECK_STR(i->hwaddr, "02:42:0a:f4:01:07");
	CHECK_STR(i->devicepath, "");
	CHECK_STR(i->type, "veth");
	CHECK(i->raw_flags == 128);
	protobuf_c_message_free_unpacked(&ui->base, NULL);

	Grpc__UpdateRoutesRequest *ur = (Grpc__UpdateRoutesRequest *)decode_golden(
		"update_routes_request", &grpc__update_routes_request__descriptor, &repacked);
	REQUIRE(ur && ur->routes);
	CHECK(repacked);
	REQUIRE(ur->routes->n_routes == 3);
	CHECK_STR(ur->routes->routes[0]->dest, "10.244.1.0/24");
	CHECK(ur->routes->routes[0]->scope == 253);
	CHECK_STR(ur->routes->routes[0]->source, "10.244.1.7");
	CHECK_STR(ur->routes->routes[1]->dest, "");
	CHECK_STR(ur->routes->routes[1]->gateway, "10.244.1.1");
	CHECK(ur->routes->routes[2]->family == TYPES__IPFAMILY__v6);
	CHECK(ur->routes->routes[2]->mtu == 1400 && ur->routes->routes[2]->flags == 1);
	protobuf_c_message_free_unpacked(&ur->base, NULL);

	Grpc__AddARPNeighborsRequest *an = (Grpc__AddARPNeighborsRequest *)decode_golden(
		"add_arp_neighbors_request", &grpc__add_arpneighbors_request__descriptor,
		&repacked);
	REQUIRE(an && an->neighbors);
	CHECK(repacked);
	REQUIRE(an->neighbors->n_arpneighbors == 1);
	const Types__ARPNeighbor *n = an->neighbors->arpneighbors[0];
	REQUIRE(n->toipaddress);
	CHECK_STR(n->toipaddress->address, "10.244.1.1");
	CHECK_STR(n->device, "eth0");
	CHECK_STR(n->lladdr, "02:42:0a:f4:01:01");
	CHECK(n->state == 128);
	CHECK(n->flags == -1); /* a negative int32: a 10-byte varint */
	protobuf_c_message_free_unpacked(&an->base, NULL);
}

TEST(proto_small_requests_golden)
{
	int repacked;
	Grpc__ExecProcessRequest *ep = (Grpc__ExecProcessRequest *)decode_golden(
		"exec_process_request", &grpc__exec_process_request__descriptor, &repacked);

	REQUIRE(ep && ep->process);
	CHECK(repacked);
	CHECK_STR(ep->exec_id, "e1");
	CHECK(ep->process->terminal);
	REQUIRE(ep->process->user && ep->process->n_args == 3);
	CHECK(ep->process->user->uid == 0 && ep->process->user->n_additionalgids == 0);
	CHECK_STR(ep->process->args[2], "echo hi");
	protobuf_c_message_free_unpacked(&ep->base, NULL);

	Grpc__GuestDetailsRequest *gd = (Grpc__GuestDetailsRequest *)decode_golden(
		"guest_details_request", &grpc__guest_details_request__descriptor, &repacked);
	REQUIRE(gd);
	CHECK(repacked);
	CHECK(gd->mem_block_size && gd->mem_hotplug_probe);
	protobuf_c_message_free_unpacked(&gd->base, NULL);

	Grpc__CopyFileRequest *cf = (Grpc__CopyFileRequest *)decode_golden(
		"copy_file_request", &grpc__copy_file_request__descriptor, &repacked);
	REQUIRE(cf);
	CHECK(repacked);
	CHECK_STR(cf->path, "/run/kata-containers/shared/containers/"
			    "c0ffee01-0123456789abcdef-hosts");
	CHECK(cf->file_size == 20 && cf->file_mode == 0100644 && cf->dir_mode == 040755);
	CHECK(cf->uid == 0 && cf->gid == -1 && cf->offset == 0);
	CHECK(cf->data.len == 20 && memcmp(cf->data.data, "127.0.0.1 localhost\n", 20) == 0);
	protobuf_c_message_free_unpacked(&cf->base, NULL);

	Grpc__ReadStreamRequest *rs = (Grpc__ReadStreamRequest *)decode_golden(
		"read_stream_request", &grpc__read_stream_request__descriptor, &repacked);
	REQUIRE(rs);
	CHECK(repacked);
	CHECK(rs->len == 32768);
	CHECK_STR(rs->exec_id, "c0ffee01");
	protobuf_c_message_free_unpacked(&rs->base, NULL);

	Grpc__OnlineCPUMemRequest *oc = (Grpc__OnlineCPUMemRequest *)decode_golden(
		"online_cpu_mem_request", &grpc__online_cpumem_request__descriptor, &repacked);
	REQUIRE(oc);
	CHECK(repacked);
	CHECK(!oc->wait && oc->nb_cpus == 4 && oc->cpu_only);
	protobuf_c_message_free_unpacked(&oc->base, NULL);

	Grpc__SignalProcessRequest *sp = (Grpc__SignalProcessRequest *)decode_golden(
		"signal_process_request", &grpc__signal_process_request__descriptor, &repacked);
	REQUIRE(sp);
	CHECK(repacked);
	CHECK(sp->signal == 9);
	CHECK_STR(sp->exec_id, "");
	protobuf_c_message_free_unpacked(&sp->base, NULL);

	Grpc__SetPolicyRequest *pol = (Grpc__SetPolicyRequest *)decode_golden(
		"set_policy_request", &grpc__set_policy_request__descriptor, &repacked);
	REQUIRE(pol);
	CHECK(repacked);
	CHECK_STR(pol->policy, "package agent_policy\n\ndefault ExecProcessRequest := false\n");
	protobuf_c_message_free_unpacked(&pol->base, NULL);
}

TEST(proto_resize_and_list_requests_golden)
{
	int repacked;
	Grpc__UpdateContainerRequest *uc = (Grpc__UpdateContainerRequest *)decode_golden(
		"update_container_request", &grpc__update_container_request__descriptor, &repacked);
	const Grpc__LinuxResources *r;

	REQUIRE(uc && uc->resources);
	CHECK(repacked);
	CHECK_STR(uc->container_id, "c0ffee01");
	r = uc->resources;
	REQUIRE(r->memory && r->cpu && r->pids && r->n_devices == 1 && r->n_hugepagelimits == 2);
	CHECK(r->memory->limit == 268435456 && r->memory->swap == 268435456);
	CHECK(r->cpu->shares == 512 && r->cpu->quota == 100000 && r->cpu->period == 100000);
	CHECK_STR(r->cpu->mems, "0-1");
	CHECK(r->pids->limit == -1);
	CHECK(!r->devices[0]->allow);
	CHECK_STR(r->devices[0]->access, "rwm");
	CHECK_STR(r->hugepagelimits[1]->pagesize, "1GB");
	protobuf_c_message_free_unpacked(&uc->base, NULL);

	ProtobufCMessage *li = decode_golden("list_interfaces_request",
					     &grpc__list_interfaces_request__descriptor, &repacked);
	REQUIRE(li);
	CHECK(repacked);
	protobuf_c_message_free_unpacked(li, NULL);

	Grpc__GetIPTablesRequest *gi = (Grpc__GetIPTablesRequest *)decode_golden(
		"get_iptables_request", &grpc__get_iptables_request__descriptor, &repacked);
	REQUIRE(gi);
	CHECK(repacked && gi->is_ipv6);
	protobuf_c_message_free_unpacked(&gi->base, NULL);

	Grpc__SetIPTablesRequest *si = (Grpc__SetIPTablesRequest *)decode_golden(
		"set_iptables_request", &grpc__set_iptables_request__descriptor, &repacked);
	REQUIRE(si);
	CHECK(repacked && si->is_ipv6);
	CHECK(si->data.len == 15 && memcmp(si->data.data, "*filter\nCOMMIT\n", 15) == 0);
	protobuf_c_message_free_unpacked(&si->base, NULL);
}

/* --- responses: built from values, they must pack to exactly the golden bytes -------------- */

TEST(proto_health_responses_golden)
{
	Grpc__HealthCheckResponse hc = GRPC__HEALTH_CHECK_RESPONSE__INIT;
	Grpc__VersionCheckResponse vc = GRPC__VERSION_CHECK_RESPONSE__INIT;

	hc.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	CHECK(matches_golden("health_check_response", &hc.base));
	vc.grpc_version = "0.0.1";
	vc.agent_version = "sealpod 0.1.0";
	CHECK(matches_golden("version_check_response", &vc.base));
}

TEST(proto_guest_details_response_golden)
{
	Grpc__GuestDetailsResponse r = GRPC__GUEST_DETAILS_RESPONSE__INIT;
	Grpc__AgentDetails d = GRPC__AGENT_DETAILS__INIT;
	char *handlers[] = { "ephemeral", "image_guest_pull", "virtio-fs" };

	r.mem_block_size_bytes = 128u << 20;
	d.version = "sealpod 0.1.0";
	d.init_daemon = true;
	d.n_storage_handlers = 3;
	d.storage_handlers = handlers;
	d.supports_seccomp = false;
	r.agent_details = &d;
	CHECK(matches_golden("guest_details_response", &r.base));
}

TEST(proto_process_responses_golden)
{
	Grpc__WaitProcessResponse w = GRPC__WAIT_PROCESS_RESPONSE__INIT;
	Grpc__ReadStreamResponse rs = GRPC__READ_STREAM_RESPONSE__INIT;
	Grpc__WriteStreamResponse ws = GRPC__WRITE_STREAM_RESPONSE__INIT;
	Grpc__OOMEvent oom = GRPC__OOMEVENT__INIT;
	Grpc__GetDiagnosticDataResponse dd = GRPC__GET_DIAGNOSTIC_DATA_RESPONSE__INIT;
	Grpc__Empty empty = GRPC__EMPTY__INIT;
	static const char hello[] = "hello from the guest\n";

	w.status = 128 + 9;
	CHECK(matches_golden("wait_process_response", &w.base));
	rs.data.data = (uint8_t *)hello;
	rs.data.len = sizeof(hello) - 1;
	CHECK(matches_golden("read_stream_response", &rs.base));
	ws.len = 4096;
	CHECK(matches_golden("write_stream_response", &ws.base));
	oom.container_id = "c0ffee01";
	CHECK(matches_golden("oom_event", &oom.base));
	dd.data = "panic: out of cheese\n";
	CHECK(matches_golden("get_diagnostic_data_response", &dd.base));
	CHECK(matches_golden("empty", &empty.base));
	CHECK(protobuf_c_message_get_packed_size(&empty.base) == 0);
}

TEST(proto_network_responses_golden)
{
	Types__IPAddress a1 = TYPES__IPADDRESS__INIT, *addrs[] = { &a1 };
	Types__Interface ifc = TYPES__INTERFACE__INIT;
	Types__Route r1 = TYPES__ROUTE__INIT, r2 = TYPES__ROUTE__INIT, *rv[] = { &r1, &r2 };
	Grpc__Routes routes = GRPC__ROUTES__INIT;

	a1.family = TYPES__IPFAMILY__v4;
	a1.address = "10.244.1.7";
	a1.mask = "24";
	ifc.device = "eth0";
	ifc.name = "eth0";
	ifc.n_ipaddresses = 1;
	ifc.ipaddresses = addrs;
	ifc.mtu = 1450;
	ifc.hwaddr = "02:42:0a:f4:01:07";
	CHECK(matches_golden("interface", &ifc.base));

	r1.dest = "10.244.1.0/24";
	r1.device = "eth0";
	r1.source = "10.244.1.7";
	r1.scope = 253;
	r2.gateway = "10.244.1.1";
	r2.device = "eth0";
	routes.n_routes = 2;
	routes.routes = rv;
	CHECK(matches_golden("routes", &routes.base));
}

TEST(proto_stats_container_response_golden)
{
	Grpc__StatsContainerResponse r = GRPC__STATS_CONTAINER_RESPONSE__INIT;
	Grpc__CgroupStats cg = GRPC__CGROUP_STATS__INIT;
	Grpc__CpuStats cpu = GRPC__CPU_STATS__INIT;
	Grpc__CpuUsage usage = GRPC__CPU_USAGE__INIT;
	Grpc__ThrottlingData thr = GRPC__THROTTLING_DATA__INIT;
	Grpc__MemoryStats mem = GRPC__MEMORY_STATS__INIT;
	Grpc__MemoryData mu = GRPC__MEMORY_DATA__INIT;
	Grpc__PidsStats pids = GRPC__PIDS_STATS__INIT;
	Grpc__HugetlbStats h = GRPC__HUGETLB_STATS__INIT;
	Grpc__CgroupStats__HugetlbStatsEntry he = GRPC__CGROUP_STATS__HUGETLB_STATS_ENTRY__INIT;
	Grpc__CgroupStats__HugetlbStatsEntry *hes[] = { &he };
	/* map entries in key order, as the deterministic encoder writes them */
	Grpc__MemoryStats__StatsEntry s1 = GRPC__MEMORY_STATS__STATS_ENTRY__INIT,
				      s2 = GRPC__MEMORY_STATS__STATS_ENTRY__INIT,
				      s3 = GRPC__MEMORY_STATS__STATS_ENTRY__INIT;
	Grpc__MemoryStats__StatsEntry *ses[] = { &s1, &s2, &s3 };
	Grpc__NetworkStats ns = GRPC__NETWORK_STATS__INIT, *nss[] = { &ns };
	uint64_t percpu[] = { 100000000, 23456789 };

	usage.total_usage = 123456789;
	usage.n_percpu_usage = 2; /* a packed repeated uint64 */
	usage.percpu_usage = percpu;
	usage.usage_in_kernelmode = 3000000;
	usage.usage_in_usermode = 120456789;
	thr.periods = 10;
	thr.throttled_periods = 2;
	thr.throttled_time = 5000;
	cpu.cpu_usage = &usage;
	cpu.throttling_data = &thr;
	mu.usage = 10485760;
	mu.max_usage = 20971520;
	mu.limit = 536870912;
	s1.key = "anon";
	s1.value = 8388608;
	s2.key = "file";
	s2.value = 4096;
	s3.key = "pgfault";
	s3.value = 1234;
	mem.cache = 4096;
	mem.usage = &mu;
	mem.use_hierarchy = true;
	mem.n_stats = 3;
	mem.stats = ses;
	pids.current = 3;
	pids.limit = 1024;
	h.max_usage = 2097152;
	h.failcnt = 1;
	he.key = "2MB";
	he.value = &h;
	cg.cpu_stats = &cpu;
	cg.memory_stats = &mem;
	cg.pids_stats = &pids;
	cg.n_hugetlb_stats = 1;
	cg.hugetlb_stats = hes;
	ns.name = "eth0";
	ns.rx_bytes = 1000;
	ns.rx_packets = 10;
	ns.tx_bytes = 2000;
	ns.tx_packets = 20;
	r.cgroup_stats = &cg;
	r.n_network_stats = 1;
	r.network_stats = nss;
	CHECK(matches_golden("stats_container_response", &r.base));
}

/* --- what the wire may carry besides the canonical form -------------------------------------- */

TEST(proto_unpacked_repeated_gids)
{
	/* User{UID=5, AdditionalGids=[1000, 10] unpacked, then [7] packed, Username="u"}: a
	 * decoder must accept both encodings of a repeated scalar, even mixed. */
	static const uint8_t user[] = { 0x08, 0x05, 0x18, 0xe8, 0x07, 0x18, 0x0a,
					0x1a, 0x01, 0x07, 0x22, 0x01, 'u' };
	Grpc__User *u = grpc__user__unpack(NULL, sizeof(user), user);

	REQUIRE(u);
	CHECK(u->uid == 5);
	REQUIRE(u->n_additionalgids == 3);
	CHECK(u->additionalgids[0] == 1000 && u->additionalgids[1] == 10);
	CHECK(u->additionalgids[2] == 7);
	CHECK_STR(u->username, "u");
	grpc__user__free_unpacked(u, NULL);
}

TEST(proto_unknown_fields_skipped)
{
	size_t len;
	uint8_t *bin = golden("create_sandbox_request", &len);
	/* Fields this build does not know, of every wire type, at the top level and inside a
	 * nested Storage: field 99 varint, 100 bytes, 101 fixed32, 102 fixed64. */
	static const uint8_t extra[] = {
		0x98, 0x06, 0x96, 0x01,					   /* 99: 150 */
		0xa2, 0x06, 0x03, 'a',	'b',  'c',			   /* 100: "abc" */
		0xad, 0x06, 0x01, 0x02, 0x03, 0x04,			   /* 101: fixed32 */
		0xb1, 0x06, 1,	  2,	3,    4,    5,	 6,    7,    8,	   /* 102: fixed64 */
		0x1a, 0x08, 0x0a, 0x03, 'b',  'l',  'k', 0xc0, 0x02, 0x01, /* Storage{driver, 40} */
		0xa2, 0x06, 0x00,					   /* 100 again, empty */
	};
	uint8_t *buf;
	Grpc__CreateSandboxRequest *r;

	REQUIRE(bin);
	buf = malloc(len + sizeof(extra));
	memcpy(buf, bin, len);
	memcpy(buf + len, extra, sizeof(extra));
	r = grpc__create_sandbox_request__unpack(NULL, len + sizeof(extra), buf);
	REQUIRE(r);
	CHECK_STR(r->hostname, "pod-a");
	CHECK_STR(r->sandbox_id, "5a4d0b0c");
	REQUIRE(r->n_storages == 2);
	CHECK_STR(r->storages[1]->driver, "blk");
	CHECK(r->n_dns == 3);
	grpc__create_sandbox_request__free_unpacked(r, NULL);
	free(buf);
	free(bin);
}

TEST(proto_malformed_rejected)
{
	size_t len;
	uint8_t *bin = golden("create_container_request", &len);
	/* string field 1 with a length past the end; field 0; wire type 6; a varint of 11 bytes */
	static const uint8_t past_end[] = { 0x0a, 0x05, 'a' };
	static const uint8_t field0[] = { 0x00, 0x01 };
	static const uint8_t wt6[] = { 0x0e, 0x01 };
	static const uint8_t long_varint[] = { 0x38, 0xff, 0xff, 0xff, 0xff, 0xff,
					       0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	unsigned decoded = 0;

	CHECK(!grpc__create_container_request__unpack(NULL, sizeof(past_end), past_end));
	CHECK(!grpc__create_container_request__unpack(NULL, sizeof(field0), field0));
	CHECK(!grpc__create_container_request__unpack(NULL, sizeof(wt6), wt6));
	CHECK(!grpc__create_container_request__unpack(NULL, sizeof(long_varint), long_varint));
	/* Every prefix of a real request either decodes or is refused, never crashes (ASan). */
	REQUIRE(bin);
	for (size_t n = 0; n < len; n++) {
		Grpc__CreateContainerRequest *r =
			grpc__create_container_request__unpack(NULL, n, bin);

		if (r) {
			decoded++;
			grpc__create_container_request__free_unpacked(r, NULL);
		}
	}
	CHECK(decoded > 0 && decoded < len);
	free(bin);
}

/* --- the AgentService dispatch path, through the connection state machine --------------------- */

static const struct tt_service *const agent_services[] = { &sp_health_service, &sp_agent_service };
static const struct tt_server agent_server = { agent_services, 2, NULL };

/* Sends one request on stream and returns its decoded Response (or NULL). */
static Ttrpc__Response *agent_call(struct ttpair *c, uint32_t stream, const char *method,
				   const uint8_t *payload, size_t plen)
{
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	uint8_t *frame = NULL, *body;
	size_t flen = 0, fcap = 0, blen, olen;
	const uint8_t *out;
	Ttrpc__Response *resp = NULL;

	req.service = "grpc.AgentService";
	req.method = (char *)method;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = plen;
	blen = ttrpc__request__get_packed_size(&req);
	body = malloc(blen ? blen : 1);
	ttrpc__request__pack(&req, body);
	tt_frame_append(&frame, &flen, &fcap, stream, TT_TYPE_REQUEST, 0, body, blen);
	ttpair_feed(c, frame, flen);
	free(frame);
	free(body);
	out = ttpair_output(c, &olen);
	if (olen >= TT_HDR_LEN) {
		uint32_t n = (uint32_t)out[0] << 24 | out[1] << 16 | out[2] << 8 | out[3];
		uint32_t s = (uint32_t)out[4] << 24 | out[5] << 16 | out[6] << 8 | out[7];

		if (s == stream && out[8] == TT_TYPE_RESPONSE && olen >= TT_HDR_LEN + n)
			resp = ttrpc__response__unpack(NULL, n, out + TT_HDR_LEN);
		ttpair_consume(c, TT_HDR_LEN + n);
	}
	return resp;
}

static void no_poweroff(void)
{
}

static int status_code(const Ttrpc__Response *r)
{
	return r->status ? r->status->code : 0;
}

TEST(agent_service_dispatch)
{
	static const char *const not_yet[] = {
		"UpdateEphemeralMounts",
	};
	/* Empty requests to the methods that are written, under the built-in default policy. */
	static const struct {
		const char *method;
		int code;
		const char *msg;
	} written[] = {
		{ "ExecProcess", TT_PERMISSION_DENIED,
		  "ExecProcessRequest is blocked by policy: the built-in default policy denies "
		  "ExecProcessRequest" },
		{ "GetDiagnosticData", TT_INVALID_ARGUMENT,
		  "GetDiagnosticData: container_id is not a valid id" },
		{ "CopyFile", TT_PERMISSION_DENIED, NULL },
		{ "CreateSandbox", TT_INVALID_ARGUMENT,
		  "CreateSandbox: sandbox_id '' is not a valid id" },
		{ "SetPolicy", TT_INVALID_ARGUMENT, NULL },
		{ "DestroySandbox", TT_OK, NULL },
		{ "UpdateInterface", TT_INVALID_ARGUMENT,
		  "UpdateInterface: no interface in the request" },
		{ "UpdateRoutes", TT_OK, NULL },
		{ "AddARPNeighbors", TT_OK, NULL },
		/* The runtime (init/runtime/): an empty id is refused, nothing is found, and off
		 * PID 1 no container can run. */
		{ "CreateContainer", TT_INVALID_ARGUMENT, "container id is not valid" },
		{ "StartContainer", TT_NOT_FOUND, NULL },
		{ "RemoveContainer", TT_NOT_FOUND, NULL },
		{ "SignalProcess", TT_NOT_FOUND, NULL },
		{ "WaitProcess", TT_NOT_FOUND, NULL },
		{ "ReadStdout", TT_NOT_FOUND, NULL },
		{ "ReadStderr", TT_NOT_FOUND, NULL },
		{ "WriteStdin", TT_NOT_FOUND, NULL },
		{ "CloseStdin", TT_NOT_FOUND, NULL },
		{ "TtyWinResize", TT_NOT_FOUND, NULL },
		{ "StatsContainer", TT_NOT_FOUND, NULL },
		{ "GetOOMEvent", TT_FAILED_PRECONDITION, NULL },
		{ "UpdateContainer", TT_NOT_FOUND,
		  "UpdateContainer: container (empty id) not found" },
		/* Refused by name whatever they carry (init/net/list.c). */
		{ "GetIPTables", TT_UNIMPLEMENTED,
		  "GetIPTables refused: the guest has no iptables-save/iptables-restore to run (a "
		  "pod's own containers manage its netfilter rules)" },
		{ "SetIPTables", TT_UNIMPLEMENTED, NULL },
	};
	static const uint8_t garbage[] = { 0x0a, 0xff, 0x01 };
	struct ttpair c;
	uint32_t stream = 1;
	Ttrpc__Response *r;
	size_t len;
	uint8_t *bin;
	char msg[96];

	sp_agent_gate_reset();
	sp_sandbox_set_destroy_hook(no_poweroff);
	REQUIRE(sp_agent_service_init(NULL) == 0);
	ttpair_init(&c, &agent_server);
	CHECK(sp_agent_service.nmethods == 30);
	for (size_t i = 0; i < sizeof(not_yet) / sizeof(not_yet[0]); i++, stream += 2) {
		r = agent_call(&c, stream, not_yet[i], NULL, 0);
		REQUIRE(r);
		CHECK(status_code(r) == TT_UNIMPLEMENTED);
		snprintf(msg, sizeof(msg), "%s: not implemented yet", not_yet[i]);
		CHECK(r->status && strcmp(r->status->message, msg) == 0);
		ttrpc__response__free_unpacked(r, NULL);
	}
	/* The empty CreateContainerRequest above passed the policy, which closes SetPolicy. */
	sp_agent_gate_reset();
	for (size_t i = 0; i < sizeof(written) / sizeof(written[0]); i++, stream += 2) {
		r = agent_call(&c, stream, written[i].method, NULL, 0);
		REQUIRE(r);
		if (status_code(r) != written[i].code)
			fprintf(stderr, "    %s: code %d\n", written[i].method, status_code(r));
		CHECK(status_code(r) == written[i].code);
		if (written[i].msg)
			CHECK(r->status && strcmp(r->status->message, written[i].msg) == 0);
		ttrpc__response__free_unpacked(r, NULL);
	}
	sp_sandbox_set_destroy_hook(NULL);

	/* A real CreateContainerRequest decodes, passes the default policy and reaches the
	 * runtime, which refuses its Root.Path: no rootfs was prepared for it. */
	bin = golden("create_container_request", &len);
	REQUIRE(bin);
	r = agent_call(&c, stream, "CreateContainer", bin, len);
	stream += 2;
	free(bin);
	REQUIRE(r);
	CHECK(status_code(r) == TT_INVALID_ARGUMENT);
	ttrpc__response__free_unpacked(r, NULL);

	r = agent_call(&c, stream, "CreateContainer", garbage, sizeof(garbage));
	stream += 2;
	REQUIRE(r && r->status);
	CHECK(r->status->code == TT_INVALID_ARGUMENT);
	CHECK_STR(r->status->message, "bad CreateContainerRequest payload");
	ttrpc__response__free_unpacked(r, NULL);
	r = agent_call(&c, stream, "ReadStdout", garbage, sizeof(garbage));
	stream += 2;
	REQUIRE(r && r->status);
	CHECK_STR(r->status->message, "bad ReadStreamRequest payload");
	ttrpc__response__free_unpacked(r, NULL);

	r = agent_call(&c, stream, "RemoveStaleVirtiofsShareMounts", NULL, 0);
	stream += 2;
	REQUIRE(r);
	CHECK(status_code(r) == TT_OK && r->payload.len == 0);
	ttrpc__response__free_unpacked(r, NULL);

	r = agent_call(&c, stream, "PauseContainer", NULL, 0); /* not served */
	stream += 2;
	REQUIRE(r && r->status);
	CHECK(r->status->code == TT_UNIMPLEMENTED);
	ttrpc__response__free_unpacked(r, NULL);
	ttpair_destroy(&c);
	sp_agent_gate_reset();
}

TEST(agent_get_guest_details)
{
	char path[] = "/tmp/sealpod-unit-blocksize-XXXXXX";
	int fd = mkstemp(path);
	const char *saved = sp_agent_mem_block_size_path;
	struct ttpair c;
	Ttrpc__Response *r;
	Grpc__GuestDetailsResponse *g;
	static const uint8_t want_size[] = { 0x08, 0x01 }; /* GuestDetailsRequest{mem_block_size} */

	REQUIRE(fd >= 0);
	CHECK(write(fd, "8000000\n", 8) == 8);
	close(fd);
	sp_agent_mem_block_size_path = path;
	REQUIRE(sp_agent_service_init(NULL) == 0);
	ttpair_init(&c, &agent_server);

	r = agent_call(&c, 1, "GetGuestDetails", want_size, sizeof(want_size));
	REQUIRE(r);
	CHECK(status_code(r) == TT_OK);
	g = grpc__guest_details_response__unpack(NULL, r->payload.len, r->payload.data);
	REQUIRE(g && g->agent_details);
	CHECK(g->mem_block_size_bytes == 0x8000000);
	CHECK_STR(g->agent_details->version, SP_AGENT_VERSION);
	CHECK(g->agent_details->supports_seccomp);
	CHECK(!g->support_mem_hotplug_probe);
	grpc__guest_details_response__free_unpacked(g, NULL);
	ttrpc__response__free_unpacked(r, NULL);

	/* Not asked for: not read. */
	r = agent_call(&c, 3, "GetGuestDetails", NULL, 0);
	REQUIRE(r);
	g = grpc__guest_details_response__unpack(NULL, r->payload.len, r->payload.data);
	REQUIRE(g);
	CHECK(g->mem_block_size_bytes == 0);
	grpc__guest_details_response__free_unpacked(g, NULL);
	ttrpc__response__free_unpacked(r, NULL);

	/* A sysfs file that is not hex: INTERNAL, no guest path in the message. */
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "zz\n", 3) == 3);
	close(fd);
	r = agent_call(&c, 5, "GetGuestDetails", want_size, sizeof(want_size));
	REQUIRE(r && r->status);
	CHECK(r->status->code == TT_INTERNAL);
	CHECK(!strstr(r->status->message, "/tmp"));
	ttrpc__response__free_unpacked(r, NULL);

	ttpair_destroy(&c);
	unlink(path);
	sp_agent_mem_block_size_path = saved;
}
