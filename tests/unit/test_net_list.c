/* ListRoutes and ListInterfaces (init/net/list.c): a dumped route with a preferred source and an
 * MTU metric parsed and answered in Kata's shape, what the answer leaves out, and link-layer
 * addresses as text. The dumps themselves run in the guest (test_kata_resize). */
#include "unit.h"

#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "net/net.h"

/* An RTM_NEWROUTE as the kernel dumps it: main table, optional dst, gateway, prefsrc, MTU. */
static void route_msg(struct sp_nlmsg *m, int family, const char *dst, unsigned dst_len,
		      const char *gw, const char *src, uint32_t mtu, unsigned table)
{
	struct rtmsg rtm = { .rtm_family = (unsigned char)family,
			     .rtm_dst_len = (unsigned char)dst_len,
			     .rtm_table = (unsigned char)table,
			     .rtm_protocol = RTPROT_BOOT,
			     .rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
			     .rtm_type = RTN_UNICAST };
	size_t alen = family == AF_INET ? 4 : 16;
	uint8_t a[16];

	sp_nl_begin(m, RTM_NEWROUTE, NLM_F_MULTI, 1, &rtm, sizeof(rtm));
	sp_nl_put_u32(m, RTA_TABLE, table);
	if (dst && inet_pton(family, dst, a) == 1)
		sp_nl_put(m, RTA_DST, a, alen);
	if (src && inet_pton(family, src, a) == 1)
		sp_nl_put(m, RTA_PREFSRC, a, alen);
	if (mtu) {
		sp_nl_nest_begin(m, RTA_METRICS);
		sp_nl_put_u32(m, RTAX_MTU, mtu);
		sp_nl_nest_end(m);
	}
	if (gw && inet_pton(family, gw, a) == 1)
		sp_nl_put(m, RTA_GATEWAY, a, alen);
	sp_nl_put_u32(m, RTA_OIF, 2);
}

static int answer(struct sp_nlmsg *m, Types__Route *o, char dest[64], char gw[64], char src[64])
{
	const struct nlmsghdr *h = (const struct nlmsghdr *)(const void *)m->buf;
	struct sp_nl_route r;
	struct sp_err err;

	if (sp_nl_finish(m, &err) < 0 || sp_nl_parse_route(h, &r, &err) < 0)
		return -1;
	return sp_net_route_out(&r, o, dest, 64, gw, 64, src, 64);
}

TEST(net_list_routes_shape)
{
	char dest[64], gw[64], src[64];
	struct sp_nlmsg m;
	Types__Route o;

	route_msg(&m, AF_INET, "10.0.2.0", 24, NULL, "10.0.2.15", 1400, RT_TABLE_MAIN);
	REQUIRE(answer(&m, &o, dest, gw, src) == 1);
	CHECK(strcmp(o.dest, "10.0.2.0/24") == 0 && strcmp(o.gateway, "") == 0);
	CHECK(strcmp(o.source, "10.0.2.15") == 0 && o.mtu == 1400);
	CHECK(o.scope == RT_SCOPE_LINK && o.family == TYPES__IPFAMILY__v4);
	/* The default route: Kata's "0.0.0.0"; for IPv6 "::" (Kata writes "::1"). */
	route_msg(&m, AF_INET, NULL, 0, "10.0.2.2", NULL, 0, RT_TABLE_MAIN);
	REQUIRE(answer(&m, &o, dest, gw, src) == 1);
	CHECK(strcmp(o.dest, "0.0.0.0") == 0 && strcmp(o.gateway, "10.0.2.2") == 0);
	CHECK(strcmp(o.source, "") == 0 && o.mtu == 0 && o.scope == RT_SCOPE_UNIVERSE);
	route_msg(&m, AF_INET6, NULL, 0, "fe80::1", NULL, 0, RT_TABLE_MAIN);
	REQUIRE(answer(&m, &o, dest, gw, src) == 1);
	CHECK(strcmp(o.dest, "::") == 0 && strcmp(o.gateway, "fe80::1") == 0);
	CHECK(o.family == TYPES__IPFAMILY__v6);
	/* A route through a gateway keeps its destination (Kata's overwrites it). */
	route_msg(&m, AF_INET6, "fd00::", 64, "fe80::1", NULL, 0, RT_TABLE_MAIN);
	REQUIRE(answer(&m, &o, dest, gw, src) == 1);
	CHECK(strcmp(o.dest, "fd00::/64") == 0);
	/* Left out: another table; neither a destination nor a gateway. */
	route_msg(&m, AF_INET, "127.0.0.1", 32, NULL, NULL, 0, RT_TABLE_LOCAL);
	CHECK(answer(&m, &o, dest, gw, src) == 0);
	route_msg(&m, AF_INET, NULL, 0, NULL, NULL, 0, RT_TABLE_MAIN);
	CHECK(answer(&m, &o, dest, gw, src) == 0);
}

TEST(net_list_route_metrics_malformed)
{
	struct rtmsg rtm = { .rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN };
	uint16_t bad = 1400; /* RTAX_MTU of 2 bytes */
	struct sp_nlmsg m;
	struct sp_nl_route r;
	struct sp_err err;

	sp_nl_begin(&m, RTM_NEWROUTE, 0, 1, &rtm, sizeof(rtm));
	sp_nl_nest_begin(&m, RTA_METRICS);
	sp_nl_put(&m, RTAX_MTU, &bad, sizeof(bad));
	sp_nl_nest_end(&m);
	REQUIRE(sp_nl_finish(&m, &err) == 0);
	CHECK(sp_nl_parse_route((const struct nlmsghdr *)(const void *)m.buf, &r, &err) < 0);
	CHECK(strstr(err.msg, "route MTU") != NULL);
	sp_nl_begin(&m, RTM_NEWROUTE, 0, 1, &rtm, sizeof(rtm));
	sp_nl_put(&m, RTA_PREFSRC, &bad, sizeof(bad));
	REQUIRE(sp_nl_finish(&m, &err) == 0);
	CHECK(sp_nl_parse_route((const struct nlmsghdr *)(const void *)m.buf, &r, &err) < 0);
}

TEST(net_list_mac_text)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0xab };
	static const uint8_t zero[6] = { 0 };
	char buf[18];

	sp_net_format_mac(mac, 6, buf, sizeof(buf));
	CHECK(strcmp(buf, "52:54:00:12:34:ab") == 0);
	sp_net_format_mac(zero, 6, buf, sizeof(buf)); /* lo */
	CHECK(strcmp(buf, "00:00:00:00:00:00") == 0);
	sp_net_format_mac(mac, 0, buf, sizeof(buf));
	CHECK(strcmp(buf, "") == 0);
	sp_net_format_mac(mac, 6, buf, 17); /* no room for the NUL */
	CHECK(strcmp(buf, "") == 0);
}
