/* Kernel command line parsing: host-controlled bytes, so every odd shape is tried. */
#include <stdlib.h>

#include "lib/config.h"
#include "unit.h"

static struct sp_config parse(const char *s)
{
	struct sp_config cfg;

	sp_config_default(&cfg);
	sp_cmdline_parse(s, strlen(s), &cfg);
	return cfg;
}

TEST(cmdline_defaults)
{
	struct sp_config c = parse("");

	CHECK(c.addr.kind == SP_ADDR_VSOCK);
	CHECK(c.addr.port == 1024);
	CHECK(c.log_level == SP_LOG_INFO);
	CHECK(c.hotplug_timeout_s == 3);
	CHECK(!c.debug_console_requested);
	CHECK(c.sec.allow_loopback);
	CHECK(c.sec.attest == SP_ATTEST_AUTO);
	CHECK(c.nnotes == 0);
}

TEST(cmdline_kata_line)
{
	struct sp_config c = parse("tsc=reliable no_timer_check rcupdate.rcu_expedited=1 "
				   "i8042.direct=1 panic=1 "
				   "quiet agent.log=debug agent.trace=true "
				   "agent.container_pipe_size=0 "
				   "agent.debug_console agent.debug_console_vport=1026 "
				   "agent.hotplug_timeout=10 "
				   "agent.server_addr=vsock://-1:2048\n");

	CHECK(c.addr.kind == SP_ADDR_VSOCK);
	CHECK(c.addr.port == 2048);
	CHECK(c.log_level == SP_LOG_DEBUG);
	CHECK(c.hotplug_timeout_s == 10);
	CHECK(c.debug_console_requested);
	CHECK(c.nnotes == 0);
}

TEST(cmdline_server_addr_forms)
{
	struct sp_config c = parse("agent.server_addr=vsock://ANY:5000");
	CHECK(c.addr.kind == SP_ADDR_VSOCK && c.addr.port == 5000);
	c = parse("agent.server_addr=vsock://any:7");
	CHECK(c.addr.kind == SP_ADDR_VSOCK && c.addr.port == 7);
	c = parse("agent.server_addr=unix:///run/agent.sock");
	CHECK(c.addr.kind == SP_ADDR_UNIX);
	CHECK_STR(c.addr.path, "/run/agent.sock");
	CHECK(c.nnotes == 0);
}

/* A Unix socket has no peer check: production (no test overlay, PID 1) ignores it with a
 * note; the test overlay and host tests keep it; a vsock address is never touched. */
TEST(cmdline_unix_server_addr_only_with_the_test_overlay)
{
	struct sp_config c = parse("agent.server_addr=unix:///run/agent.sock");

	sp_config_restrict(&c, true);
	CHECK(c.addr.kind == SP_ADDR_UNIX && c.nnotes == 0);
	sp_config_restrict(&c, false);
	CHECK(c.addr.kind == SP_ADDR_VSOCK && c.addr.port == SP_DEFAULT_VSOCK_PORT);
	REQUIRE(c.nnotes == 1);
	CHECK(strstr(c.notes[0], "agent.server_addr=unix:/run/agent.sock ignored") != NULL);
	CHECK(strstr(c.notes[0], "only with the test overlay") != NULL);
	c = parse("agent.server_addr=vsock://-1:2048");
	sp_config_restrict(&c, false);
	CHECK(c.addr.kind == SP_ADDR_VSOCK && c.addr.port == 2048 && c.nnotes == 0);
}

TEST(cmdline_server_addr_invalid_uses_default)
{
	static const char *const bad[] = {
		"agent.server_addr=vsock://3:1024",
		"agent.server_addr=vsock://-1:",
		"agent.server_addr=vsock://-1:0",
		"agent.server_addr=vsock://-1:4294967295",
		"agent.server_addr=vsock://-1:99999999999",
		"agent.server_addr=vsock://-1:12a",
		"agent.server_addr=vsock://-1:-5",
		"agent.server_addr=vsock://-1",
		"agent.server_addr=unix://relative",
		"agent.server_addr=unix://",
		"agent.server_addr=tcp://1.2.3.4:80",
		"agent.server_addr",
		"agent.server_addr=",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[256];
		struct sp_config c;

		snprintf(line, sizeof(line), "agent.server_addr=vsock://-1:9 %s", bad[i]);
		c = parse(line);
		if (c.addr.kind != SP_ADDR_VSOCK || c.addr.port != 1024 || c.nnotes != 1)
			fprintf(stderr, "    case %s\n", bad[i]);
		CHECK(c.addr.kind == SP_ADDR_VSOCK);
		CHECK(c.addr.port == 1024);
		CHECK(c.nnotes == 1);
	}
}

