/* rtnetlink: builder, parser, and one synchronous transaction at a time. See netlink.h. */
#define _GNU_SOURCE
#include "net/netlink.h"

#include <errno.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/log.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

#define ALIGN4(n) (((n) + 3u) & ~(size_t)3u)

/* --- builder ---------------------------------------------------------------------------------- */

static struct nlmsghdr *hdr(struct sp_nlmsg *m)
{
	return (struct nlmsghdr *)(void *)m->buf;
}

static void *reserve(struct sp_nlmsg *m, size_t n)
{
	size_t padded = ALIGN4(n);
	void *p;

	if (m->overflow || padded > sizeof(m->buf) - m->len) {
		m->overflow = true;
		return NULL;
	}
	p = m->buf + m->len;
	memset(p, 0, padded);
	m->len += padded;
	hdr(m)->nlmsg_len = (uint32_t)m->len;
	return p;
}

void sp_nl_begin(struct sp_nlmsg *m, uint16_t type, uint16_t flags, uint32_t seq, const void *fixed,
		 size_t fixed_len)
{
	struct nlmsghdr *h = hdr(m);

	memset(m->buf, 0, NLMSG_HDRLEN);
	m->len = NLMSG_HDRLEN;
	m->nnest = 0;
	m->overflow = false;
	h->nlmsg_len = NLMSG_HDRLEN;
	h->nlmsg_type = type;
	h->nlmsg_flags = flags;
	h->nlmsg_seq = seq;
	h->nlmsg_pid = 0;
	if (fixed_len) {
		void *p = reserve(m, fixed_len);

		if (p)
			memcpy(p, fixed, fixed_len);
	}
}

void sp_nl_put(struct sp_nlmsg *m, uint16_t type, const void *data, size_t len)
{
	struct rtattr *rta;

	if (len > 0xffff - RTA_LENGTH(0)) {
		m->overflow = true;
		return;
	}
	rta = reserve(m, RTA_LENGTH(len));
	if (!rta)
		return;
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
}

void sp_nl_put_u32(struct sp_nlmsg *m, uint16_t type, uint32_t v)
{
	sp_nl_put(m, type, &v, sizeof(v));
}

void sp_nl_put_str(struct sp_nlmsg *m, uint16_t type, const char *s)
{
	sp_nl_put(m, type, s, strlen(s) + 1);
}

void sp_nl_nest_begin(struct sp_nlmsg *m, uint16_t type)
{
	size_t off = m->len;

	if (m->nnest >= SP_NL_NEST_MAX) {
		m->overflow = true;
		return;
	}
	sp_nl_put(m, type, NULL, 0);
	if (!m->overflow)
		m->nest[m->nnest++] = off;
}

void sp_nl_nest_end(struct sp_nlmsg *m)
{
	struct rtattr *rta;

	if (m->overflow || m->nnest == 0) {
		m->overflow = true;
		return;
	}
	rta = (struct rtattr *)(void *)(m->buf + m->nest[--m->nnest]);
	rta->rta_len = (unsigned short)(m->len - m->nest[m->nnest]);
}

int sp_nl_finish(struct sp_nlmsg *m, struct sp_err *err)
{
	if (m->overflow || m->nnest)
		return sp_error(err, 0, "netlink: request does not fit in %u bytes",
				(unsigned)SP_NL_MSG_MAX);
	return 0;
}

/* --- parser ----------------------------------------------------------------------------------- */

int sp_nl_next(const uint8_t *buf, size_t len, size_t *off, const struct nlmsghdr **out,
	       struct sp_err *err)
{
	size_t left;
	uint32_t mlen;

