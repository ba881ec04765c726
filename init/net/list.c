/* ListInterfaces and ListRoutes: the guest's network as the kernel has it, in the shapes Kata's
 * agent answers (every link, lo included, with its addresses; the main table's routes of both
 * families). Nothing here changes the network. GetIPTables and SetIPTables are served only to be
 * refused by name: see iptables_refused. */
#define _GNU_SOURCE
#include "net/net.h"

#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

#define STEP	       "net"
#define LIST_MAX_ADDRS 256 /* addresses of all links together */
#define LIST_MAX_ROUTE 512

struct list_addr {
	Types__IPAddress ip;
	char address[INET6_ADDRSTRLEN], mask[4];
	int index;
};

struct list_link {
	Types__Interface in;
	Types__IPAddress *ips[LIST_MAX_ADDRS];
	char mac[3 * 32];
	struct sp_nl_link l;
};

struct iface_list {
	struct list_link links[SP_NET_MAX_LINKS];
	Types__Interface *ptrs[SP_NET_MAX_LINKS];
	size_t nlinks;
	struct list_addr addrs[LIST_MAX_ADDRS];
	size_t naddrs;
};

static int fail(struct tt_call *call, const char *method, struct sp_err *err)
{
	sp_warn(STEP, "%s: %s", method, err->msg);
	return tt_call_failf(call, SP_E_INTERNAL, "%s: %s", method, err->msg);
}

/* "aa:bb:...", lowercase, as long as the link's address is; "" without one or when size is too
 * small. */
void sp_net_format_mac(const uint8_t *mac, size_t len, char *buf, size_t size)
{
	if (size)
		buf[0] = '\0';
	if (size < 3 * len)
		return;
	for (size_t i = 0, off = 0; i < len; off += i ? 3 : 2, i++)
		(void)snprintf(buf + off, size - off, i ? ":%02x" : "%02x", mac[i]);
}

static int collect_link(const struct nlmsghdr *h, void *arg, struct sp_err *err)
{
	struct iface_list *il = arg;

	if (h->nlmsg_type != RTM_NEWLINK)
		return 0;
	if (il->nlinks == SP_NET_MAX_LINKS)
		return sp_error(err, 0, "more than %d links", SP_NET_MAX_LINKS);
	return sp_nl_parse_link(h, &il->links[il->nlinks++].l, err);
}

static int collect_addr(const struct nlmsghdr *h, void *arg, struct sp_err *err)
{
	struct iface_list *il = arg;
	struct list_addr *o;
	struct sp_nl_addr a;

	if (h->nlmsg_type != RTM_NEWADDR)
		return 0;
	if (sp_nl_parse_addr(h, &a, err) < 0)
		return -1;
	if (!a.has_addr || (a.family != AF_INET && a.family != AF_INET6))
		return 0;
	if (il->naddrs == LIST_MAX_ADDRS)
		return sp_error(err, 0, "more than %d addresses", LIST_MAX_ADDRS);
	o = &il->addrs[il->naddrs++];
	types__ipaddress__init(&o->ip);
	o->index = a.index;
	o->ip.family = a.family == AF_INET ? TYPES__IPFAMILY__v4 : TYPES__IPFAMILY__v6;
	if (!inet_ntop(a.family, a.addr, o->address, sizeof(o->address)))
		o->address[0] = '\0';
	(void)snprintf(o->mask, sizeof(o->mask), "%u", a.prefix);
	o->ip.address = o->address;
	o->ip.mask = o->mask;
	return 0;
}

/* Each link with the addresses the dump gave for its index, in the kernel's order. */
static void fill_interfaces(struct iface_list *il)
{
	for (size_t i = 0; i < il->nlinks; i++) {
		struct list_link *k = &il->links[i];

		types__interface__init(&k->in);
		sp_net_format_mac(k->l.mac, k->l.mac_len, k->mac, sizeof(k->mac));
		k->in.name = k->l.name;
		k->in.hwaddr = k->mac;
		k->in.mtu = k->l.mtu;
		k->in.ipaddresses = k->ips;
		for (size_t j = 0; j < il->naddrs; j++)
			if (il->addrs[j].index == k->l.index)
				k->ips[k->in.n_ipaddresses++] = &il->addrs[j].ip;
		il->ptrs[i] = &k->in;
	}
}