TEST(cmdline_unix_path_too_long)
{
	char line[400] = "agent.server_addr=unix:///";
	struct sp_config c;

	memset(line + strlen(line), 'a', 200);
	c = parse(line);
	CHECK(c.addr.kind == SP_ADDR_VSOCK && c.addr.port == 1024);
	CHECK(c.nnotes == 1);
}

TEST(cmdline_quotes)
{
	struct sp_config c = parse("foo=\"a b c\" \"agent.server_addr=unix:///tmp/x y.sock\" "
				   "agent.log=\"debug\"");

	CHECK(c.addr.kind == SP_ADDR_UNIX);
	CHECK_STR(c.addr.path, "/tmp/x y.sock");
	CHECK(c.log_level == SP_LOG_DEBUG);
	/* An unterminated quote runs to the end of the line. */
	c = parse("agent.log=debug x=\"agent.log=error");
	CHECK(c.log_level == SP_LOG_DEBUG);
	c = parse("agent.\"hotplug_timeout\"=\"4\"2");
	CHECK(c.hotplug_timeout_s == 42);
}

TEST(cmdline_duplicates_last_wins)
{
	struct sp_config c = parse("agent.log=debug agent.hotplug_timeout=9 agent.log=info "
				   "agent.hotplug_timeout=5 agent.server_addr=vsock://-1:1 "
				   "agent.server_addr=vsock://-1:2");

	CHECK(c.log_level == SP_LOG_INFO);
	CHECK(c.hotplug_timeout_s == 5);
	CHECK(c.addr.port == 2);
}

TEST(cmdline_bad_values)
{
	struct sp_config c = parse("agent.log=loud agent.hotplug_timeout=0");

	CHECK(c.log_level == SP_LOG_INFO);
	CHECK(c.hotplug_timeout_s == 3);
	CHECK(c.nnotes == 2);
	c = parse("agent.hotplug_timeout=9 agent.hotplug_timeout=3601");
	CHECK(c.hotplug_timeout_s == 3);
	c = parse("agent.hotplug_timeout=18446744073709551617");
	CHECK(c.hotplug_timeout_s == 3);
	c = parse("agent.hotplug_timeout= agent.log");
	CHECK(c.hotplug_timeout_s == 3);
	CHECK(c.nnotes == 2);
}

TEST(cmdline_notes_are_escaped_and_bounded)
{
	struct sp_config c;
	char line[2048];
	size_t n = 0;

	c = parse("agent.log=\x1b[31mred\x7f");
	REQUIRE(c.nnotes == 1);
	CHECK(strstr(c.notes[0], "\\x1b[31mred\\x7f") != NULL);
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "agent.log=bad%d ", i);
	c = parse(line);
	CHECK(c.nnotes == SP_CONFIG_MAX_NOTES);
	CHECK(c.notes_dropped == 20 - SP_CONFIG_MAX_NOTES);
}

TEST(cmdline_nul_bytes)
{
	static const char buf[] = "agent.log=debug\0agent.hotplug_timeout=7\0\0\0agent.server_"
				  "addr=vsock://-1:77";
	struct sp_config c;

	sp_config_default(&c);
	sp_cmdline_parse(buf, sizeof(buf) - 1, &c);
	CHECK(c.log_level == SP_LOG_DEBUG);
	CHECK(c.hotplug_timeout_s == 7);
	CHECK(c.addr.port == 77);
	/* A NUL inside a value ends the parameter: "de\0bug" is "de" then a flag "bug". */
	sp_config_default(&c);
	sp_cmdline_parse("agent.log=de\0bug", 16, &c);
	CHECK(c.log_level == SP_LOG_INFO);
	CHECK(c.nnotes == 1);
}

TEST(cmdline_long_token_ignored)
{
	char *line = malloc(SP_CMDLINE_TOKEN_MAX + 64);
	struct sp_config c;
	size_t n;

	REQUIRE(line);
	strcpy(line, "agent.log=");
	n = strlen(line);
	memset(line + n, 'x', SP_CMDLINE_TOKEN_MAX);
	strcpy(line + n + SP_CMDLINE_TOKEN_MAX, " agent.hotplug_timeout=8");
	c = parse(line);
	CHECK(c.log_level == SP_LOG_INFO);
	CHECK(c.hotplug_timeout_s == 8);
	CHECK(c.nnotes == 1);
	free(line);
}

TEST(cmdline_huge_input_truncated)
{
	size_t len = 1 << 20;
	char *buf = malloc(len);
	struct sp_config c;

	REQUIRE(buf);
	memset(buf, ' ', len);
	memcpy(buf, "agent.hotplug_timeout=6", 23);
	/* Beyond SP_CMDLINE_MAX: never looked at. */
	memcpy(buf + SP_CMDLINE_MAX + 10, "agent.hotplug_timeout=9", 23);
	sp_config_default(&c);
	sp_cmdline_parse(buf, len, &c);
	CHECK(c.hotplug_timeout_s == 6);
	CHECK(c.nnotes == 1);
	free(buf);
}