	if (*off >= len)
		return 0;
	if (*off % 4)
		return sp_error(err, 0, "netlink: message at misaligned offset %zu", *off);
	left = len - *off;
	if (left < NLMSG_HDRLEN)
		return sp_error(err, 0, "netlink: truncated header (%zu bytes)", left);
	memcpy(&mlen, buf + *off, sizeof(mlen));
	if (mlen < NLMSG_HDRLEN)
		return sp_error(err, 0, "netlink: message length %u below the header", mlen);
	if (mlen > SP_NL_RX_MAX)
		return sp_error(err, 0, "netlink: message length %u over the limit", mlen);
	if (mlen > left)
		return sp_error(err, 0, "netlink: truncated message (%u > %zu bytes)", mlen, left);
	if (mlen % 4)
		return sp_error(err, 0, "netlink: message length %u is not 4-aligned", mlen);
	*out = (const struct nlmsghdr *)(const void *)(buf + *off);
	*off += mlen;
	return 1;
}

int sp_nl_payload(const struct nlmsghdr *h, size_t fixed_len, const uint8_t **attrs, size_t *alen,
		  struct sp_err *err)
{
	size_t start = NLMSG_HDRLEN + ALIGN4(fixed_len);

	*attrs = NULL;
	*alen = 0;
	if (h->nlmsg_len < start)
		return sp_error(err, 0, "netlink: message type %u too short (%u bytes)",
				h->nlmsg_type, h->nlmsg_len);
	*attrs = (const uint8_t *)h + start;
	*alen = h->nlmsg_len - start;
	return 0;
}

int sp_nl_attrs(const uint8_t *p, size_t len, const struct rtattr **tb, unsigned max,
		struct sp_err *err)
{
	size_t off = 0;

	for (unsigned i = 0; i <= max; i++)
		tb[i] = NULL;
	while (off < len) {
		const struct rtattr *rta = (const struct rtattr *)(const void *)(p + off);
		size_t left = len - off;

		if (left < sizeof(*rta))
			return sp_error(err, 0, "netlink: truncated attribute header");
		if (rta->rta_len < sizeof(*rta) || rta->rta_len > left)
			return sp_error(err, 0, "netlink: attribute %u has bad length %u",
					rta->rta_type, rta->rta_len);
		/* NLA_F_NESTED / NLA_F_NET_BYTEORDER live in the top bits of the type. */
		if ((rta->rta_type & 0x3fff) <= max)
			tb[rta->rta_type & 0x3fff] = rta;
		off += ALIGN4(rta->rta_len);
	}
	return 0;
}

static size_t rta_len(const struct rtattr *rta)
{
	return rta->rta_len - RTA_LENGTH(0);
}

int sp_nl_parse_error(const struct nlmsghdr *h, int *errnum, char *msg, size_t msglen,
		      struct sp_err *err)
{
	const uint8_t *attrs;
	const struct rtattr *tb[NLMSGERR_ATTR_MAX + 1];
	struct nlmsgerr e;
	size_t alen, skip;

	if (msglen)
		msg[0] = '\0';
	if (sp_nl_payload(h, sizeof(e), &attrs, &alen, err) < 0)
		return -1;
	memcpy(&e, NLMSG_DATA(h), sizeof(e));
	if (e.error > 0 || e.error < -4095)
		return sp_error(err, 0, "netlink: error code %d out of range", e.error);
	*errnum = -e.error;
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return 0;
	/* Uncapped errors carry the whole request after the nlmsgerr; the TLVs follow it. */
	skip = 0;
	if (!(h->nlmsg_flags & NLM_F_CAPPED) && e.msg.nlmsg_len > NLMSG_HDRLEN)
		skip = ALIGN4(e.msg.nlmsg_len - NLMSG_HDRLEN);
	if (skip > alen)
		return sp_error(err, 0, "netlink: error message shorter than its request");
	if (sp_nl_attrs(attrs + skip, alen - skip, tb, NLMSGERR_ATTR_MAX, err) < 0)
		return -1;
	if (tb[NLMSGERR_ATTR_MSG] && msglen) {
		const char *s = RTA_DATA(tb[NLMSGERR_ATTR_MSG]);

		sp_log_escape(msg, msglen, s, strnlen(s, rta_len(tb[NLMSGERR_ATTR_MSG])));
	}
	return 0;
}

