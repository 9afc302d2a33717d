#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lever.h"
#include "log.h"
#include "oauth.h"
#include "tap.h"

static void test_authorize_url(void)
{
	struct oauth_authorize_params p = {
		.auth_url = "https://auth.lever.co/",
		.client_id = "abc",
		.redirect_uri = "http://127.0.0.1:8721/callback",
		.state = "0123",
		.audience = "https://api.lever.co/v1/",
		.scope = "offline_access stages:read:admin",
	};
	char *url = oauth_authorize_url(&p);
	is_str(url,
		"https://auth.lever.co/authorize?client_id=abc"
		"&redirect_uri=http%3A%2F%2F127.0.0.1%3A8721%2Fcallback&response_type=code&state=0123"
		"&audience=https%3A%2F%2Fapi.lever.co%2Fv1%2F&scope=offline_access%20stages%3Aread%3Aadmin",
		"authorize URL");
	free(url);

	struct lever_options opts = {
		.url = "https://api.sandbox.lever.co/v1/",
		.auth_url = "https://sandbox-lever.auth0.com",
		.client_id = "cid",
		.confidential = true,
	};
	url = lever_oauth_authorize_url(&opts, "http://127.0.0.1:1/callback", "s");
	ok(strstr(url, "https://sandbox-lever.auth0.com/authorize?client_id=cid&") == url,
		"Lever authorize endpoint");
	ok(strstr(url, "&audience=https%3A%2F%2Fapi.sandbox.lever.co%2Fv1%2F&") != NULL,
		"audience is the API URL with one trailing slash");
	ok(strstr(url, "&scope=offline_access%20opportunities%3Aread%3Aadmin%20stages%3Aread%3Aadmin"
		       "%20postings%3Aread%3Aadmin%20confidential%3Aaccess%3Aadmin")
			!= NULL,
		"scopes, confidential access included");
	free(url);
	opts.confidential = false;
	opts.url = NULL;
	opts.auth_url = NULL;
	url = lever_oauth_authorize_url(&opts, "http://127.0.0.1:1/callback", "s");
	ok(strstr(url, "https://auth.lever.co/authorize?") == url, "default auth server");
	ok(strstr(url, "audience=https%3A%2F%2Fapi.lever.co%2Fv1%2F") != NULL, "default audience");
	ok(strstr(url, "confidential") == NULL, "no confidential scope unless asked");
	ok(strstr(url, "webhooks") == NULL, "no webhooks scope unless asked");
	free(url);
	opts.webhooks = true;
	url = lever_oauth_authorize_url(&opts, "http://127.0.0.1:1/callback", "s");
	ok(strstr(url, "postings%3Aread%3Aadmin%20webhooks%3Awrite%3Aadmin") != NULL,
		"webhooks:write:admin when webhooks are configured, for 'webhooks register'");
	free(url);

	char *redirect = oauth_redirect_uri(8721);
	is_str(redirect, "http://127.0.0.1:8721/callback", "redirect URI");
	free(redirect);
}

static void test_state(void)
{
	char *a = oauth_random_state();
	char *b = oauth_random_state();
	ok(a && strlen(a) == 32 && strspn(a, "0123456789abcdef") == 32, "32 hex characters");
	ok(a && b && strcmp(a, b) != 0, "two states differ");
	free(a);
	free(b);
}

