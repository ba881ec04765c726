/* Validation of host-sent network values and the netlink requests made from them. See net.h. */
#define _GNU_SOURCE
#include "net/net.h"
#include "lib/validate.h"

#include <arpa/inet.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

int sp_net_parse_mac(const char *s, uint8_t mac[6])
{
	if (strlen(s) != 17)
		return -1;
	for (int i = 0; i < 6; i++) {
		size_t at = (size_t)i * 3;
		int hi = sp_hexval(s[at]), lo = sp_hexval(s[at + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[at + 2] != ':'))
			return -1;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

bool sp_net_valid_ifname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

bool sp_net_valid_mtu(uint64_t mtu)
{
	return mtu >= SP_NET_MTU_MIN && mtu <= SP_NET_MTU_MAX;
}

int sp_net_parse_ip(const char *s, int family_hint, struct sp_net_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (strlen(s) >= INET6_ADDRSTRLEN)
		return -1;
	if (family_hint != AF_INET6 && inet_pton(AF_INET, s, ip->addr) == 1) {
		ip->family = AF_INET;
		ip->prefix = 32;
		return 0;
	}
	if (family_hint != AF_INET && inet_pton(AF_INET6, s, ip->addr) == 1) {
		ip->family = AF_INET6;
		ip->prefix = 128;
		return 0;
	}
	return -1;
}

int sp_net_parse_prefix(const char *s, int family, unsigned *prefix)
{
	unsigned max = family == AF_INET ? 32 : 128, v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*prefix = v;
	return 0;
}

int sp_net_parse_cidr(const char *s, struct sp_net_ip *ip)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (n >= sizeof(addr))
		return -1;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (sp_net_parse_ip(addr, AF_UNSPEC, ip) < 0)
		return -1;
	if (slash && sp_net_parse_prefix(slash + 1, ip->family, &ip->prefix) < 0)
		return -1;
	return 0;
}

int sp_net_family(int kata_family)
{
	return kata_family == 0 ? AF_INET : kata_family == 1 ? AF_INET6 : -1;
}

static size_t ip_bytes(const struct sp_net_ip *ip)
{
	return ip->family == AF_INET ? 4 : 16;
}

void sp_net_build_addr(struct sp_nlmsg *m, uint16_t type, uint16_t flags, uint32_t seq, int ifindex,
		       const struct sp_net_ip *ip)
{
	struct ifaddrmsg ifa = {
		.ifa_family = (unsigned char)ip->family,
		.ifa_prefixlen = (unsigned char)ip->prefix,
		.ifa_scope = RT_SCOPE_UNIVERSE,
		.ifa_index = (unsigned)ifindex,
	};

	sp_nl_begin(m, type, flags, seq, &ifa, sizeof(ifa));
	sp_nl_put(m, IFA_LOCAL, ip->addr, ip_bytes(ip));
	sp_nl_put(m, IFA_ADDRESS, ip->addr, ip_bytes(ip));
}

void sp_net_build_route(struct sp_nlmsg *m, uint16_t type, uint16_t flags, uint32_t seq,
			const struct sp_net_route *r)
{
	struct rtmsg rtm = {
		.rtm_family = (unsigned char)r->family,
		.rtm_dst_len = (unsigned char)r->dst.prefix,
		.rtm_table = RT_TABLE_MAIN,
		.rtm_protocol = RTPROT_BOOT,
		.rtm_scope = (unsigned char)r->scope,
		.rtm_type = RTN_UNICAST,
		.rtm_flags = r->flags,
	};

	sp_nl_begin(m, type, flags, seq, &rtm, sizeof(rtm));
	if (r->dst.prefix)
		sp_nl_put(m, RTA_DST, r->dst.addr, ip_bytes(&r->dst));
	if (r->has_gw)
		sp_nl_put(m, RTA_GATEWAY, r->gw.addr, ip_bytes(&r->gw));
	if (r->has_src)
		sp_nl_put(m, RTA_PREFSRC, r->src.addr, ip_bytes(&r->src));
	sp_nl_put_u32(m, RTA_OIF, (uint32_t)r->ifindex);
	if (r->mtu) {
		sp_nl_nest_begin(m, RTA_METRICS);
		sp_nl_put_u32(m, RTAX_MTU, r->mtu);
		sp_nl_nest_end(m);
	}
}

void sp_net_build_neigh(struct sp_nlmsg *m, uint32_t seq, int ifindex, const struct sp_net_ip *ip,
			const uint8_t mac[6])
{
	struct ndmsg ndm = {
		.ndm_family = (unsigned char)ip->family,
		.ndm_ifindex = ifindex,
		.ndm_state = NUD_PERMANENT,
		.ndm_type = RTN_UNICAST,
	};

	sp_nl_begin(m, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, seq, &ndm, sizeof(ndm));
	sp_nl_put(m, NDA_DST, ip->addr, ip_bytes(ip));
	sp_nl_put(m, NDA_LLADDR, mac, 6);
}
