/* init/net: the exact bytes of the requests we build, the reply parser's refusals, and the
 * validation of what the host sends. */
#include "unit.h"

#include <linux/rtnetlink.h>
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/net.h"

static int same(const struct sp_nlmsg *m, const uint8_t *want, size_t len)
{
	if (m->len != len || m->overflow)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (m->buf[i] != want[i]) {
			fprintf(stderr, "    byte %zu: %02x != %02x\n", i, m->buf[i], want[i]);
			return 0;
		}
	return 1;
}

TEST(net_build_addr_bytes)
{
	static const uint8_t want[] = {
		0x28, 0,  0, 0, 0x14, 0, 0x00, 0x05, 7, 0, 0, 0, 0, 0, 0, 0, /* nlmsghdr */
		0x02, 24, 0, 0, 3,    0, 0,    0,			     /* ifaddrmsg */
		8,    0,  2, 0, 10,   0, 0,    2,			     /* IFA_LOCAL */
		8,    0,  1, 0, 10,   0, 0,    2,			     /* IFA_ADDRESS */
	};
	struct sp_nlmsg m;
	struct sp_net_ip ip;

	REQUIRE(sp_net_parse_cidr("10.0.0.2/24", &ip) == 0);
	sp_net_build_addr(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, 7, 3, &ip);
	CHECK(sp_nl_finish(&m, NULL) == 0);
	CHECK(same(&m, want, sizeof(want)));
}

TEST(net_build_route_bytes)
{
	static const uint8_t link_route[] = {
		0x2c, 0,    0,	0, 0x18, 0,   0x00, 0x05, 1, 0, 0, 0, 0, 0, 0,
		0,    0x02, 24, 0, 0,	 254, 3,    253,  1, 0, 0, 0, 0, /* rtmsg: main, boot, link, unicast */
		8,    0,    1,	0, 10,	 0,   0,    0,			 /* RTA_DST */
		8,    0,    4,	0, 3,	 0,   0,    0,			 /* RTA_OIF */
	};
	static const uint8_t gw_route[] = {
		0x38, 0,   0, 0, 0x18, 0,    0x00, 0x05, 2,  0, 0, 0, 0, 0,  0, 0, 0x02, 0, 0,
		0,    254, 3, 0, 1,    0,    0,	   0,	 0,  8, 0, 5, 0, 10, 0, 0, 1, /* RTA_GATEWAY */
		8,    0,   4, 0, 3,    0,    0,	   0,	 12, 0, 8, 0, /* RTA_METRICS { RTAX_MTU 1400 } */
		8,    0,   2, 0, 0x78, 0x05, 0,	   0,
	};
	struct sp_net_route r = { .family = AF_INET, .ifindex = 3, .scope = RT_SCOPE_LINK };
	struct sp_nlmsg m;

	REQUIRE(sp_net_parse_cidr("10.0.0.0/24", &r.dst) == 0);
	sp_net_build_route(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, 1, &r);
	CHECK(same(&m, link_route, sizeof(link_route)));

	memset(&r, 0, sizeof(r));
	r.family = AF_INET;
	r.dst.family = AF_INET;
	r.ifindex = 3;
	r.mtu = 1400;
	r.has_gw = true;
	REQUIRE(sp_net_parse_ip("10.0.0.1", AF_INET, &r.gw) == 0);
	sp_net_build_route(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, 2, &r);
	CHECK(sp_nl_finish(&m, NULL) == 0);
	CHECK(same(&m, gw_route, sizeof(gw_route)));
}

TEST(net_builder_overflow)
{
	static const uint8_t big[SP_NL_MSG_MAX] = { 0 };
	struct sp_nlmsg m;
	struct sp_err err;

	sp_nl_begin(&m, RTM_NEWLINK, 0, 1, NULL, 0);
	sp_nl_put(&m, 1, big, sizeof(big));
	CHECK(sp_nl_finish(&m, &err) < 0);
	sp_nl_begin(&m, RTM_NEWLINK, 0, 1, NULL, 0);
	sp_nl_nest_begin(&m, 1);
	CHECK(sp_nl_finish(&m, &err) < 0); /* unclosed nest */
}

