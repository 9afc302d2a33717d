/*
 * lever-probe: runs one Lever client operation against a URL, for the integration tests.
 *
 *   lever-probe [OPTIONS] list-opportunities|list-deleted|list-stages|list-postings URL
 *   lever-probe [OPTIONS] post URL [PATH]
 *   lever-probe [OPTIONS] oauth-login URL
 *
 * Listings print one id per line on stdout, then "summary count=N pages=P requests=R
 * restarts=S refreshes=F status=<status>". The exit status is the lever_status value (0 ok,
 * 1 auth, 2 remote, 3 data, 4 dry run, 5 cancelled, 6 local), 64 for usage errors.
 *
 * With --parallel N, list-opportunities runs N identical listings at once through one client and
 * prints "thread=I count=N status=S" for each instead of ids.
 *
 * OAuth tokens live in --token-file as key=value lines; --crash-after-save makes the process
 * exit (status 99) right after the store saved refreshed tokens, before they are used.
 */

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "lever.h"
#include "log.h"
#include "oauth.h"
#include "xalloc.h"

/*
 * The probe exits with lever_status values (0 to 7), so its own statuses lie outside that range:
 * exitcode.h's EXIT_USAGE (2) would read as LEVER_ERR_REMOTE here. 64 is sysexits' EX_USAGE.
 */
#define PROBE_EXIT_USAGE 64
#define PROBE_EXIT_CRASH 99

struct probe {
	const char *token_file;
	bool crash_after_save;
	long count;
	long cancel_after; /* 0: never */
	bool print_details;
};

static void usage(void)
{
	fputs("usage: lever-probe [--key K | --oauth --client-id I --client-secret S --auth-url A\n"
	      "                   --token-file F [--crash-after-save]] [--rate R] [--burst B]\n"
	      "                   [--dry-run] [--confidential] [--max-attempts N]\n"
	      "                   [--backoff-base S] [--timeout-ms MS] [--page-size N]\n"
	      "                   [--updated-since MS] [--posting ID] [--cancel-after N]\n"
	      "                   [--details] [--port P] [--login-timeout S] [--paste]\n"
	      "                   [--parallel N] [-v]...\n"
	      "                   list-opportunities|list-deleted|list-stages|list-postings|\n"
	      "                   post|oauth-login URL [PATH]\n",
		stderr);
}

/*
 * The token store: a small key=value file, written to a temporary file and renamed so that a
 * crash leaves either the old or the new pair.
 */

static bool store_load(void *ud, struct lever_tokens *out)
{
	struct probe *p = ud;
	FILE *f = fopen(p->token_file, "r");
	if (!f) {
		if (errno == ENOENT) {
			return true;
		}
		log_error("cannot open token file '%s': %s", p->token_file, strerror(errno));
		return false;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char *eq = strchr(line, '=');
		if (!eq) {
			continue;
		}
		*eq = '\0';
		const char *value = eq + 1;
		if (strcmp(line, "access_token") == 0) {
			free(out->access_token);
			out->access_token = xstrdup(value);
		} else if (strcmp(line, "refresh_token") == 0) {
			free(out->refresh_token);
			out->refresh_token = xstrdup(value);
		} else if (strcmp(line, "expires_at") == 0) {
			out->expires_at = strtoll(value, NULL, 10);
		} else if (strcmp(line, "account") == 0) {
			free(out->account);
			out->account = xstrdup(value);
		} else if (strcmp(line, "scope") == 0) {
			free(out->scope);
			out->scope = xstrdup(value);
		}
	}
	free(line);
	fclose(f);
	return true;
}

static bool store_save(void *ud, const struct lever_tokens *t)
{
	struct probe *p = ud;
	char *tmp = xasprintf("%s.tmp", p->token_file);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		log_error("cannot write token file '%s': %s", tmp, strerror(errno));
		free(tmp);
		return false;
	}
	fprintf(f, "access_token=%s\nrefresh_token=%s\nexpires_at=%lld\naccount=%s\nscope=%s\n",
		t->access_token ? t->access_token : "", t->refresh_token ? t->refresh_token : "",
		(long long)t->expires_at, t->account ? t->account : "", t->scope ? t->scope : "");
	bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, p->token_file) != 0) {
		log_error("cannot write token file '%s': %s", p->token_file, strerror(errno));
		unlink(tmp);
		free(tmp);
		return false;
	}
	free(tmp);
	if (p->crash_after_save) {
		fflush(stdout);
		_exit(PROBE_EXIT_CRASH);
	}
	return true;
}