/* Both lists need the links first (names by index), then one more table, on one socket. */
static int dump_links_then(sp_nl_fn on_link, uint16_t type, const void *hdr, size_t hdrlen,
			   const char *what, sp_nl_fn on_entry, void *arg, struct sp_err *err)
{
	static const struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct sp_nl nl = { .fd = -1 };
	struct sp_nlmsg m;
	int ret;

	if (sp_nl_open(&nl, err) < 0)
		return -1;
	sp_nl_begin(&m, RTM_GETLINK, 0, 0, &ifi, sizeof(ifi));
	ret = sp_nl_dump(&nl, &m, "list links", on_link, arg, err);
	if (ret == 0) {
		sp_nl_begin(&m, type, 0, 0, hdr, hdrlen);
		ret = sp_nl_dump(&nl, &m, what, on_entry, arg, err);
	}
	sp_nl_close(&nl);
	return ret;
}

static int dump_interfaces(struct tt_call *call, struct iface_list *il)
{
	static const struct ifaddrmsg ifa = { .ifa_family = AF_UNSPEC };
	Grpc__Interfaces out = GRPC__INTERFACES__INIT;
	struct sp_err err;

	if (dump_links_then(collect_link, RTM_GETADDR, &ifa, sizeof(ifa), "list addresses",
			    collect_addr, il, &err) < 0)
		return fail(call, "ListInterfaces", &err);
	fill_interfaces(il);
	out.n_interfaces = il->nlinks;
	out.interfaces = il->ptrs;
	return tt_call_reply(call, &out.base);
}

static int list_interfaces(struct tt_call *call, const Grpc__ListInterfacesRequest *req,
			   const struct sp_verdict *verdict)
{
	struct iface_list *il = calloc(1, sizeof(*il));
	int ret;

	(void)req, (void)verdict;
	if (!il)
		return tt_call_failf(call, SP_E_EXHAUSTED, "ListInterfaces: out of memory");
	ret = dump_interfaces(call, il);
	free(il);
	return ret;
}

/* --- ListRoutes -------------------------------------------------------------------------------- */

struct list_route {
	Types__Route r;
	char dest[INET6_ADDRSTRLEN + 4], gw[INET6_ADDRSTRLEN], src[INET6_ADDRSTRLEN];
	char dev[IFNAMSIZ];
	int oif;
};

struct route_list {
	struct list_route routes[LIST_MAX_ROUTE];
	Types__Route *ptrs[LIST_MAX_ROUTE];
	size_t n;
	struct sp_nl_link links[SP_NET_MAX_LINKS];
	size_t nlinks;
};

/* A main-table route as Kata lists it: dest "addr/len", or "0.0.0.0" ("::" for IPv6: Kata
 * writes "::1") for a default route through a gateway; the preferred source (what UpdateRoutes
 * takes as source), the device's name, scope and MTU. A route with neither a destination nor a
 * gateway is left out, as Kata does. */
int sp_net_route_out(const struct sp_nl_route *r, Types__Route *o, char *dest, size_t dlen,
		     char *gw, size_t glen, char *src, size_t slen)
{
	char a[INET6_ADDRSTRLEN];

	if ((r->family != AF_INET && r->family != AF_INET6) || r->table != RT_TABLE_MAIN ||
	    (!r->has_dst && !r->has_gw))
		return 0;
	types__route__init(o);
	dest[0] = gw[0] = src[0] = '\0';
	if (r->has_dst && inet_ntop(r->family, r->dst, a, sizeof(a)))
		(void)snprintf(dest, dlen, "%s/%u", a, r->dst_len);
	else if (!r->has_dst)
		(void)snprintf(dest, dlen, "%s", r->family == AF_INET ? "0.0.0.0" : "::");
	if (r->has_gw && !inet_ntop(r->family, r->gw, gw, (socklen_t)glen))
		gw[0] = '\0';
	if (r->has_prefsrc && !inet_ntop(r->family, r->prefsrc, src, (socklen_t)slen))
		src[0] = '\0';
	o->dest = dest;
	o->gateway = gw;
	o->source = src;
	o->scope = r->scope;
	o->family = r->family == AF_INET ? TYPES__IPFAMILY__v4 : TYPES__IPFAMILY__v6;
	o->mtu = r->mtu;
	return 1;
}