/* A buffer of one message: len, type, then body bytes. */
static size_t msg(uint8_t *buf, uint32_t len, uint16_t type, const uint8_t *body, size_t blen)
{
	struct nlmsghdr h = { .nlmsg_len = len, .nlmsg_type = type };

	memcpy(buf, &h, sizeof(h));
	if (blen)
		memcpy(buf + sizeof(h), body, blen);
	return sizeof(h) + blen;
}

static int parse_one(const uint8_t *buf, size_t len, struct sp_err *err)
{
	const struct nlmsghdr *h;
	size_t off = 0;
	int r;

	while ((r = sp_nl_next(buf, len, &off, &h, err)) > 0)
		;
	return r;
}

TEST(net_parser_rejects_malformed)
{
	uint8_t buf[256] __attribute__((aligned(4))) = { 0 };
	struct sp_err err;
	size_t n;

	CHECK(parse_one(buf, 10, &err) < 0 && strstr(err.msg, "truncated header"));
	n = msg(buf, 8, RTM_NEWLINK, NULL, 0);
	CHECK(parse_one(buf, n, &err) < 0 && strstr(err.msg, "below the header"));
	n = msg(buf, 64, RTM_NEWLINK, NULL, 0);
	CHECK(parse_one(buf, n, &err) < 0 && strstr(err.msg, "truncated message"));
	n = msg(buf, SP_NL_RX_MAX + 4, RTM_NEWLINK, NULL, 0);
	CHECK(parse_one(buf, n, &err) < 0 && strstr(err.msg, "over the limit"));
	n = msg(buf, 18, RTM_NEWLINK, (const uint8_t *)"\0\0\0", 4);
	CHECK(parse_one(buf, n, &err) < 0 && strstr(err.msg, "not 4-aligned"));
	/* A good message followed by a cut-off one. */
	n = msg(buf, 16, NLMSG_NOOP, NULL, 0);
	CHECK(parse_one(buf, n + 6, &err) < 0);
	CHECK(parse_one(buf, n, &err) == 0);
}

TEST(net_parse_link_and_attrs)
{
	uint8_t buf[128] __attribute__((aligned(4))) = { 0 };
	struct ifinfomsg ifi = { .ifi_index = 5, .ifi_type = 1, .ifi_flags = 1 };
	uint8_t body[64] = { 0 };
	const struct nlmsghdr *h;
	struct sp_nl_link l;
	struct sp_err err;
	size_t off = 0, n;

	memcpy(body, &ifi, sizeof(ifi));
	memcpy(body + 16,
	       "\x08\x00\x03\x00"
	       "eth0",
	       8);								   /* IFLA_IFNAME */
	memcpy(body + 24, "\x0a\x00\x01\x00\x02\x00\x00\x00\x00\x07\x00\x00", 12); /* MAC */
	memcpy(body + 36, "\x08\x00\x04\x00\xdc\x05\x00\x00", 8);		   /* MTU 1500 */
	n = msg(buf, 16 + 44, RTM_NEWLINK, body, 44);
	REQUIRE(sp_nl_next(buf, n, &off, &h, &err) == 1);
	REQUIRE(sp_nl_parse_link(h, &l, &err) == 0);
	CHECK_STR(l.name, "eth0");
	CHECK(l.index == 5 && l.mtu == 1500 && l.mac_len == 6 && l.mac[5] == 7);
	/* An attribute claiming more than is left, then one shorter than its own header. */
	body[36] = 0x40;
	msg(buf, 16 + 44, RTM_NEWLINK, body, 44);
	off = 0;
	REQUIRE(sp_nl_next(buf, n, &off, &h, &err) == 1);
	CHECK(sp_nl_parse_link(h, &l, &err) < 0 && strstr(err.msg, "bad length"));
	body[36] = 0x02;
	msg(buf, 16 + 44, RTM_NEWLINK, body, 44);
	CHECK(sp_nl_parse_link(h, &l, &err) < 0);
	/* Too short for its ifinfomsg. */
	msg(buf, 16 + 8, RTM_NEWLINK, body, 8);
	off = 0;
	REQUIRE(sp_nl_next(buf, 24, &off, &h, &err) == 1);
	CHECK(sp_nl_parse_link(h, &l, &err) < 0 && strstr(err.msg, "too short"));
}