/*
 * Listing callbacks
 */

static bool counted(struct probe *p)
{
	p->count++;
	return !(p->cancel_after && p->count >= p->cancel_after);
}

static bool on_opportunity(void *ud, const struct opportunity *o)
{
	struct probe *p = ud;
	if (p->print_details) {
		printf("%s stage=%s changes=%zu%s posting=%s archived=%d confidential=%d "
		       "anonymized=%d updated=%lld emails=%zu phones=%zu name=%s\n",
			o->id, o->stage_id, o->n_changes, o->has_changes ? "" : "(none)",
			o->posting_id ? o->posting_id : "-", o->archived, o->confidential,
			o->anonymized,
			o->updated_at == OPP_TIME_NONE ? -1LL : (long long)o->updated_at, o->n_emails,
			o->n_phones, o->name);
	} else {
		printf("%s\n", o->id);
	}
	return counted(p);
}

static bool on_deleted(void *ud, const struct deleted_opportunity *d)
{
	printf("%s\n", d->id);
	return counted(ud);
}

static bool on_stage(void *ud, const struct lever_stage *s)
{
	printf("%s\t%s\n", s->id, s->text);
	return counted(ud);
}

static bool on_posting(void *ud, const struct lever_posting *p)
{
	printf("%s\t%s\t%s\n", p->id, p->state ? p->state : "-", p->text);
	return counted(ud);
}

struct worker {
	pthread_t thread;
	struct lever_client *client;
	const struct lever_opportunity_query *query;
	long count;
	enum lever_status status;
};

static bool count_only(void *ud, const struct opportunity *o)
{
	((struct worker *)ud)->count++;
	return true;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct lever_opportunity_sink sink = {.record = count_only, .ud = w};
	w->status = lever_list_opportunities(w->client, w->query, &sink);
	return NULL;
}

/* Several listings at once through one client: what a parallel backfill does. */
static enum lever_status run_parallel(struct lever_client *client,
	const struct lever_opportunity_query *query, int n, struct probe *p)
{
	struct worker *workers = xcalloc((size_t)n, sizeof(*workers));
	for (int i = 0; i < n; i++) {
		workers[i].client = client;
		workers[i].query = query;
		pthread_create(&workers[i].thread, NULL, work, &workers[i]);
	}
	enum lever_status status = LEVER_OK;
	for (int i = 0; i < n; i++) {
		pthread_join(workers[i].thread, NULL);
		printf("thread=%d count=%ld status=%s\n", i, workers[i].count,
			lever_status_text(workers[i].status));
		p->count += workers[i].count;
		if (workers[i].status != LEVER_OK) {
			status = workers[i].status;
		}
	}
	free(workers);
	return status;
}

static int run_post(const char *url, const char *path, bool dry_run)
{
	struct http_options ho = {
		.base_url = url,
		.dry_run = dry_run,
		.max_attempts = 1,
	};
	struct http_client *http = http_client_create(&ho);
	if (!http) {
		return LEVER_ERR_REMOTE;
	}
	struct http_header headers[] = {{"Content-Type", "application/json"}};
	struct http_request req = {
		.method = "POST",
		.path = path,
		.headers = headers,
		.n_headers = 1,
		.body = "{\"value\": \"probe\"}",
		.body_len = strlen("{\"value\": \"probe\"}"),
	};
	struct http_response resp;
	http_response_init(&resp);
	int rc;
	if (!http_request(http, &req, &resp)) {
		rc = resp.error == HTTP_ERR_DRY_RUN ? LEVER_ERR_DRY_RUN : LEVER_ERR_REMOTE;
		printf("refused %s\n", resp.error_text ? resp.error_text : "");
	} else {
		printf("status %ld\n", resp.status);
		rc = LEVER_OK;
	}
	http_response_finish(&resp);
	http_client_destroy(http);
	return rc;
}