int sp_nl_parse_link(const struct nlmsghdr *h, struct sp_nl_link *l, struct sp_err *err)
{
	const struct rtattr *tb[IFLA_MTU + 1]; /* IFLA_ADDRESS 1, IFLA_IFNAME 3, IFLA_MTU 4 */
	const uint8_t *attrs;
	struct ifinfomsg ifi;
	size_t alen, n;

	memset(l, 0, sizeof(*l));
	if (sp_nl_payload(h, sizeof(ifi), &attrs, &alen, err) < 0)
		return -1;
	memcpy(&ifi, NLMSG_DATA(h), sizeof(ifi));
	if (sp_nl_attrs(attrs, alen, tb, sizeof(tb) / sizeof(tb[0]) - 1, err) < 0)
		return -1;
	l->index = ifi.ifi_index;
	l->type = ifi.ifi_type;
	l->flags = ifi.ifi_flags;
	if (!tb[IFLA_IFNAME])
		return sp_error(err, 0, "netlink: link %d without a name", l->index);
	n = strnlen(RTA_DATA(tb[IFLA_IFNAME]), rta_len(tb[IFLA_IFNAME]));
	if (n == 0 || n >= IFNAMSIZ)
		return sp_error(err, 0, "netlink: link %d has a bad name", l->index);
	memcpy(l->name, RTA_DATA(tb[IFLA_IFNAME]), n);
	if (tb[IFLA_MTU]) {
		if (rta_len(tb[IFLA_MTU]) != 4)
			return sp_error(err, 0, "netlink: link %d: bad MTU attribute", l->index);
		memcpy(&l->mtu, RTA_DATA(tb[IFLA_MTU]), 4);
	}
	if (tb[IFLA_ADDRESS]) {
		n = rta_len(tb[IFLA_ADDRESS]);
		if (n > sizeof(l->mac))
			return sp_error(err, 0, "netlink: link %d: address too long", l->index);
		memcpy(l->mac, RTA_DATA(tb[IFLA_ADDRESS]), n);
		l->mac_len = n;
	}
	return 0;
}

static int ip_len(int family, struct sp_err *err)
{
	if (family == AF_INET)
		return 4;
	if (family == AF_INET6)
		return 16;
	return sp_error(err, 0, "netlink: address family %d", family);
}

static int copy_ip(const struct rtattr *rta, int family, uint8_t *dst, struct sp_err *err)
{
	int n = ip_len(family, err);

	if (n < 0)
		return -1;
	if (rta_len(rta) != (size_t)n)
		return sp_error(err, 0, "netlink: address attribute of %zu bytes", rta_len(rta));
	memcpy(dst, RTA_DATA(rta), (size_t)n);
	return 0;
}

int sp_nl_parse_addr(const struct nlmsghdr *h, struct sp_nl_addr *a, struct sp_err *err)
{
	const struct rtattr *tb[IFA_FLAGS + 1];
	const struct rtattr *src;
	const uint8_t *attrs;
	struct ifaddrmsg ifa;
	size_t alen;

	memset(a, 0, sizeof(*a));
	if (sp_nl_payload(h, sizeof(ifa), &attrs, &alen, err) < 0)
		return -1;
	memcpy(&ifa, NLMSG_DATA(h), sizeof(ifa));
	if (sp_nl_attrs(attrs, alen, tb, IFA_FLAGS, err) < 0)
		return -1;
	a->family = ifa.ifa_family;
	a->index = (int)ifa.ifa_index;
	a->prefix = ifa.ifa_prefixlen;
	a->scope = ifa.ifa_scope;
	a->flags = ifa.ifa_flags;
	if (a->family != AF_INET && a->family != AF_INET6)
		return 0; /* not ours to judge: callers skip it */
	if (a->prefix > (unsigned)ip_len(a->family, err) * 8)
		return sp_error(err, 0, "netlink: prefix length %u", a->prefix);
	/* IFA_LOCAL is the interface's own address (differs from IFA_ADDRESS on point-to-point). */
	src = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (src) {
		if (copy_ip(src, a->family, a->addr, err) < 0)
			return -1;
		a->has_addr = true;
	}
	if (tb[IFA_FLAGS] && rta_len(tb[IFA_FLAGS]) == 4)
		memcpy(&a->flags, RTA_DATA(tb[IFA_FLAGS]), 4);
	return 0;
}

