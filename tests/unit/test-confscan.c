/* Finding what libconfig would act on in a configuration file's text, before it reads it. */
#include <string.h>

#include "confscan.h"
#include "tap.h"

struct want {
	int line;
	const char *path;
};

static void scan_ok(const char *text, const struct want *want, size_t n, const char *what)
{
	struct confscan sc;
	bool ok_ = confscan_run(text, strlen(text), &sc);
	ok(ok_, what);
	is_int(sc.n_includes, n, what);
	for (size_t i = 0; i < n && i < sc.n_includes; i++) {
		is_int(sc.includes[i].line, want[i].line, what);
		is_str(sc.includes[i].path, want[i].path, what);
	}
	confscan_finish(&sc);
}

static void test_includes(void)
{
	scan_ok("a = 1;\n@include \"b.conf\"\nc = 2;\n", (struct want[]){{2, "b.conf"}}, 1,
		"a directive at the start of a line");
	scan_ok("\t  @include\t \"/etc/x\"\n", (struct want[]){{1, "/etc/x"}}, 1,
		"blanks before and after @include");
	scan_ok("@include \"a\\\\b\\\"c\"\n", (struct want[]){{1, "a\\b\"c"}}, 1,
		"the two escapes of an include path");
	scan_ok("@include \"one\"\n\n@include \"two\"", (struct want[]){{1, "one"}, {3, "two"}}, 2,
		"several, the last without a newline");
	scan_ok("# @include \"no\"\n// @include \"no\"\nx = 1; @include \"no\"\n", NULL, 0,
		"comments and the middle of a line are not directives");
	scan_ok("/* one\n@include \"no\"\n*/\n@include \"yes\"\n", (struct want[]){{4, "yes"}}, 1,
		"a block comment hides a directive and its lines still count");
	scan_ok("s = \"first\n@include \\\"no\\\"\n\";\n@include \"yes\"\n",
		(struct want[]){{4, "yes"}}, 1, "a string over lines hides a directive");
	scan_ok("@include\"no\"\n@includes \"no\"\n", NULL, 0,
		"no blank after @include: not a directive");
	scan_ok("/* a */ @include \"no\"\n", NULL, 0, "after a comment on the line: not a directive");
	scan_ok("@include \"a\nb\"\n@include \"c\"\n", (struct want[]){{1, "a\nb"}, {3, "c"}}, 2,
		"a path over two lines counts both");
}

static void scan_fails(const char *text, int line, const char *what)
{
	struct confscan sc;
	ok(!confscan_run(text, strlen(text), &sc), what);
	is_int(sc.error_line, line, what);
	ok(sc.error != NULL, what);
	confscan_finish(&sc);
}

static void test_bad_directives(void)
{
	scan_fails("a = 1;\n@include \"open\n", 2, "no closing quote");
	scan_fails("@include \"\"\n", 1, "an empty path");
	scan_fails("\n\n@include \"a\\nb\"\n", 3, "an escape libconfig does not have");
}

static void test_big_integers(void)
{
	const char *text = "a = 99999999999999999999;\n"
			   "b = [ 1, -9223372036854775809 ];\n"
			   "c = 9223372036854775807;\n"
			   "d = 1.5e300; e = 0xFFFFFFFFFFFFFFFFFFFF; f = 123456789012345678901234.5;\n"
			   "g99999999999999999999 = 1;\n"
			   "# 99999999999999999999\n"
			   "h = \"99999999999999999999\";\n"
			   "i = 18446744073709551716L;\n";
	struct confscan sc;
	ok(confscan_run(text, strlen(text), &sc), "scan literals");
	is_int(sc.n_bigs, 3, "three integers do not fit in 64 bits");
	if (sc.n_bigs == 3) {
		is_int(sc.bigs[0].line, 1, "the first, by line");
		is_str(sc.bigs[0].text, "99999999999999999999", "as written");
		is_str(sc.bigs[1].text, "-9223372036854775809", "a negative one");
		is_int(sc.bigs[2].line, 8, "with the L suffix");
	}
	confscan_finish(&sc);
}

int main(void)
{
	test_includes();
	test_bad_directives();
	test_big_integers();
	return tap_done();
}