static int run_login(struct lever_client *client, const struct lever_options *opts, int port,
	int timeout_s, bool paste)
{
	int rc = LEVER_ERR_AUTH;
	struct oauth_receiver *receiver = NULL;
	char *state = NULL, *redirect = NULL, *url = NULL, *line = NULL;
	struct oauth_callback cb = {0};
	if (!paste) {
		receiver = oauth_receiver_create(port);
		if (!receiver) {
			return LEVER_ERR_LOCAL;
		}
		port = oauth_receiver_port(receiver);
	}
	state = oauth_random_state();
	if (!state) {
		rc = LEVER_ERR_LOCAL;
		goto out;
	}
	redirect = oauth_redirect_uri(port);
	url = lever_oauth_authorize_url(opts, redirect, state);
	printf("authorize-url %s\n", url);
	fflush(stdout);
	if (paste) {
		size_t cap = 0;
		if (getline(&line, &cap, stdin) <= 0) {
			log_error("cannot read the pasted redirect: end of input");
			goto out;
		}
		if (!oauth_parse_callback(line, &cb)) {
			goto out;
		}
	} else if (!oauth_receiver_wait(receiver, timeout_s * 1000, &cb)) {
		goto out;
	}
	if (!oauth_callback_check(&cb, state)) {
		goto out;
	}
	rc = (int)lever_oauth_exchange(client, cb.code, redirect);
	if (rc == LEVER_OK) {
		printf("logged-in\n");
	}
out:
	oauth_callback_finish(&cb);
	free(line);
	free(url);
	free(redirect);
	free(state);
	oauth_receiver_destroy(receiver);
	return rc;
}