/* RTAX_MTU from the nested RTA_METRICS attribute. */
static int route_mtu(const struct rtattr *metrics, uint32_t *mtu, struct sp_err *err)
{
	const struct rtattr *tb[RTAX_MTU + 1];

	if (sp_nl_attrs(RTA_DATA(metrics), rta_len(metrics), tb, RTAX_MTU, err) < 0)
		return -1;
	if (!tb[RTAX_MTU])
		return 0;
	if (rta_len(tb[RTAX_MTU]) != 4)
		return sp_error(err, 0, "netlink: bad route MTU metric");
	memcpy(mtu, RTA_DATA(tb[RTAX_MTU]), 4);
	return 0;
}

int sp_nl_parse_route(const struct nlmsghdr *h, struct sp_nl_route *r, struct sp_err *err)
{
	const struct rtattr *tb[RTA_TABLE + 1];
	const uint8_t *attrs;
	struct rtmsg rtm;
	size_t alen;

	memset(r, 0, sizeof(*r));
	if (sp_nl_payload(h, sizeof(rtm), &attrs, &alen, err) < 0)
		return -1;
	memcpy(&rtm, NLMSG_DATA(h), sizeof(rtm));
	if (sp_nl_attrs(attrs, alen, tb, RTA_TABLE, err) < 0)
		return -1;
	r->family = rtm.rtm_family;
	r->table = rtm.rtm_table;
	r->protocol = rtm.rtm_protocol;
	r->scope = rtm.rtm_scope;
	r->type = rtm.rtm_type;
	r->dst_len = rtm.rtm_dst_len;
	r->flags = rtm.rtm_flags;
	if (r->family != AF_INET && r->family != AF_INET6)
		return 0;
	if (r->dst_len > (unsigned)ip_len(r->family, err) * 8)
		return sp_error(err, 0, "netlink: route prefix length %u", r->dst_len);
	if (tb[RTA_TABLE]) {
		if (rta_len(tb[RTA_TABLE]) != 4)
			return sp_error(err, 0, "netlink: bad table attribute");
		memcpy(&r->table, RTA_DATA(tb[RTA_TABLE]), 4);
	}
	if (tb[RTA_DST]) {
		if (copy_ip(tb[RTA_DST], r->family, r->dst, err) < 0)
			return -1;
		r->has_dst = true;
	}
	if (tb[RTA_GATEWAY]) {
		if (copy_ip(tb[RTA_GATEWAY], r->family, r->gw, err) < 0)
			return -1;
		r->has_gw = true;
	}
	if (tb[RTA_OIF]) {
		if (rta_len(tb[RTA_OIF]) != 4)
			return sp_error(err, 0, "netlink: bad oif attribute");
		memcpy(&r->oif, RTA_DATA(tb[RTA_OIF]), 4);
		r->has_oif = true;
	}
	if (tb[RTA_PREFSRC]) {
		if (copy_ip(tb[RTA_PREFSRC], r->family, r->prefsrc, err) < 0)
			return -1;
		r->has_prefsrc = true;
	}
	return tb[RTA_METRICS] ? route_mtu(tb[RTA_METRICS], &r->mtu, err) : 0;
}

/* --- the socket ------------------------------------------------------------------------------- */

static uint8_t rxbuf[SP_NL_RX_MAX] __attribute__((aligned(4)));

