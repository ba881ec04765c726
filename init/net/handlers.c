/* UpdateInterface, UpdateRoutes, AddARPNeighbors: the shim hands over the pod's network as it
 * found it in the host's netns. Each handler validates the whole request before it changes
 * anything, so a bad request leaves the network as it was. lo is never touched.
 *
 * Errors carry "Link not found" where Kata's do: the shim retries UpdateInterface on exactly
 * that text (the NIC may still be probing). */
#define _GNU_SOURCE
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "net/net.h"

#define STEP "net"

struct links {
	struct sp_nl_link l[SP_NET_MAX_LINKS];
	size_t n;
};

static int collect_link(const struct nlmsghdr *h, void *arg, struct sp_err *err)
{
	struct links *ls = arg;

	if (h->nlmsg_type != RTM_NEWLINK)
		return 0;
	if (ls->n == SP_NET_MAX_LINKS)
		return sp_error(err, 0, "more than %d links", SP_NET_MAX_LINKS);
	if (sp_nl_parse_link(h, &ls->l[ls->n], err) < 0)
		return -1;
	ls->n++;
	return 0;
}

static int load_links(struct sp_nl *nl, struct links *ls, struct sp_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct sp_nlmsg m;

	ls->n = 0;
	sp_nl_begin(&m, RTM_GETLINK, 0, 0, &ifi, sizeof(ifi));
	return sp_nl_dump(nl, &m, "list links", collect_link, ls, err);
}

static bool is_loopback(const struct sp_nl_link *l)
{
	return l->type == ARPHRD_LOOPBACK || (l->flags & IFF_LOOPBACK) || !strcmp(l->name, "lo");
}

static const struct sp_nl_link *link_by_name(const struct links *ls, const char *name)
{
	for (size_t i = 0; i < ls->n; i++)
		if (!strcmp(ls->l[i].name, name))
			return &ls->l[i];
	return NULL;
}

static const struct sp_nl_link *link_by_index(const struct links *ls, int index)
{
	for (size_t i = 0; i < ls->n; i++)
		if (ls->l[i].index == index)
			return &ls->l[i];
	return NULL;
}

/* The status for a kernel refusal: what the host asked for was wrong, or we failed. */
static enum sp_err_kind kind_of(int errnum)
{
	switch (errnum) {
	case ENODEV:
		return SP_E_NOT_FOUND;
	case EINVAL:
	case ENETUNREACH:
	case EEXIST:
	case ERANGE:
	case EADDRNOTAVAIL:
	case EAFNOSUPPORT:
		return SP_E_INVALID;
	default:
		return SP_E_INTERNAL;
	}
}

static int fail(struct tt_call *call, const char *method, const struct sp_err *err)
{
	sp_warn(STEP, "%s: %s", method, err->msg);
	return tt_call_failf(call, kind_of(err->errnum), "%s: %s", method, err->msg);
}

/* Host text in a message: printable, bounded. */
static const char *esc(char *buf, size_t len, const char *s)
{
	sp_log_escape(buf, len, s, strlen(s));
	return buf;
}

static const char *ip_str(const struct sp_net_ip *ip, char *buf, size_t len)
{
	if (!inet_ntop(ip->family, ip->addr, buf, (socklen_t)len))
		buf[0] = '\0';
	return buf;
}

static bool host_bits_clear(const struct sp_net_ip *ip)
{
	unsigned bytes = ip->family == AF_INET ? 4 : 16;

	for (unsigned i = 0; i < bytes; i++) {
		unsigned keep = ip->prefix >= (i + 1) * 8 ? 8
				: ip->prefix > i * 8	  ? ip->prefix - i * 8
							  : 0;
		uint8_t mask = (uint8_t)(keep ? 0xff << (8 - keep) : 0);

		if (ip->addr[i] & (uint8_t)~mask)
			return false;
	}
	return true;
}

