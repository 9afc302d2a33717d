#define LOG_MODULE "serve"
#include "serve.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "watch.h"
#include "xalloc.h"

#ifdef HAVE_WEBHOOK_SERVER
#include "httpd.h"
#include "receiver.h"
#include "webhook.h"
#endif

#ifdef HAVE_WEBHOOK_SERVER

struct serve {
	struct receiver *receiver;
	struct watch *watch;
	const char *path; /* the one the server was started with */
};

/* The signature tokens the configuration gives (or `webhooks register` stored). */
static bool load_tokens(const struct config *cfg, char ***tokens, size_t *n)
{
	struct app app;
	app_init(&app, cfg, false);
	enum exit_code rc = app_webhook_tokens(&app, tokens, n);
	app_finish(&app);
	return rc == EXIT_OK;
}

static void hints_take(void *ud, int timeout_ms, char ***ids, size_t *n)
{
	struct serve *s = ud;
	receiver_take(s->receiver, timeout_ms, ids, n);
}

static void hints_free(char **ids, size_t n)
{
	receiver_ids_free(ids, n);
}

/* A reload takes new signature tokens and max_age at once; a new listen or path only at a
 * restart (the server keeps its socket). */
static bool hints_reconfigure(void *ud, const struct config *cfg)
{
	struct serve *s = ud;
	char **tokens = NULL;
	size_t n = 0;
	if (!load_tokens(cfg, &tokens, &n)) {
		return false;
	}
	receiver_set_tokens(s->receiver, (const char *const *)tokens, n, cfg->webhooks.max_age_ms);
	app_webhook_tokens_free(tokens, n);
	if (strcmp(cfg->webhooks.path, s->path) != 0) {
		log_warn("webhooks.path changed to '%s': it takes effect at a restart; deliveries are "
			 "taken on '%s' until then",
			cfg->webhooks.path, s->path);
	}
	return true;
}

static bool healthy(void *ud)
{
	struct serve *s = ud;
	return watch_healthy(s->watch);
}

enum exit_code serve_run(struct config *cfg, const struct serve_options *o)
{
	const char *listen = o->listen ? o->listen : cfg->webhooks.listen;
	char *addr = NULL;
	int port = 0;
	if (!http_parse_listen(listen, &addr, &port)) {
		log_error("listen address '%s' is not ADDR:PORT (127.0.0.1:8722, [::1]:8722)", listen);
		conf_destroy(cfg);
		return EXIT_USAGE;
	}
	char **tokens = NULL;
	size_t n_tokens = 0;
	if (!load_tokens(cfg, &tokens, &n_tokens)) {
		free(addr);
		conf_destroy(cfg);
		return EXIT_USAGE;
	}
	struct serve s = {.path = NULL};
	char *path = xstrdup(cfg->webhooks.path);
	s.path = path;
	struct receiver_options ro = {
		.path = path,
		.tokens = (const char *const *)tokens,
		.n_tokens = n_tokens,
		.max_age_ms = cfg->webhooks.max_age_ms,
		.healthy = healthy,
		.ud = &s,
	};
	s.receiver = receiver_create(&ro);
	app_webhook_tokens_free(tokens, n_tokens);
	struct watch_hints hints = {hints_take, hints_free, hints_reconfigure, &s};
	struct watch_options wo = {
		.config_path = cfg->path,
		.interval_ms = o->poll_interval_ms ? o->poll_interval_ms : cfg->webhooks.poll_interval_ms,
		.json = o->json,
		.max_actions = -1,
		.hints = &hints,
	};
	s.watch = watch_create(cfg, &wo);
	enum exit_code rc = EXIT_LOCAL;
	struct httpd *h = httpd_start(addr, port, WEBHOOK_MAX_BODY, receiver_handle, s.receiver);
	if (h) {
		log_info("taking Lever's webhooks on http://%s%s%s:%d%s, polling every %lld s "
			 "underneath",
			strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "", httpd_port(h),
			path, (long long)(wo.interval_ms / 1000));
		rc = watch_run(s.watch);
		httpd_stop(h);
		struct receiver_stats st;
		receiver_stats(s.receiver, &st);
		log_info("webhook deliveries: %llu accepted, %llu coalesced, %llu ignored, %llu "
			 "refused",
			(unsigned long long)st.accepted, (unsigned long long)st.coalesced,
			(unsigned long long)st.ignored, (unsigned long long)st.refused);
	}
	watch_destroy(s.watch);
	receiver_destroy(s.receiver);
	free(path);
	free(addr);
	return rc;
}

#else

enum exit_code serve_run(struct config *cfg, const struct serve_options *o)
{
	(void)o;
	conf_destroy(cfg);
	log_error("this refty-lever was built without the webhook server (libmicrohttpd): "
		  "install libmicrohttpd-dev and build again with -Dwebhooks=enabled, or use "
		  "'sync --watch'");
	return EXIT_USAGE;
}

#endif
