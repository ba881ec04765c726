/* rtnetlink without libnl: a bounded message builder, a reply parser that trusts no length, and
 * a synchronous request/reply helper over a NETLINK_ROUTE socket.
 *
 * Why synchronous from PID 1's event loop: every request here is small, local and answered by
 * the kernel itself, normally in microseconds; the shim sends these calls once at pod start. A
 * worker process would cost more than it saves. Each call still cannot hang the loop: the socket
 * has SO_RCVTIMEO/SO_SNDTIMEO of SP_NL_TIMEOUT_MS, and a fresh socket is opened per RPC, so a
 * late reply to a timed-out request can never be mistaken for the answer to a later one.
 *
 * Not re-entrant: replies land in one static receive buffer (PID 1 is single-threaded). */
#ifndef SEALPOD_NET_NETLINK_H
#define SEALPOD_NET_NETLINK_H

#include <linux/netlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define SP_NL_MSG_MAX	 1024	     /* every request we build fits in this */
#define SP_NL_RX_MAX	 (64u << 10) /* one datagram from the kernel; larger is refused */
#define SP_NL_TIMEOUT_MS 2000
#define SP_NL_NEST_MAX	 4

/* --- building a request ------------------------------------------------------------------- */
struct sp_nlmsg {
	uint8_t buf[SP_NL_MSG_MAX] __attribute__((aligned(4)));
	size_t len;
	size_t nest[SP_NL_NEST_MAX];
	unsigned nnest;
	bool overflow; /* set by any put that did not fit; sp_nl_finish reports it */
};

/* Starts a message: header (length filled as attributes go in), then fixed_len bytes of the
 * family header (ifinfomsg, ifaddrmsg, rtmsg, ndmsg), zero-padded to 4. */
void sp_nl_begin(struct sp_nlmsg *m, uint16_t type, uint16_t flags, uint32_t seq, const void *fixed,
		 size_t fixed_len);
void sp_nl_put(struct sp_nlmsg *m, uint16_t type, const void *data, size_t len);
void sp_nl_put_u32(struct sp_nlmsg *m, uint16_t type, uint32_t v);
void sp_nl_put_str(struct sp_nlmsg *m, uint16_t type, const char *s); /* with its NUL */
void sp_nl_nest_begin(struct sp_nlmsg *m, uint16_t type);
void sp_nl_nest_end(struct sp_nlmsg *m);
/* 0 when the message is complete and fitted; -1 (err filled) otherwise. */
int sp_nl_finish(struct sp_nlmsg *m, struct sp_err *err);

/* --- parsing what the kernel sends (treated as untrusted bytes, fuzzed) --------------------- */
/* Steps through buf[0..len) one message at a time from *off. Returns 1 with *out set, 0 at the
 * end, -1 on a truncated header, a length below the header or beyond the buffer, a length that
 * is not a multiple of 4 (rtnetlink always pads) or one above SP_NL_RX_MAX. */
int sp_nl_next(const uint8_t *buf, size_t len, size_t *off, const struct nlmsghdr **out,
	       struct sp_err *err);
/* The attributes after a fixed family header of fixed_len bytes (attrs, alen). -1 when the
 * message is too short for that header. */
int sp_nl_payload(const struct nlmsghdr *h, size_t fixed_len, const uint8_t **attrs, size_t *alen,
		  struct sp_err *err);
/* Fills tb[0..max] with the last attribute of each type (others NULL; higher types ignored).
 * -1 on an attribute shorter than its header, longer than what is left, or misaligned. */
struct rtattr;
int sp_nl_attrs(const uint8_t *p, size_t len, const struct rtattr **tb, unsigned max,
		struct sp_err *err);
/* An NLMSG_ERROR message: *errnum is the positive errno (0 for an ack); msg gets the kernel's
 * extended-ack text when present (escaped), else "". */
int sp_nl_parse_error(const struct nlmsghdr *h, int *errnum, char *msg, size_t msglen,
		      struct sp_err *err);

/* What the handlers need from the three object kinds. */
struct sp_nl_link {
	int index;
	unsigned type;	/* ARPHRD_* */
	unsigned flags; /* IFF_* */
	uint32_t mtu;
	char name[IFNAMSIZ];
	uint8_t mac[32];
	size_t mac_len;
};
struct sp_nl_addr {
	int family, index;
	unsigned prefix, scope, flags;
	uint8_t addr[16];
	bool has_addr;
};
struct sp_nl_route {
	int family, oif;
	unsigned table, protocol, scope, type, dst_len, flags;
	uint8_t dst[16], gw[16], prefsrc[16];
	bool has_dst, has_gw, has_oif, has_prefsrc;
	uint32_t mtu; /* RTA_METRICS' RTAX_MTU; 0 when none */
};
int sp_nl_parse_link(const struct nlmsghdr *h, struct sp_nl_link *l, struct sp_err *err);
int sp_nl_parse_addr(const struct nlmsghdr *h, struct sp_nl_addr *a, struct sp_err *err);
int sp_nl_parse_route(const struct nlmsghdr *h, struct sp_nl_route *r, struct sp_err *err);

/* --- talking to the kernel ---------------------------------------------------------------- */
struct sp_nl {
	int fd;
	uint32_t seq;
};
int sp_nl_open(struct sp_nl *nl, struct sp_err *err);
void sp_nl_close(struct sp_nl *nl);
/* Sends m with NLM_F_ACK and waits for its ack. On a kernel refusal returns -1 with err as
 * "<what>: <strerror>[ (<extack>)]" and err->errnum set. */
int sp_nl_do(struct sp_nl *nl, struct sp_nlmsg *m, const char *what, struct sp_err *err);
/* Sends a dump request (NLM_F_DUMP added) and calls fn for every message until NLMSG_DONE;
 * a negative fn return stops and is returned. */
typedef int (*sp_nl_fn)(const struct nlmsghdr *h, void *arg, struct sp_err *err);
int sp_nl_dump(struct sp_nl *nl, struct sp_nlmsg *m, const char *what, sp_nl_fn fn, void *arg,
	       struct sp_err *err);

#endif
