/* The pod network as the shim hands it over: UpdateInterface, UpdateRoutes and AddARPNeighbors
 * (the handlers are declared in agent/service.h and defined in handlers.c). This header is the
 * validation of what the host sends and the requests built from it, apart from the handlers so
 * that unit tests can check them byte for byte. Every string here is host-chosen. */
#ifndef SEALPOD_NET_NET_H
#define SEALPOD_NET_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/ttrpc.h"
#include "net/netlink.h"

#include "agent.pb-c.h"

#define SP_NET_MTU_MIN	 68 /* the IPv4 minimum (RFC 791) */
#define SP_NET_MTU_MAX	 65535
#define SP_NET_MAX_ADDRS 32  /* per interface */
#define SP_NET_MAX_ITEMS 256 /* routes or neighbours per request */
#define SP_NET_MAX_LINKS 64  /* links in the guest we look at */

struct sp_net_ip {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

/* "aa:bb:cc:dd:ee:ff", either case; exactly six octets. */
int sp_net_parse_mac(const char *s, uint8_t mac[6]);
/* A name we are willing to give or look up: 1..15 bytes of [A-Za-z0-9_.-], not "." or "..".
 * (lo is refused by the callers, with its own message.) */
bool sp_net_valid_ifname(const char *s);
bool sp_net_valid_mtu(uint64_t mtu);
/* A literal address of either family (family_hint AF_UNSPEC) or of one family. */
int sp_net_parse_ip(const char *s, int family_hint, struct sp_net_ip *ip);
/* A decimal prefix length "0".."32" / "0".."128": digits only, no sign, no leading zero. */
int sp_net_parse_prefix(const char *s, int family, unsigned *prefix);
/* "addr/prefix" or a bare address (a host prefix). */
int sp_net_parse_cidr(const char *s, struct sp_net_ip *ip);
/* The family of the Kata IPFamily enum value (0 v4, 1 v6), or -1. */
int sp_net_family(int kata_family);

/* A route as we install it. */
struct sp_net_route {
	int family;
	struct sp_net_ip dst; /* prefix 0: the default route */
	bool has_gw, has_src;
	struct sp_net_ip gw, src;
	int ifindex;
	unsigned scope; /* RT_SCOPE_* */
	uint32_t mtu;	/* 0: none */
	uint32_t flags; /* RTNH_F_ONLINK or 0 */
};

/* RTM_NEWADDR / RTM_DELADDR for ip on ifindex. */
void sp_net_build_addr(struct sp_nlmsg *m, uint16_t type, uint16_t flags, uint32_t seq, int ifindex,
		       const struct sp_net_ip *ip);
/* RTM_NEWROUTE / RTM_DELROUTE in the main table, protocol boot, unicast. */
void sp_net_build_route(struct sp_nlmsg *m, uint16_t type, uint16_t flags, uint32_t seq,
			const struct sp_net_route *r);
/* RTM_NEWNEIGH, permanent. */
void sp_net_build_neigh(struct sp_nlmsg *m, uint32_t seq, int ifindex, const struct sp_net_ip *ip,
			const uint8_t mac[6]);

/* The control port's network methods (handlers.c): UpdateInterface, UpdateRoutes,
 * AddARPNeighbors. */
extern const struct tt_msg_table sp_net_api;
/* ListInterfaces, ListRoutes, and GetIPTables/SetIPTables refused by name (list.c): the
 * adapters sp_net_api's table names. */
int sp_net_list_interfaces_msg(struct tt_call *call, const ProtobufCMessage *req,
			       const struct sp_verdict *verdict);
int sp_net_list_routes_msg(struct tt_call *call, const ProtobufCMessage *req,
			   const struct sp_verdict *verdict);
int sp_net_get_iptables_msg(struct tt_call *call, const ProtobufCMessage *req,
			    const struct sp_verdict *verdict);
int sp_net_set_iptables_msg(struct tt_call *call, const ProtobufCMessage *req,
			    const struct sp_verdict *verdict);

/* A link-layer address as "aa:bb:..." into buf; "" when it does not fit in size. */
void sp_net_format_mac(const uint8_t *mac, size_t len, char *buf, size_t size);
/* A dumped route as ListRoutes answers it, its strings in dest, gw, src (the device is the
 * caller's): 1, or 0 when ListRoutes leaves it out (another table, neither destination nor
 * gateway). */
int sp_net_route_out(const struct sp_nl_route *r, Types__Route *o, char *dest, size_t dlen,
		     char *gw, size_t glen, char *src, size_t slen);

#endif