static void test_parse_callback(void)
{
	struct oauth_callback cb;
	ok(oauth_parse_callback(" http://127.0.0.1:8721/callback?code=c%2Fd&state=s1#x \n", &cb),
		"full redirect URL");
	is_str(cb.code, "c/d", "code unescaped");
	is_str(cb.state, "s1", "state");
	ok(!cb.bare_code, "not a bare code");
	ok(oauth_callback_check(&cb, "s1"), "matching state accepted");
	ok(!oauth_callback_check(&cb, "s2"), "other state refused");
	oauth_callback_finish(&cb);

	ok(oauth_parse_callback("?state=s&code=k&code=ignored", &cb), "query string");
	is_str(cb.code, "k", "first code wins");
	oauth_callback_finish(&cb);

	ok(oauth_parse_callback("code=k&state=s", &cb), "query without '?'");
	is_str(cb.code, "k", "its code");
	oauth_callback_finish(&cb);

	ok(oauth_parse_callback("AbC-123_x.y~z", &cb), "bare code");
	ok(cb.bare_code, "marked bare");
	is_str(cb.code, "AbC-123_x.y~z", "bare code value");
	ok(oauth_callback_check(&cb, "whatever"), "a bare code has no state to check");
	oauth_callback_finish(&cb);

	ok(oauth_parse_callback("http://127.0.0.1/callback?error=access_denied"
				"&error_description=the+user+denied&state=s",
		   &cb),
		"error redirect");
	is_str(cb.error, "access_denied", "error");
	is_str(cb.error_description, "the user denied", "description, plus as space");
	ok(!oauth_callback_check(&cb, "s"), "an error fails the check");
	oauth_callback_finish(&cb);

	ok(oauth_parse_callback("http://127.0.0.1/callback?state=s", &cb), "no code");
	ok(!oauth_callback_check(&cb, "s"), "a missing code fails the check");
	oauth_callback_finish(&cb);

	ok(!oauth_parse_callback("   ", &cb), "empty input");
	ok(!oauth_parse_callback("two words", &cb), "not a code");
	ok(!oauth_parse_callback("?code=%zz", &cb), "malformed escape");
	ok(cb.code == NULL && cb.state == NULL, "nothing left behind on failure");
}

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_text(int fd, const char *text)
{
	ssize_t n = send(fd, text, strlen(text), 0);
	(void)n;
}

static char *read_all(int fd)
{
	static char buf[4096];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(buf) - 1 && (n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0) {
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

/*
 * The receiver runs in this thread: the kernel queues our connections and requests (they fit
 * in the socket buffers) until oauth_receiver_wait() accepts them.
 */
static void test_receiver(void)
{
	struct oauth_receiver *r = oauth_receiver_create(0);
	ok(r != NULL, "listening on an ephemeral port");
	if (!r) {
		return;
	}
	int port = oauth_receiver_port(r);
	ok(port > 0, "port known");

	struct oauth_callback cb;
	ok(!oauth_receiver_wait(r, 50, &cb), "times out with nobody calling");

	int stray = connect_to(port);
	send_text(stray, "GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n");
	int post = connect_to(port);
	send_text(post, "POST /callback?code=x HTTP/1.1\r\nHost: x\r\n\r\n");
	int good = connect_to(port);
	send_text(good, "GET /callback?code=the%20code&state=st HTTP/1.1\r\nHost: x\r\n\r\n");
	ok(stray >= 0 && post >= 0 && good >= 0, "connected");

	ok(oauth_receiver_wait(r, 5000, &cb), "callback received");
	is_str(cb.code, "the code", "code");
	is_str(cb.state, "st", "state");
	ok(strncmp(read_all(stray), "HTTP/1.1 404", 12) == 0, "other paths get 404");
	ok(strncmp(read_all(post), "HTTP/1.1 405", 12) == 0, "other methods get 405");
	const char *page = read_all(good);
	ok(strncmp(page, "HTTP/1.1 200", 12) == 0, "callback answered 200");
	ok(strstr(page, "the code") == NULL, "the page does not echo the code");
	oauth_callback_finish(&cb);
	close(stray);
	close(post);
	close(good);

	int denied = connect_to(port);
	send_text(denied, "GET /callback?error=access_denied&state=st HTTP/1.1\r\n\r\n");
	ok(oauth_receiver_wait(r, 5000, &cb), "error callback received");
	is_str(cb.error, "access_denied", "error passed on");
	ok(strstr(read_all(denied), "did not get access") != NULL, "error page");
	oauth_callback_finish(&cb);
	close(denied);

	// A client that connects and says nothing must not block the login forever.
	int silent = connect_to(port);
	ok(!oauth_receiver_wait(r, 200, &cb), "silent client: the deadline still holds");
	close(silent);
	oauth_receiver_destroy(r);

	struct oauth_receiver *bad = oauth_receiver_create(70000);
	ok(bad == NULL, "invalid port refused");
	oauth_receiver_destroy(NULL);
}

int main(void)
{
	log_init(LOG_QUIET, LOG_FORMAT_TEXT);
	test_authorize_url();
	test_state();
	test_parse_callback();
	test_receiver();
	log_finish();
	return tap_done();
}