int main(int argc, char **argv)
{
	enum {
		OPT_KEY = 256, OPT_OAUTH, OPT_CLIENT_ID, OPT_CLIENT_SECRET, OPT_AUTH_URL,
		OPT_TOKEN_FILE, OPT_CRASH, OPT_RATE, OPT_BURST, OPT_DRY_RUN, OPT_CONFIDENTIAL,
		OPT_MAX_ATTEMPTS, OPT_BACKOFF, OPT_TIMEOUT, OPT_PAGE_SIZE, OPT_UPDATED_SINCE,
		OPT_POSTING, OPT_CANCEL, OPT_DETAILS, OPT_PORT, OPT_LOGIN_TIMEOUT, OPT_PASTE,
		OPT_PARALLEL,
	};
	static const struct option longopts[] = {
		{"key", required_argument, NULL, OPT_KEY},
		{"oauth", no_argument, NULL, OPT_OAUTH},
		{"client-id", required_argument, NULL, OPT_CLIENT_ID},
		{"client-secret", required_argument, NULL, OPT_CLIENT_SECRET},
		{"auth-url", required_argument, NULL, OPT_AUTH_URL},
		{"token-file", required_argument, NULL, OPT_TOKEN_FILE},
		{"crash-after-save", no_argument, NULL, OPT_CRASH},
		{"rate", required_argument, NULL, OPT_RATE},
		{"burst", required_argument, NULL, OPT_BURST},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{"confidential", no_argument, NULL, OPT_CONFIDENTIAL},
		{"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
		{"backoff-base", required_argument, NULL, OPT_BACKOFF},
		{"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
		{"page-size", required_argument, NULL, OPT_PAGE_SIZE},
		{"updated-since", required_argument, NULL, OPT_UPDATED_SINCE},
		{"posting", required_argument, NULL, OPT_POSTING},
		{"cancel-after", required_argument, NULL, OPT_CANCEL},
		{"details", no_argument, NULL, OPT_DETAILS},
		{"port", required_argument, NULL, OPT_PORT},
		{"login-timeout", required_argument, NULL, OPT_LOGIN_TIMEOUT},
		{"paste", no_argument, NULL, OPT_PASTE},
		{"parallel", required_argument, NULL, OPT_PARALLEL},
		{"verbose", no_argument, NULL, 'v'},
		{NULL, 0, NULL, 0},
	};
	struct probe probe = {0};
	struct lever_options opts = {.auth = LEVER_AUTH_API_KEY};
	struct lever_opportunity_query query = {0};
	const char *postings[16];
	int verbosity = 0;
	int port = 0;
	int login_timeout = 30;
	bool paste = false;
	int parallel = 0;
	int c;
	while ((c = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_KEY:
			opts.api_key = optarg;
			break;
		case OPT_OAUTH:
			opts.auth = LEVER_AUTH_OAUTH;
			break;
		case OPT_CLIENT_ID:
			opts.client_id = optarg;
			break;
		case OPT_CLIENT_SECRET:
			opts.client_secret = optarg;
			break;
		case OPT_AUTH_URL:
			opts.auth_url = optarg;
			break;
		case OPT_TOKEN_FILE:
			probe.token_file = optarg;
			break;
		case OPT_CRASH:
			probe.crash_after_save = true;
			break;
		case OPT_RATE:
			opts.requests_per_second = strtod(optarg, NULL);
			break;
		case OPT_BURST:
			opts.burst = atoi(optarg);
			break;
		case OPT_DRY_RUN:
			opts.dry_run = true;
			break;
		case OPT_CONFIDENTIAL:
			opts.confidential = true;
			break;
		case OPT_MAX_ATTEMPTS:
			opts.max_attempts = atoi(optarg);
			break;
		case OPT_BACKOFF:
			opts.backoff_base = strtod(optarg, NULL);
			break;
		case OPT_TIMEOUT:
			opts.timeout_ms = atol(optarg);
			break;
		case OPT_PAGE_SIZE:
			opts.page_size = atoi(optarg);
			break;
		case OPT_UPDATED_SINCE:
			query.updated_at_start = strtoll(optarg, NULL, 10);
			break;
		case OPT_POSTING:
			if (query.n_posting_ids < sizeof(postings) / sizeof(postings[0])) {
				postings[query.n_posting_ids++] = optarg;
				query.posting_ids = postings;
			}
			break;
		case OPT_CANCEL:
			probe.cancel_after = atol(optarg);
			break;
		case OPT_DETAILS:
			probe.print_details = true;
			break;
		case OPT_PORT:
			port = atoi(optarg);
			break;
		case OPT_LOGIN_TIMEOUT:
			login_timeout = atoi(optarg);
			break;
		case OPT_PASTE:
			paste = true;
			break;
		case OPT_PARALLEL:
			parallel = atoi(optarg);
			break;
		case 'v':
			verbosity++;
			break;
		default:
			usage();
			return PROBE_EXIT_USAGE;
		}
	}
	if (argc - optind < 2) {
		usage();
		return PROBE_EXIT_USAGE;
	}
	const char *command = argv[optind];
	opts.url = argv[optind + 1];
	const char *extra = argc - optind > 2 ? argv[optind + 2] : NULL;
	log_init(verbosity >= 2 ? LOG_TRACE : verbosity == 1 ? LOG_DEBUG : LOG_INFO,
		LOG_FORMAT_TEXT);
	if (!http_global_init()) {
		return LEVER_ERR_LOCAL;
	}
	int rc;
	if (strcmp(command, "post") == 0) {
		rc = run_post(opts.url, extra ? extra : "/opportunities/probe/notes", opts.dry_run);
		goto done;
	}
	if (opts.auth == LEVER_AUTH_OAUTH) {
		if (!probe.token_file) {
			usage();
			http_global_cleanup();
			return PROBE_EXIT_USAGE;
		}
		opts.token_store = (struct lever_token_store){
			.load = store_load,
			.save = store_save,
			.ud = &probe,
		};
	}
	struct lever_client *client = lever_client_create(&opts);
	if (!client) {
		rc = PROBE_EXIT_USAGE;
		goto done;
	}
	enum lever_status status;
	if (strcmp(command, "list-opportunities") == 0 && parallel > 0) {
		status = run_parallel(client, &query, parallel, &probe);
	} else if (strcmp(command, "list-opportunities") == 0) {
		struct lever_opportunity_sink sink = {.record = on_opportunity, .ud = &probe};
		status = lever_list_opportunities(client, &query, &sink);
	} else if (strcmp(command, "list-deleted") == 0) {
		status = lever_list_deleted(client, 0, 0, on_deleted, &probe);
	} else if (strcmp(command, "list-stages") == 0) {
		status = lever_list_stages(client, on_stage, &probe);
	} else if (strcmp(command, "list-postings") == 0) {
		status = lever_list_postings(client, on_posting, &probe);
	} else if (strcmp(command, "oauth-login") == 0) {
		status = (enum lever_status)run_login(client, &opts, port, login_timeout, paste);
	} else {
		usage();
		lever_client_destroy(client);
		rc = PROBE_EXIT_USAGE;
		goto done;
	}
	struct lever_stats stats;
	lever_client_stats(client, &stats);
	printf("summary count=%ld pages=%llu requests=%llu restarts=%llu refreshes=%llu "
	       "status=%s\n",
		probe.count, (unsigned long long)stats.pages, (unsigned long long)stats.requests,
		(unsigned long long)stats.restarts, (unsigned long long)stats.refreshes,
		lever_status_text(status));
	lever_client_destroy(client);
	rc = (int)status;
done:
	http_global_cleanup();
	log_finish();
	return rc;
}