int sp_nl_open(struct sp_nl *nl, struct sp_err *err)
{
	struct timeval tv = { SP_NL_TIMEOUT_MS / 1000, (SP_NL_TIMEOUT_MS % 1000) * 1000L };
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int one = 1;

	nl->seq = 0;
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl->fd < 0)
		return sp_error(err, errno, "netlink socket");
	if (setsockopt(nl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(nl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		sp_nl_close(nl);
		return sp_error(err, e, "netlink socket setup");
	}
	/* Best effort: older kernels answer without the extended-ack text. */
	(void)setsockopt(nl->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)setsockopt(nl->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return 0;
}

void sp_nl_close(struct sp_nl *nl)
{
	if (nl->fd >= 0)
		close(nl->fd);
	nl->fd = -1;
}

/* One request and its reply: for a dump every message goes to fn until NLMSG_DONE; otherwise
 * the reply is the ack. */
static int transact(struct sp_nl *nl, struct sp_nlmsg *m, const char *what, bool dump, sp_nl_fn fn,
		    void *arg, struct sp_err *err)
{
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	struct nlmsghdr *h = hdr(m);
	uint32_t seq;

	if (sp_nl_finish(m, err) < 0)
		return sp_error_wrap(err, "%s", what);
	seq = ++nl->seq;
	h->nlmsg_seq = seq;
	h->nlmsg_flags |= NLM_F_REQUEST | (dump ? NLM_F_DUMP : NLM_F_ACK);
	if (sendto(nl->fd, m->buf, m->len, 0, (struct sockaddr *)&to, sizeof(to)) !=
	    (ssize_t)m->len)
		return sp_error(err, errno, "%s: netlink send", what);
	for (;;) {
		/* Not from the kernel unless recvfrom says so (a full address with pid 0). */
		struct sockaddr_nl from = { .nl_family = AF_UNSPEC, .nl_pid = UINT32_MAX };
		socklen_t fromlen = sizeof(from);
		const struct nlmsghdr *r;
		size_t off = 0;
		ssize_t n;
		int ret;

		n = recvfrom(nl->fd, rxbuf, sizeof(rxbuf), MSG_TRUNC, (struct sockaddr *)&from,
			     &fromlen);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return sp_error(err, ETIMEDOUT, "%s: no netlink reply within %d ms", what,
					SP_NL_TIMEOUT_MS);
		if (n < 0)
			return sp_error(err, errno, "%s: netlink receive", what);
		if ((size_t)n > sizeof(rxbuf))
			return sp_error(err, 0, "%s: netlink reply of %zd bytes", what, n);
		if (fromlen < sizeof(from) || from.nl_pid != 0)
			continue; /* only the kernel speaks to us */
		while ((ret = sp_nl_next(rxbuf, (size_t)n, &off, &r, err)) > 0) {
			if (r->nlmsg_seq != seq)
				continue;
			if (r->nlmsg_type == NLMSG_ERROR) {
				char ext[128];
				int e;

				if (sp_nl_parse_error(r, &e, ext, sizeof(ext), err) < 0)
					return sp_error_wrap(err, "%s", what);
				if (e == 0 && !dump)
					return 0;
				if (e == 0)
					continue;
				if (ext[0])
					return sp_error(err, e, "%s (%s)", what, ext);
				return sp_error(err, e, "%s", what);
			}
			if (r->nlmsg_type == NLMSG_DONE) {
				int e = 0;

				if (r->nlmsg_len >= NLMSG_HDRLEN + sizeof(int))
					memcpy(&e, NLMSG_DATA(r), sizeof(e));
				if (r->nlmsg_flags & NLM_F_DUMP_INTR)
					return sp_error(err, EAGAIN, "%s: dump interrupted", what);
				if (e < 0)
					return sp_error(err, -e, "%s", what);
				return 0;
			}
			if (r->nlmsg_type == NLMSG_NOOP || r->nlmsg_type == NLMSG_OVERRUN)
				continue;
			if (dump && fn && (ret = fn(r, arg, err)) < 0)
				return ret;
		}
		if (ret < 0)
			return sp_error_wrap(err, "%s", what);
	}
}

int sp_nl_do(struct sp_nl *nl, struct sp_nlmsg *m, const char *what, struct sp_err *err)
{
	return transact(nl, m, what, false, NULL, NULL, err);
}

int sp_nl_dump(struct sp_nl *nl, struct sp_nlmsg *m, const char *what, sp_nl_fn fn, void *arg,
	       struct sp_err *err)
{
	return transact(nl, m, what, true, fn, arg, err);
}