/* An IPAddress with its family enum, literal and decimal prefix all in agreement. */
static int check_ipaddress(const Types__IPAddress *a, bool need_mask, struct sp_net_ip *ip,
			   char *why, size_t whylen)
{
	char b[64];
	int family = sp_net_family((int)a->family);

	if (family < 0)
		return snprintf(why, whylen, "unknown IP family %d", (int)a->family), -1;
	if (sp_net_parse_ip(a->address, family, ip) < 0)
		return snprintf(why, whylen, "'%s' is not an IP%s address",
				esc(b, sizeof(b), a->address), family == AF_INET ? "v4" : "v6"),
		       -1;
	if (need_mask && sp_net_parse_prefix(a->mask, family, &ip->prefix) < 0)
		return snprintf(why, whylen, "bad prefix length '%s' for %s",
				esc(b, sizeof(b), a->mask), a->address),
		       -1;
	return 0;
}

static int check_device(const char *dev, char *why, size_t whylen)
{
	char b[40];

	if (!sp_net_valid_ifname(dev))
		return snprintf(why, whylen, "bad device name '%s'", esc(b, sizeof(b), dev)), -1;
	if (!strcmp(dev, "lo"))
		return snprintf(why, whylen, "refusing to touch lo"), -1;
	return 0;
}

/* --- UpdateInterface ------------------------------------------------------------------------ */

struct iface_plan {
	uint8_t mac[6];
	const char *name; /* NULL: keep */
	uint32_t mtu;	  /* 0: keep */
	bool noarp;
	struct sp_net_ip addrs[SP_NET_MAX_ADDRS];
	size_t naddrs;
};

static int plan_interface(const Types__Interface *in, struct iface_plan *p, char *why,
			  size_t whylen)
{
	char b[40];

	memset(p, 0, sizeof(*p));
	if (!in)
		return snprintf(why, whylen, "no interface in the request"), -1;
	if (!in->hwaddr[0])
		return snprintf(why, whylen, "no hwAddr: the link is found by its MAC address"), -1;
	if (sp_net_parse_mac(in->hwaddr, p->mac) < 0)
		return snprintf(why, whylen, "bad hwAddr '%s'", esc(b, sizeof(b), in->hwaddr)), -1;
	if (in->name[0]) {
		if (!strcmp(in->name, "lo"))
			return snprintf(why, whylen, "refusing to touch lo"), -1;
		if (!sp_net_valid_ifname(in->name))
			return snprintf(why, whylen, "bad interface name '%s'",
					esc(b, sizeof(b), in->name)),
			       -1;
		p->name = in->name;
	}
	if (in->mtu) {
		if (!sp_net_valid_mtu(in->mtu))
			return snprintf(why, whylen, "MTU %llu outside %d..%d",
					(unsigned long long)in->mtu, SP_NET_MTU_MIN,
					SP_NET_MTU_MAX),
			       -1;
		p->mtu = (uint32_t)in->mtu;
	}
	if (in->raw_flags & ~(uint32_t)IFF_NOARP)
		return snprintf(why, whylen, "raw_flags 0x%x: only IFF_NOARP may be set",
				in->raw_flags),
		       -1;
	p->noarp = in->raw_flags & IFF_NOARP;
	if (in->n_ipaddresses > SP_NET_MAX_ADDRS)
		return snprintf(why, whylen, "more than %d addresses", SP_NET_MAX_ADDRS), -1;
	for (size_t i = 0; i < in->n_ipaddresses; i++) {
		char w[200];

		if (check_ipaddress(in->ipaddresses[i], true, &p->addrs[i], w, sizeof(w)) < 0)
			return snprintf(why, whylen, "address %zu: %s", i, w), -1;
	}
	p->naddrs = in->n_ipaddresses;
	return 0;
}

struct addr_list {
	int index;
	struct sp_nl_addr a[SP_NET_MAX_ADDRS * 4];
	size_t n;
};

static int collect_addr(const struct nlmsghdr *h, void *arg, struct sp_err *err)
{
	struct addr_list *al = arg;
	struct sp_nl_addr a;

	if (h->nlmsg_type != RTM_NEWADDR)
		return 0;
	if (sp_nl_parse_addr(h, &a, err) < 0)
		return -1;
	if (a.index != al->index || !a.has_addr || (a.family != AF_INET && a.family != AF_INET6))
		return 0;
	if (al->n == sizeof(al->a) / sizeof(al->a[0]))
		return sp_error(err, 0, "link %d has too many addresses", al->index);
	al->a[al->n++] = a;
	return 0;
}