TEST(cmdline_security_tighten_never_loosen)
{
	struct sp_config c = parse("sealpod.loopback=0");
	CHECK(!c.sec.allow_loopback);
	/* A later "1" cannot undo an earlier "0": security settings only tighten. */
	c = parse("sealpod.loopback=0 sealpod.loopback=1");
	CHECK(!c.sec.allow_loopback);
	c = parse("sealpod.loopback=1");
	CHECK(c.sec.allow_loopback == sp_security_floor.allow_loopback);
	c = parse("sealpod.loopback=yes sealpod.loopback");
	CHECK(c.sec.allow_loopback);
	CHECK(c.nnotes == 2);

	c = parse("sealpod.attest=required sealpod.attest=auto");
	CHECK(c.sec.attest == SP_ATTEST_REQUIRED);
	c = parse("sealpod.attest=off");
	CHECK(c.sec.attest == SP_ATTEST_AUTO);
	CHECK(c.nnotes == 1);
}

TEST(cmdline_security_floor_cannot_be_loosened)
{
	/* Start from a stricter base (as initdata would give) and try to loosen it. */
	struct sp_config c;

	sp_config_default(&c);
	c.sec.allow_loopback = false;
	c.sec.attest = SP_ATTEST_REQUIRED;
	sp_cmdline_parse("sealpod.loopback=1 sealpod.attest=auto", 38, &c);
	CHECK(!c.sec.allow_loopback);
	CHECK(c.sec.attest == SP_ATTEST_REQUIRED);

	struct sp_security cur = { .allow_loopback = false, .attest = SP_ATTEST_REQUIRED };
	struct sp_security loose = { .allow_loopback = true, .attest = SP_ATTEST_AUTO };
	sp_security_tighten(&cur, &loose);
	CHECK(!cur.allow_loopback && cur.attest == SP_ATTEST_REQUIRED);
	struct sp_security open = { .allow_loopback = true, .attest = SP_ATTEST_AUTO };
	struct sp_security strict = { .allow_loopback = false, .attest = SP_ATTEST_REQUIRED };
	sp_security_tighten(&open, &strict);
	CHECK(!open.allow_loopback && open.attest == SP_ATTEST_REQUIRED);
}

TEST(cmdline_listen_addr_format)
{
	struct sp_listen_addr a;
	char buf[128];

	REQUIRE(sp_listen_addr_parse("vsock://-1:1024", &a) == 0);
	sp_listen_addr_format(&a, buf, sizeof(buf));
	CHECK_STR(buf, "vsock:1024");
	REQUIRE(sp_listen_addr_parse("unix:///tmp/a.sock", &a) == 0);
	sp_listen_addr_format(&a, buf, sizeof(buf));
	CHECK_STR(buf, "unix:/tmp/a.sock");
}

TEST(log_escape)
{
	char buf[16];

	sp_log_escape(buf, sizeof(buf), "ab\ncd", 5);
	CHECK_STR(buf, "ab\\x0acd");
	sp_log_escape(buf, sizeof(buf), "0123456789abcdefghij", 20);
	CHECK_STR(buf, "0123456789ab...");
	CHECK(strlen(buf) < sizeof(buf));
	sp_log_escape(buf, sizeof(buf), "\\", 1);
	CHECK_STR(buf, "\\x5c");
}

TEST(cmdline_attest_keys)
{
	struct sp_config c = parse("sealpod.kbs=http://10.0.2.100:8080 sealpod.evidence=sample "
				   "sealpod.ip=10.0.2.15/24 sealpod.test_binding=abcd "
				   "sealpod.test_resources=kbs:///a/b/c,kbs:///d/e/f");

	CHECK_STR(c.kbs_url, "http://10.0.2.100:8080");
	CHECK_STR(c.evidence, "sample");
	CHECK_STR(c.net_cidr, "10.0.2.15/24");
	CHECK_STR(c.test_binding, "abcd");
	CHECK_STR(c.test_resources, "kbs:///a/b/c,kbs:///d/e/f");
	CHECK(c.nnotes == 0);
	/* Values that do not fit or carry control bytes are dropped with a note. */
	c = parse("sealpod.evidence=waytoolongforthisfield sealpod.kbs= \"sealpod.ip=a\x01b\"");
	CHECK_STR(c.evidence, "");
	CHECK_STR(c.kbs_url, "");
	CHECK_STR(c.net_cidr, "");
	CHECK(c.nnotes == 3);
	/* sealpod.attest only tightens: "auto" after "required" changes nothing. */
	c = parse("sealpod.attest=required sealpod.attest=auto");
	CHECK(c.sec.attest == SP_ATTEST_REQUIRED);
}
