/* http/web-rate - how often the pre-login pages may mail (http/web.h): the
 * sign-up and the password reset count, per client address and per address
 * mailed, at most [web] signup_rate events within [web] rate_window
 * seconds.  The counts are rows of the store (store_web_rate_take), so
 * that the nodes of one shared store count together: behind a load
 * balancer, N nodes still allow signup_rate, not N times it.  Counted on
 * the request's worker job, before its other store work. */
#include "http/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

static int rate_take(struct store *store, const struct config_web *web, const char *what,
		     const char *name, time_t now, bool *allowed_r);

void http_web_rate_init(struct http_web_rate_job *rate, const struct http_session *s)
{
	*rate = (struct http_web_rate_job){ .client = xstrdup(s->client) };
}

void http_web_rate_clear(struct http_web_rate_job *rate)
{
	free(rate->client);
	rate->client = NULL;
}

int http_web_rate_work(struct http_web_rate_job *rate, struct store *store,
		       const struct config_web *web, const char *address, time_t now)
{
	bool allowed = false;
	rate->mail = false;
	if (rate_take(store, web, "client", rate->client, now, &allowed) != 0)
		return -1;
	rate->client_over = !allowed;
	if (rate->client_over)
		return 0;
	return rate_take(store, web, "to", address, now, &rate->mail);
}

/* rate_take - count one event of the key "WHAT NAME" */
static int rate_take(struct store *store, const struct config_web *web, const char *what,
		     const char *name, time_t now, bool *allowed_r)
{
	const char *error = NULL;
	char *key = xasprintf("%s %s", what, name);
	int rc = store_web_rate_take(store, key, now, web->signup_rate, web->rate_window,
				     allowed_r, &error);
	free(key);
	if (rc != 0)
		log_error("http-web-rate", "what=%s error=\"%s\"", what,
			  error ? error : "unknown");
	return rc;
}

void http_web_rate_refuse(struct http_session *s, const struct http_job_origin *origin,
			  const struct http_web_rate_job *rate, const char *what)
{
	log_info("http-web-rate", "session=%s client=%s what=%s result=rate-limited",
		 origin->sid, rate->client, what);
	if (!s || s->conn.dead)
		return;
	struct buf main_html;
	buf_init(&main_html);
	http_web_message(&main_html, "Too many requests came from your address: try again"
			 " later.");
	http_web_respond(s, 429, "Too many requests", &main_html);
}

char *http_web_address_lower(const char *email)
{
	char *address = xstrdup(email);
	for (char *c = address; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return address;
}