static int load_addrs(struct sp_nl *nl, int index, struct addr_list *al, struct sp_err *err)
{
	struct ifaddrmsg ifa = { .ifa_family = AF_UNSPEC };
	struct sp_nlmsg m;

	al->index = index;
	al->n = 0;
	sp_nl_begin(&m, RTM_GETADDR, 0, 0, &ifa, sizeof(ifa));
	return sp_nl_dump(nl, &m, "list addresses", collect_addr, al, err);
}

/* The kernel's own IPv6 link-local address stays: nothing re-creates it once deleted. */
static bool kernel_link_local(const struct sp_nl_addr *a)
{
	return a->family == AF_INET6 && a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80;
}

static int set_link(struct sp_nl *nl, int index, unsigned flags, unsigned change, const char *name,
		    uint32_t mtu, struct sp_err *err)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = index };
	struct sp_nlmsg m;

	ifi.ifi_flags = flags;
	ifi.ifi_change = change;
	sp_nl_begin(&m, RTM_NEWLINK, 0, 0, &ifi, sizeof(ifi));
	if (name)
		sp_nl_put_str(&m, IFLA_IFNAME, name);
	if (mtu)
		sp_nl_put_u32(&m, IFLA_MTU, mtu);
	return sp_nl_do(nl, &m, "configure link", err);
}

static int apply_interface(struct sp_nl *nl, const struct sp_nl_link *l, const struct iface_plan *p,
			   struct addr_list *al, struct sp_err *err)
{
	const char *rename = p->name && strcmp(p->name, l->name) != 0 ? p->name : NULL;
	struct sp_nlmsg m;

	/* A link is renamed only while down. */
	if (rename && (l->flags & IFF_UP) && set_link(nl, l->index, 0, IFF_UP, NULL, 0, err) < 0)
		return -1;
	if (set_link(nl, l->index, p->noarp ? IFF_NOARP : 0, IFF_NOARP, rename, p->mtu, err) < 0)
		return -1;
	if (load_addrs(nl, l->index, al, err) < 0)
		return -1;
	for (size_t i = 0; i < al->n; i++) {
		struct sp_net_ip ip = { .family = al->a[i].family, .prefix = al->a[i].prefix };

		if (kernel_link_local(&al->a[i]))
			continue;
		memcpy(ip.addr, al->a[i].addr, sizeof(ip.addr));
		sp_net_build_addr(&m, RTM_DELADDR, 0, 0, l->index, &ip);
		if (sp_nl_do(nl, &m, "remove an old address", err) < 0 &&
		    err->errnum != EADDRNOTAVAIL)
			return -1;
	}
	for (size_t i = 0; i < p->naddrs; i++) {
		char b[INET6_ADDRSTRLEN], what[80];

		sp_net_build_addr(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, 0, l->index,
				  &p->addrs[i]);
		(void)snprintf(what, sizeof(what), "add %s/%u", ip_str(&p->addrs[i], b, sizeof(b)),
			       p->addrs[i].prefix);
		if (sp_nl_do(nl, &m, what, err) < 0)
			return -1;
	}
	return set_link(nl, l->index, IFF_UP, IFF_UP, NULL, 0, err);
}

/* The one link with the request's hwAddr (never lo). */
static int find_link(const struct links *ls, const uint8_t mac[6], const char *shown,
		     const struct sp_nl_link **out, struct sp_err *err)
{
	*out = NULL;
	for (size_t i = 0; i < ls->n; i++) {
		if (ls->l[i].mac_len != 6 || memcmp(ls->l[i].mac, mac, 6) != 0)
			continue;
		if (is_loopback(&ls->l[i]))
			return sp_fail(err, SP_E_INVALID, 0,
				       "hwAddr %s is lo's: refusing to touch lo", shown);
		if (*out)
			return sp_fail(err, SP_E_PRECONDITION, 0,
				       "links %s and %s both have hwAddr %s", (*out)->name,
				       ls->l[i].name, shown);
		*out = &ls->l[i];
	}
	if (!*out)
		return sp_fail(err, SP_E_NOT_FOUND, 0, "Link not found: no link has hwAddr %s",
			       shown);
	return 0;
}