TEST(net_parse_error_with_extack)
{
	uint8_t buf[128] __attribute__((aligned(4))) = { 0 };
	struct nlmsgerr e = { .error = -EINVAL };
	struct nlmsghdr *h = (struct nlmsghdr *)(void *)buf;
	char text[64];
	int errnum = 0;

	e.msg.nlmsg_len = 16;
	memcpy(buf + 16, &e, sizeof(e));
	memcpy(buf + 16 + sizeof(e),
	       "\x0c\x00\x01\x00"
	       "bad\x01x\0\0",
	       12);
	h->nlmsg_len = (uint32_t)(16 + sizeof(e) + 12);
	h->nlmsg_type = NLMSG_ERROR;
	h->nlmsg_flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
	REQUIRE(sp_nl_parse_error(h, &errnum, text, sizeof(text), NULL) == 0);
	CHECK(errnum == EINVAL);
	CHECK_STR(text, "bad\\x01x");
	e.error = 5; /* a positive "errno" is nonsense */
	memcpy(buf + 16, &e, sizeof(e));
	CHECK(sp_nl_parse_error(h, &errnum, text, sizeof(text), NULL) < 0);
}

TEST(net_validation)
{
	struct sp_net_ip ip;
	uint8_t mac[6];
	unsigned p;

	CHECK(sp_net_valid_ifname("eth0"));
	CHECK(sp_net_valid_ifname("veth_a-1.2"));
	CHECK(sp_net_valid_ifname("abcdefghijklmno"));	 /* 15 */
	CHECK(!sp_net_valid_ifname("abcdefghijklmnop")); /* 16 = IFNAMSIZ */
	CHECK(!sp_net_valid_ifname(""));
	CHECK(!sp_net_valid_ifname(".."));
	CHECK(!sp_net_valid_ifname("a/b"));
	CHECK(!sp_net_valid_ifname("eth 0"));
	CHECK(!sp_net_valid_ifname("eth\n"));
	CHECK(sp_net_valid_mtu(68) && sp_net_valid_mtu(1500) && sp_net_valid_mtu(65535));
	CHECK(!sp_net_valid_mtu(67) && !sp_net_valid_mtu(65536) && !sp_net_valid_mtu(1ull << 40));
	CHECK(sp_net_parse_prefix("24", AF_INET, &p) == 0 && p == 24);
	CHECK(sp_net_parse_prefix("0", AF_INET, &p) == 0 && p == 0);
	CHECK(sp_net_parse_prefix("128", AF_INET6, &p) == 0 && p == 128);
	CHECK(sp_net_parse_prefix("33", AF_INET, &p) < 0);
	CHECK(sp_net_parse_prefix("129", AF_INET6, &p) < 0);
	CHECK(sp_net_parse_prefix("024", AF_INET, &p) < 0);
	CHECK(sp_net_parse_prefix("-1", AF_INET, &p) < 0);
	CHECK(sp_net_parse_prefix("", AF_INET, &p) < 0);
	CHECK(sp_net_parse_prefix("255.255.255.0", AF_INET, &p) < 0);
	CHECK(sp_net_parse_cidr("fd00::1/64", &ip) == 0 && ip.family == AF_INET6 &&
	      ip.prefix == 64);
	CHECK(sp_net_parse_cidr("10.1.2.3", &ip) == 0 && ip.prefix == 32);
	CHECK(sp_net_parse_cidr("10.1.2.3/", &ip) < 0);
	CHECK(sp_net_parse_cidr("10.1.2/24", &ip) < 0);
	CHECK(sp_net_parse_ip("10.0.0.1", AF_INET6, &ip) < 0);
	CHECK(sp_net_parse_mac("02:00:0A:ff:00:01", mac) == 0 && mac[2] == 0x0a && mac[3] == 0xff);
	CHECK(sp_net_parse_mac("02:00:0a:ff:00", mac) < 0);
	CHECK(sp_net_parse_mac("02-00-0a-ff-00-01", mac) < 0);
	CHECK(sp_net_parse_mac("02:00:0a:ff:00:0g", mac) < 0);
	CHECK(sp_net_family(0) == AF_INET && sp_net_family(1) == AF_INET6 && sp_net_family(2) < 0);
}
