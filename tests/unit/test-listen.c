/* A server's listen address: what serve --listen and webhooks.listen accept. */
#include <stdlib.h>

#include "http.h"
#include "tap.h"

static void accepts(const char *text, const char *addr, int port)
{
	char *a = NULL;
	int p = -1;
	bool r = http_parse_listen(text, &a, &p);
	ok(r, text);
	if (r) {
		is_str(a, addr, text);
		ok(p == port, text);
	}
	free(a);
}

static void refuses(const char *text)
{
	char *a = NULL;
	int p = -1;
	ok(!http_parse_listen(text, &a, &p) && a == NULL, text);
}

int main(void)
{
	accepts("127.0.0.1:8722", "127.0.0.1", 8722);
	accepts("0.0.0.0:0", "0.0.0.0", 0);
	accepts("[::1]:8722", "::1", 8722);
	accepts("localhost:65535", "localhost", 65535);
	refuses("127.0.0.1");
	refuses(":8722");
	refuses("127.0.0.1:");
	refuses("127.0.0.1:65536");
	refuses("127.0.0.1:-1");
	refuses("127.0.0.1:80x");
	refuses("::1:8722");
	refuses("[::1:8722");
	refuses("[]:8722");
	return tap_done();
}