/* The interface as the kernel now has it (not as it was asked for). */
static int reply_interface(struct tt_call *call, const struct sp_nl_link *l,
			   const struct addr_list *al, const Types__Interface *in)
{
	Types__Interface out = TYPES__INTERFACE__INIT;
	Types__IPAddress ips[SP_NET_MAX_ADDRS * 4], *ipp[SP_NET_MAX_ADDRS * 4];
	char addr_s[SP_NET_MAX_ADDRS * 4][INET6_ADDRSTRLEN], mask_s[SP_NET_MAX_ADDRS * 4][4];
	char mac_s[18], name[IFNAMSIZ];

	memcpy(name, l->name, sizeof(name));
	(void)snprintf(mac_s, sizeof(mac_s), "%02x:%02x:%02x:%02x:%02x:%02x", l->mac[0], l->mac[1],
		       l->mac[2], l->mac[3], l->mac[4], l->mac[5]);
	out.device = name;
	out.name = name;
	out.mtu = l->mtu;
	out.hwaddr = mac_s;
	out.devicepath = in->devicepath;
	out.type = in->type;
	out.raw_flags = l->flags & IFF_NOARP;
	out.ipaddresses = ipp;
	for (size_t i = 0; i < al->n; i++) {
		struct sp_net_ip ip = { .family = al->a[i].family };
		Types__IPAddress *a = &ips[out.n_ipaddresses];

		if (kernel_link_local(&al->a[i]))
			continue;
		memcpy(ip.addr, al->a[i].addr, sizeof(ip.addr));
		types__ipaddress__init(a);
		a->family = al->a[i].family == AF_INET ? TYPES__IPFAMILY__v4 : TYPES__IPFAMILY__v6;
		a->address = (char *)ip_str(&ip, addr_s[out.n_ipaddresses], INET6_ADDRSTRLEN);
		(void)snprintf(mask_s[out.n_ipaddresses], 4, "%u", al->a[i].prefix);
		a->mask = mask_s[out.n_ipaddresses];
		ipp[out.n_ipaddresses++] = a;
	}
	sp_info(STEP, "UpdateInterface: %s mtu %u, %zu addresses, up", name, l->mtu,
		out.n_ipaddresses);
	return tt_call_reply(call, &out.base);
}

static int update_interface(struct tt_call *call, const Grpc__UpdateInterfaceRequest *req,
			    const struct sp_verdict *verdict)
{
	static const char M[] = "UpdateInterface";
	const struct sp_nl_link *l = NULL;
	struct sp_nl nl = { .fd = -1 };
	struct iface_plan p;
	struct addr_list al;
	struct links ls;
	struct sp_err err;
	char why[256];
	int index, ret;

	(void)verdict;
	if (plan_interface(req->interface, &p, why, sizeof(why)) < 0)
		return tt_call_failf(call, SP_E_INVALID, "%s: %s", M, why);
	if (sp_nl_open(&nl, &err) < 0 || load_links(&nl, &ls, &err) < 0)
		goto fail;
	if (find_link(&ls, p.mac, req->interface->hwaddr, &l, &err) < 0 || !l) {
		sp_nl_close(&nl);
		sp_error_wrap(&err, "%s", M);
		return tt_call_fail(call, &err);
	}
	index = l->index;
	if (apply_interface(&nl, l, &p, &al, &err) < 0)
		goto fail;
	/* Echo what the kernel now has, not what was asked. */
	if (load_links(&nl, &ls, &err) < 0 || load_addrs(&nl, index, &al, &err) < 0)
		goto fail;
	l = link_by_index(&ls, index);
	if (!l) {
		sp_error(&err, ENODEV, "link %d went away", index);
		goto fail;
	}
	sp_nl_close(&nl);
	return reply_interface(call, l, &al, req->interface);
fail:
	ret = fail(call, M, &err);
	sp_nl_close(&nl);
	return ret;
}

