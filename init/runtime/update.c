/* UpdateContainer: in-place pod resize. containerd sends the container's whole LinuxResources
 * after kubelet changed it; the guest writes the cgroup v2 files of the values Kata's agent
 * applies (memory.max, memory.swap.max, cpu.max, cpu.weight, pids.max) and leaves the rest as
 * CreateContainer does: the device rules (the device program decides, devcg.c), host CPU and
 * NUMA numbers, hugepages, block I/O. Those come in every update (containerd's deny-all device
 * rule at least), so they are not applied and not refused; the console names them. */
#define _GNU_SOURCE
#include "runtime/rt.h"

#include <stdio.h>
#include <string.h>

#include "lib/log.h"

#define INVAL(...) (sp_fail(err, SP_E_INVALID, 0, __VA_ARGS__))

static void note(struct sp_rt_resize *out, bool set, const char *what)
{
	size_t n = strlen(out->ignored);

	if (set)
		(void)snprintf(out->ignored + n, sizeof(out->ignored) - n, "%s%s", n ? " " : "",
			       what);
}

/* The fields no cgroup file here takes, for the console line. */
static void note_ignored(const Grpc__LinuxResources *r, struct sp_rt_resize *out)
{
	const Grpc__LinuxMemory *m = r->memory;
	const Grpc__LinuxCPU *c = r->cpu;

	note(out, r->n_devices, "Devices");
	note(out, c && c->cpus && c->cpus[0], "CPU.Cpus");
	note(out, c && c->mems && c->mems[0], "CPU.Mems");
	note(out, c && (c->realtimeruntime || c->realtimeperiod), "CPU.Realtime*");
	note(out, m && (m->reservation || m->kernel || m->kerneltcp || m->swappiness),
	     "Memory.Reservation/Kernel*/Swappiness");
	note(out, m && m->disableoomkiller, "Memory.DisableOOMKiller");
	note(out, r->n_hugepagelimits, "HugepageLimits");
	note(out, r->blockio != NULL, "BlockIO");
	note(out, r->network != NULL, "Network");
}

static int plan_memory(const Grpc__LinuxMemory *m, struct sp_rt_resize *out, struct sp_err *err)
{
	int64_t lim = m->limit, swap = m->swap;

	if (lim > 0 && lim < (1 << 20))
		return INVAL("memory limit %lld is below 1 MiB", (long long)lim);
	if (lim > ((int64_t)1 << 50))
		return INVAL("memory limit %lld is absurd", (long long)lim);
	if (lim > 0)
		out->memory_max = lim;
	/* OCI swap is memory + swap; cgroup v2 takes swap alone, so it needs the limit. */
	if (swap == -1)
		out->swap_max = -1;
	else if (swap > 0 && lim <= 0)
		return INVAL("memory swap %lld without a memory limit", (long long)swap);
	else if (swap > 0 && swap < lim)
		return INVAL("memory swap %lld is below the memory limit %lld", (long long)swap,
			     (long long)lim);
	else if (swap > 0)
		out->swap_max = swap - lim;
	return 0;
}

static int plan_cpu(const Grpc__LinuxCPU *c, struct sp_rt_resize *out, struct sp_err *err)
{
	if (c->period && (c->period < 1000 || c->period > 1000000))
		return INVAL("cpu period %llu us is outside 1000..1000000",
			     (unsigned long long)c->period);
	out->cpu_period = c->period;
	if (c->quota > 0 && c->quota < 1000)
		return INVAL("cpu quota %lld us is below 1000", (long long)c->quota);
	if (c->quota > ((int64_t)1 << 40))
		return INVAL("cpu quota %lld is absurd", (long long)c->quota);
	if (c->quota > 0)
		out->cpu_quota = c->quota;
	if (c->shares) {
		if (c->shares < 2 || c->shares > 262144)
			return INVAL("cpu shares %llu are outside 2..262144",
				     (unsigned long long)c->shares);
		/* Kata's (and runc's) v1 -> v2 mapping: 2..262144 onto 1..10000. */
		out->cpu_weight = 1 + ((c->shares - 2) * 9999) / 262142;
	}
	return 0;
}

int sp_rt_resize_plan(const Grpc__LinuxResources *r, struct sp_rt_resize *out, struct sp_err *err)
{
	memset(out, 0, sizeof(*out));
	out->swap_max = -2;
	if (!r)
		return 0;
	if (r->memory && plan_memory(r->memory, out, err) < 0)
		return -1;
	if (r->cpu && plan_cpu(r->cpu, out, err) < 0)
		return -1;
	/* Given, Pids means what it says, "no limit" included (Kata's own conversion tests its
	 * presence the wrong way round: SHAPES.md). */
	if (r->pids) {
		int64_t p = r->pids->limit;

		if (p > 4194304)
			return INVAL("pids limit %lld is absurd", (long long)p);
		out->pids_max = p > 0 ? p : -1;
	}
	note_ignored(r, out);
	return 0;
}

int sp_rt_update(const char *cid, const Grpc__LinuxResources *r, struct sp_err *err)
{
	struct rt_ctr *c = rt_ctr_find(cid);
	struct sp_rt_resize plan;

	if (!c)
		return sp_fail(err, SP_E_NOT_FOUND, 0, "container %s not found",
			       cid && cid[0] ? cid : "(empty id)");
	if (sp_rt_resize_plan(r, &plan, err) < 0)
		return -1;
	if (c->cgfd < 0)
		return sp_fail(err, SP_E_PRECONDITION, 0, "container %s has no cgroup", cid);
	if (sp_cgroup_update(c->cgfd, &plan, err) < 0)
		return -1;
	sp_info("runtime",
		"container %s resized: memory.max %lld, cpu.max %lld %llu, cpu.weight %llu, "
		"pids.max %lld (0: unchanged); not applied: %s",
		cid, (long long)plan.memory_max, (long long)plan.cpu_quota,
		(unsigned long long)plan.cpu_period, (unsigned long long)plan.cpu_weight,
		(long long)plan.pids_max, plan.ignored[0] ? plan.ignored : "nothing");
	return 0;
}