static int collect_route(const struct nlmsghdr *h, void *arg, struct sp_err *err)
{
	struct route_list *rl = arg;
	struct list_route *o;
	struct sp_nl_route r;

	if (h->nlmsg_type != RTM_NEWROUTE)
		return 0;
	if (sp_nl_parse_route(h, &r, err) < 0)
		return -1;
	if (rl->n == LIST_MAX_ROUTE)
		return sp_error(err, 0, "more than %d routes", LIST_MAX_ROUTE);
	o = &rl->routes[rl->n];
	if (sp_net_route_out(&r, &o->r, o->dest, sizeof(o->dest), o->gw, sizeof(o->gw), o->src,
			     sizeof(o->src)) == 0)
		return 0;
	o->oif = r.has_oif ? r.oif : 0;
	o->r.device = o->dev;
	rl->ptrs[rl->n++] = &o->r;
	return 0;
}

static int collect_route_link(const struct nlmsghdr *h, void *arg, struct sp_err *err)
{
	struct route_list *rl = arg;

	if (h->nlmsg_type != RTM_NEWLINK)
		return 0;
	if (rl->nlinks == SP_NET_MAX_LINKS)
		return sp_error(err, 0, "more than %d links", SP_NET_MAX_LINKS);
	return sp_nl_parse_link(h, &rl->links[rl->nlinks++], err);
}

static void name_devices(struct route_list *rl)
{
	for (size_t i = 0; i < rl->n; i++)
		for (size_t j = 0; j < rl->nlinks; j++)
			if (rl->links[j].index == rl->routes[i].oif)
				memcpy(rl->routes[i].dev, rl->links[j].name, IFNAMSIZ);
}

static int dump_routes(struct tt_call *call, struct route_list *rl)
{
	static const struct rtmsg rtm = { .rtm_family = AF_UNSPEC };
	Grpc__Routes out = GRPC__ROUTES__INIT;
	struct sp_err err;

	if (dump_links_then(collect_route_link, RTM_GETROUTE, &rtm, sizeof(rtm), "list routes",
			    collect_route, rl, &err) < 0)
		return fail(call, "ListRoutes", &err);
	name_devices(rl);
	out.n_routes = rl->n;
	out.routes = rl->ptrs;
	return tt_call_reply(call, &out.base);
}

static int list_routes(struct tt_call *call, const Grpc__ListRoutesRequest *req,
		       const struct sp_verdict *verdict)
{
	struct route_list *rl = calloc(1, sizeof(*rl));
	int ret;

	(void)req, (void)verdict;
	if (!rl)
		return tt_call_failf(call, SP_E_EXHAUSTED, "ListRoutes: out of memory");
	ret = dump_routes(call, rl);
	free(rl);
	return ret;
}

/* --- GetIPTables, SetIPTables ---------------------------------------------------------------- */

/* Kata runs iptables-save / iptables-restore for these; the guest ships neither (nor any
 * netfilter userspace), and only `kata-runtime iptables` on the host sends them, never a pod's
 * life. A pod's own init container (Istio, Linkerd) installs its rules from its own image in
 * the pod's network namespace instead. Refused by name, so the operator learns why. */
static int iptables_refused(struct tt_call *call, const char *method)
{
	return tt_call_failf(call, SP_E_UNSUPPORTED,
			     "%s refused: the guest has no iptables-save/iptables-restore to run "
			     "(a pod's own containers manage its netfilter rules)",
			     method);
}

static int get_iptables(struct tt_call *call, const Grpc__GetIPTablesRequest *req,
			const struct sp_verdict *verdict)
{
	(void)req, (void)verdict;
	return iptables_refused(call, "GetIPTables");
}

static int set_iptables(struct tt_call *call, const Grpc__SetIPTablesRequest *req,
			const struct sp_verdict *verdict)
{
	(void)req, (void)verdict;
	return iptables_refused(call, "SetIPTables");
}

/* The adapters the net module's method table (handlers.c) names. */
#define NET_ADAPTER(fn, Type)                                                                      \
	int sp_net_##fn##_msg(struct tt_call *call, const ProtobufCMessage *req,                   \
			      const struct sp_verdict *verdict)                                    \
	{                                                                                          \
		return fn(call, (const Type *)(const void *)req, verdict);                         \
	}
NET_ADAPTER(list_interfaces, Grpc__ListInterfacesRequest)
NET_ADAPTER(list_routes, Grpc__ListRoutesRequest)
NET_ADAPTER(get_iptables, Grpc__GetIPTablesRequest)
NET_ADAPTER(set_iptables, Grpc__SetIPTablesRequest)