/* --- UpdateRoutes --------------------------------------------------------------------------- */

static int plan_route(const Types__Route *r, const struct links *ls, struct sp_net_route *out,
		      char *why, size_t whylen, enum sp_err_kind *code)
{
	const struct sp_nl_link *l;
	int fam_enum = sp_net_family((int)r->family);
	char b[64];

	memset(out, 0, sizeof(*out));
	*code = SP_E_INVALID;
	if (fam_enum < 0)
		return snprintf(why, whylen, "unknown IP family %d", (int)r->family), -1;
	if (check_device(r->device, why, whylen) < 0)
		return -1;
	l = link_by_name(ls, r->device);
	if (!l) {
		*code = SP_E_NOT_FOUND;
		return snprintf(why, whylen, "Link not found: no device named %s", r->device), -1;
	}
	if (is_loopback(l))
		return snprintf(why, whylen, "refusing to touch lo"), -1;
	out->ifindex = l->index;
	out->family = AF_UNSPEC;
	if (r->dest[0] && strcmp(r->dest, "default") != 0) {
		if (sp_net_parse_cidr(r->dest, &out->dst) < 0)
			return snprintf(why, whylen, "bad dest '%s'", esc(b, sizeof(b), r->dest)),
			       -1;
		if (!host_bits_clear(&out->dst))
			return snprintf(why, whylen, "dest %s has host bits set", r->dest), -1;
		out->family = out->dst.family;
	}
	if (r->gateway[0]) {
		if (sp_net_parse_ip(r->gateway, out->family, &out->gw) < 0)
			return snprintf(why, whylen, "bad gateway '%s'",
					esc(b, sizeof(b), r->gateway)),
			       -1;
		out->has_gw = true;
		out->family = out->gw.family;
	}
	if (r->source[0]) {
		if (sp_net_parse_ip(r->source, out->family, &out->src) < 0)
			return snprintf(why, whylen, "bad source '%s'",
					esc(b, sizeof(b), r->source)),
			       -1;
		out->has_src = true;
		out->family = out->src.family;
	}
	/* Older shims leave family at v4 for v6 routes: the literals decide when there are any. */
	if (out->family == AF_UNSPEC)
		out->family = fam_enum;
	if (!out->dst.family) {
		out->dst.family = out->family;
		out->dst.prefix = 0;
	}
	switch (r->scope) {
	case RT_SCOPE_UNIVERSE:
	case RT_SCOPE_SITE:
	case RT_SCOPE_LINK:
	case RT_SCOPE_HOST:
		break;
	default:
		return snprintf(why, whylen, "unknown scope %u", r->scope), -1;
	}
	if (out->has_gw && r->scope >= RT_SCOPE_LINK)
		return snprintf(why, whylen, "a route via a gateway cannot have scope %u",
				r->scope),
		       -1;
	out->scope = r->scope;
	if (r->mtu && !sp_net_valid_mtu(r->mtu))
		return snprintf(why, whylen, "MTU %u outside %d..%d", r->mtu, SP_NET_MTU_MIN,
				SP_NET_MTU_MAX),
		       -1;
	out->mtu = r->mtu;
	/* Only onlink is a request; the other RTNH flags are state the host's kernel reported. */
	out->flags = r->flags & RTNH_F_ONLINK;
	return 0;
}

struct old_routes {
	const struct links *ls;
	struct sp_net_route r[SP_NET_MAX_ITEMS * 2];
	size_t n;
};

static int collect_route(const struct nlmsghdr *h, void *arg, struct sp_err *err)
{
	struct old_routes *o = arg;
	const struct sp_nl_link *l;
	struct sp_nl_route r;
	struct sp_net_route *d;

	if (h->nlmsg_type != RTM_NEWROUTE)
		return 0;
	if (sp_nl_parse_route(h, &r, err) < 0)
		return -1;
	/* Ours to replace: main-table unicast routes through a non-lo link, except the prefix
	 * routes the kernel derives from addresses (they go with the addresses). */
	if ((r.family != AF_INET && r.family != AF_INET6) || r.table != RT_TABLE_MAIN ||
	    r.type != RTN_UNICAST || r.protocol == RTPROT_KERNEL || !r.has_oif)
		return 0;
	l = link_by_index(o->ls, r.oif);
	if (!l || is_loopback(l))
		return 0;
	if (o->n == sizeof(o->r) / sizeof(o->r[0]))
		return sp_error(err, 0, "too many existing routes");
	d = &o->r[o->n++];
	memset(d, 0, sizeof(*d));
	d->family = r.family;
	d->dst.family = r.family;
	d->dst.prefix = r.dst_len;
	memcpy(d->dst.addr, r.dst, sizeof(d->dst.addr));
	d->has_gw = r.has_gw;
	d->gw.family = r.family;
	memcpy(d->gw.addr, r.gw, sizeof(d->gw.addr));
	d->ifindex = r.oif;
	return 0;
}

static int replace_routes(struct sp_nl *nl, const struct links *ls, const struct sp_net_route *plan,
			  size_t n, size_t *order, struct sp_err *err)
{
	struct rtmsg dump = { .rtm_family = AF_UNSPEC };
	struct old_routes *old = calloc(1, sizeof(*old));
	struct sp_nlmsg m;
	size_t k = 0;
	int ret = -1;

	if (!old)
		return sp_error(err, ENOMEM, "route table");
	old->ls = ls;
	sp_nl_begin(&m, RTM_GETROUTE, 0, 0, &dump, sizeof(dump));
	if (sp_nl_dump(nl, &m, "list routes", collect_route, old, err) < 0)
		goto out;
	for (size_t i = 0; i < old->n; i++) {
		struct rtmsg *rtm;

		sp_net_build_route(&m, RTM_DELROUTE, 0, 0, &old->r[i]);
		/* Match any protocol and scope, as `ip route del` does. */
		rtm = NLMSG_DATA((struct nlmsghdr *)(void *)m.buf);
		rtm->rtm_protocol = RTPROT_UNSPEC;
		rtm->rtm_scope = RT_SCOPE_NOWHERE;
		if (sp_nl_do(nl, &m, "remove an old route", err) < 0 && err->errnum != ESRCH)
			goto out;
	}
	/* Link-scope (no gateway) routes first: a gateway must be reachable when its route goes
	 * in. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			char d[INET6_ADDRSTRLEN], what[96];

			if (plan[i].has_gw != (pass == 1))
				continue;
			sp_net_build_route(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, 0,
					   &plan[i]);
			(void)snprintf(what, sizeof(what), "route %zu (%s/%u)", i,
				       ip_str(&plan[i].dst, d, sizeof(d)), plan[i].dst.prefix);
			if (sp_nl_do(nl, &m, what, err) < 0)
				goto out;
			order[k++] = i;
		}
	}
	ret = 0;
out:
	free(old);
	return ret;
}

struct route_out {
	Types__Route r;
	char dest[INET6_ADDRSTRLEN + 4], gw[INET6_ADDRSTRLEN], src[INET6_ADDRSTRLEN];
	char dev[IFNAMSIZ];
};

/* A route of the reply: p as installed, its strings in o. */
static void route_out_fill(struct route_out *o, const struct sp_net_route *p,
			   const struct links *ls)
{
	const struct sp_nl_link *l;
	char a[INET6_ADDRSTRLEN];

	types__route__init(&o->r);
	if (p->dst.prefix)
		(void)snprintf(o->dest, sizeof(o->dest), "%s/%u", ip_str(&p->dst, a, sizeof(a)),
			       p->dst.prefix);
	o->r.dest = o->dest;
	o->r.gateway = p->has_gw ? (char *)ip_str(&p->gw, o->gw, sizeof(o->gw)) : o->gw;
	o->r.source = p->has_src ? (char *)ip_str(&p->src, o->src, sizeof(o->src)) : o->src;
	/* plan_route took p->ifindex from a link in ls, so l is always found. */
	l = link_by_index(ls, p->ifindex);
	if (l)
		memcpy(o->dev, l->name, sizeof(o->dev));
	o->r.device = o->dev;
	o->r.scope = p->scope;
	o->r.family = p->family == AF_INET ? TYPES__IPFAMILY__v4 : TYPES__IPFAMILY__v6;
	o->r.flags = p->flags;
	o->r.mtu = p->mtu;
}

static int update_routes(struct tt_call *call, const Grpc__UpdateRoutesRequest *req,
			 const struct sp_verdict *verdict)
{
	static const char M[] = "UpdateRoutes";
	size_t n = req->routes ? req->routes->n_routes : 0;
	Types__Route **in = req->routes ? req->routes->routes : NULL;
	Grpc__Routes resp = GRPC__ROUTES__INIT;
	struct sp_net_route *plan = NULL;
	struct route_out *outs = NULL;
	Types__Route **outp = NULL;
	struct sp_nl nl = { .fd = -1 };
	size_t *order = NULL;
	struct links ls;
	struct sp_err err;
	int ret;

	if (n > SP_NET_MAX_ITEMS)
		return tt_call_failf(call, SP_E_INVALID, "%s: more than %d routes", M,
				     SP_NET_MAX_ITEMS);
	/* Nothing to install is not a request to remove every route: the shim only calls with
	 * routes, and an empty call must not cut the guest off. */
	if (n == 0)
		return tt_call_reply(call, &resp.base);
	plan = calloc(n, sizeof(*plan));
	outs = calloc(n, sizeof(*outs));
	outp = calloc(n, sizeof(Types__Route *));
	order = calloc(n, sizeof(*order));
	if (!plan || !outs || !outp || !order) {
		ret = tt_call_failf(call, SP_E_EXHAUSTED, "%s: out of memory", M);
		goto out;
	}
	if (sp_nl_open(&nl, &err) < 0 || load_links(&nl, &ls, &err) < 0) {
		ret = fail(call, M, &err);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char why[200];
		enum sp_err_kind code;

		if (plan_route(in[i], &ls, &plan[i], why, sizeof(why), &code) < 0) {
			ret = tt_call_failf(call, code, "%s: route %zu: %s", M, i, why);
			goto out;
		}
	}
	if (replace_routes(&nl, &ls, plan, n, order, &err) < 0) {
		ret = fail(call, M, &err);
		goto out;
	}
	/* The routes as installed, in the order they went in. */
	for (size_t k = 0; k < n; k++) {
		route_out_fill(&outs[k], &plan[order[k]], &ls);
		outp[k] = &outs[k].r;
	}
	resp.n_routes = n;
	resp.routes = outp;
	sp_info(STEP, "%s: %zu routes installed", M, n);
	ret = tt_call_reply(call, &resp.base);
out:
	sp_nl_close(&nl);
	free(plan);
	free(outs);
	free(outp);
	free(order);
	return ret;
}

/* --- AddARPNeighbors ------------------------------------------------------------------------ */

struct neigh_plan {
	struct sp_net_ip ip;
	uint8_t mac[6];
	int ifindex;
};

static int plan_neigh(const Types__ARPNeighbor *nb, const struct links *ls, struct neigh_plan *p,
		      char *why, size_t whylen, enum sp_err_kind *code)
{
	const struct sp_nl_link *l;
	char b[40];

	*code = SP_E_INVALID;
	if (!nb->toipaddress)
		return snprintf(why, whylen, "no toIPAddress"), -1;
	if (check_ipaddress(nb->toipaddress, false, &p->ip, why, whylen) < 0)
		return -1;
	if (sp_net_parse_mac(nb->lladdr, p->mac) < 0)
		return snprintf(why, whylen, "bad lladdr '%s'", esc(b, sizeof(b), nb->lladdr)), -1;
	if (nb->state != 0 && nb->state != NUD_PERMANENT)
		return snprintf(why, whylen, "state 0x%x: only permanent entries are added",
				(unsigned)nb->state),
		       -1;
	if (nb->flags != 0)
		return snprintf(why, whylen, "flags 0x%x: none are supported", (unsigned)nb->flags),
		       -1;
	if (check_device(nb->device, why, whylen) < 0)
		return -1;
	l = link_by_name(ls, nb->device);
	if (!l) {
		*code = SP_E_NOT_FOUND;
		return snprintf(why, whylen, "Link not found: no device named %s", nb->device), -1;
	}
	if (is_loopback(l))
		return snprintf(why, whylen, "refusing to touch lo"), -1;
	p->ifindex = l->index;
	return 0;
}

static int add_arp_neighbors(struct tt_call *call, const Grpc__AddARPNeighborsRequest *req,
			     const struct sp_verdict *verdict)
{
	static const char M[] = "AddARPNeighbors";
	size_t n = req->neighbors ? req->neighbors->n_arpneighbors : 0;
	Types__ARPNeighbor **in = req->neighbors ? req->neighbors->arpneighbors : NULL;
	struct sp_nl nl = { .fd = -1 };
	struct neigh_plan *plan = NULL;
	struct links ls;
	struct sp_err err;
	struct sp_nlmsg m;
	int ret;

	if (n > SP_NET_MAX_ITEMS)
		return tt_call_failf(call, SP_E_INVALID, "%s: more than %d neighbors", M,
				     SP_NET_MAX_ITEMS);
	if (n == 0)
		return tt_call_reply(call, NULL);
	plan = calloc(n, sizeof(*plan));
	if (!plan)
		return tt_call_failf(call, SP_E_EXHAUSTED, "%s: out of memory", M);
	if (sp_nl_open(&nl, &err) < 0 || load_links(&nl, &ls, &err) < 0) {
		ret = fail(call, M, &err);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char why[200];
		enum sp_err_kind code;

		if (plan_neigh(in[i], &ls, &plan[i], why, sizeof(why), &code) < 0) {
			ret = tt_call_failf(call, code, "%s: neighbor %zu: %s", M, i, why);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		char a[INET6_ADDRSTRLEN], what[80];

		sp_net_build_neigh(&m, 0, plan[i].ifindex, &plan[i].ip, plan[i].mac);
		(void)snprintf(what, sizeof(what), "neighbor %s",
			       ip_str(&plan[i].ip, a, sizeof(a)));
		if (sp_nl_do(&nl, &m, what, &err) < 0) {
			ret = fail(call, M, &err);
			goto out;
		}
	}
	sp_info(STEP, "%s: %zu permanent neighbors", M, n);
	ret = tt_call_reply(call, NULL);
out:
	sp_nl_close(&nl);
	free(plan);
	return ret;
}

TT_MSG_ADAPTER(update_interface, Grpc__UpdateInterfaceRequest)
TT_MSG_ADAPTER(update_routes, Grpc__UpdateRoutesRequest)
TT_MSG_ADAPTER(add_arp_neighbors, Grpc__AddARPNeighborsRequest)

static const struct tt_msg_method net_methods[] = {
	TT_MSG_METHOD("UpdateInterface", grpc__update_interface_request, update_interface),
	TT_MSG_METHOD("UpdateRoutes", grpc__update_routes_request, update_routes),
	TT_MSG_METHOD("AddARPNeighbors", grpc__add_arpneighbors_request, add_arp_neighbors),
	TT_MSG_METHOD("ListInterfaces", grpc__list_interfaces_request, sp_net_list_interfaces),
	TT_MSG_METHOD("ListRoutes", grpc__list_routes_request, sp_net_list_routes),
	TT_MSG_METHOD("GetIPTables", grpc__get_iptables_request, sp_net_get_iptables),
	TT_MSG_METHOD("SetIPTables", grpc__set_iptables_request, sp_net_set_iptables),
};

const struct tt_msg_table sp_net_api = { "net", net_methods,
					 sizeof(net_methods) / sizeof(net_methods[0]) };
