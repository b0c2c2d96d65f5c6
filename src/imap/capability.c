/* imap/capability - the one list of capabilities (RFC 9051 7.2.2) the
 * server offers: CAPABILITY, the greeting and the OK of a login send it.
 * A command group that brings an extension adds its name here, with the
 * condition under which it is offered, and its line to docs/imap.md. */
#include "imap/session.h"

#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "util/buf.h"

struct capability {
	const char *name;
	/* offered only when this says so (NULL: always) */
	bool (*offered)(const struct imap_session *s);
};

/* before login, on an imap listener with a certificate */
static bool offer_starttls(const struct imap_session *s)
{
	return imap_session_offers_starttls(s);
}

/* RFC 9051 7.2.2: LOGIN (and AUTHENTICATE) refused until TLS */
static bool offer_logindisabled(const struct imap_session *s)
{
	return s->state == IMAP_STATE_NOT_AUTHENTICATED && !imap_session_login_allowed(s);
}

/* RFC 9051 6.2.2, RFC 4959: the mechanisms and initial responses */
static bool offer_auth(const struct imap_session *s)
{
	return imap_session_offers_login(s);
}

/* once logged in: the commands that need an account */
static bool offer_logged_in(const struct imap_session *s)
{
	return s->state == IMAP_STATE_AUTHENTICATED || s->state == IMAP_STATE_SELECTED;
}

/* RFC 4978 3: COMPRESS is valid once logged in (commands.c), and once */
static bool offer_compress(const struct imap_session *s)
{
	return offer_logged_in(s) && !s->compressed;
}

static const struct capability capabilities[] = {
	{ "IMAP4rev1", NULL },
	/* RFC 9051 (Appendix E lists what it takes of the extensions below:
	 * each is here); ENABLE IMAP4rev2 turns its rules on (cmd-session.c) */
	{ "IMAP4rev2", NULL },
	{ "STARTTLS", offer_starttls },
	{ "LOGINDISABLED", offer_logindisabled },
	{ "AUTH=PLAIN", offer_auth },
	{ "AUTH=LOGIN", offer_auth },
	{ "AUTH=SCRAM-SHA-256", offer_auth },
	{ "SASL-IR", offer_auth },
	/* RFC 7888: the reader takes {N+} literals of any size up to the limit */
	{ "LITERAL+", NULL },
	{ "ID", NULL },  /* RFC 2971 */
	/* the mailbox commands (cmd-select.c, cmd-mailbox.c, cmd-append.c, cmd-idle.c) */
	{ "UNSELECT", NULL },             /* RFC 3691 */
	{ "UIDPLUS", NULL },              /* RFC 4315 */
	{ "MOVE", NULL },                 /* RFC 6851 */
	{ "IDLE", NULL },                 /* RFC 2177 */
	{ "CHILDREN", NULL },             /* RFC 3348 */
	{ "LIST-EXTENDED", NULL },        /* RFC 5258 */
	{ "LIST-STATUS", NULL },          /* RFC 5819 */
	{ "SPECIAL-USE", NULL },          /* RFC 6154 */
	{ "CREATE-SPECIAL-USE", NULL },   /* RFC 6154 3: a folder's own use only */
	{ "STATUS=SIZE", NULL },          /* RFC 8438 */
	{ "ENABLE", NULL },  /* RFC 5161 */
	{ "NAMESPACE", NULL },  /* RFC 2342 */
	/* RFC 4978: once logged in, once per session */
	{ "COMPRESS=DEFLATE", offer_compress },
	/* RFC 9208 3.1: QUOTA and one QUOTA=RES- per resource (cmd-quota.c) */
	{ "QUOTA", offer_logged_in },
	{ "QUOTA=RES-STORAGE", offer_logged_in },
	{ "QUOTA=RES-MESSAGE", offer_logged_in },
	/* FETCH, STORE, SEARCH (cmd-fetch.c, cmd-store.c, cmd-search.c) */
	{ "BINARY", NULL },               /* RFC 3516 */
	{ "ESEARCH", NULL },              /* RFC 4731 */
	{ "SEARCHRES", NULL },            /* RFC 5182: RETURN (SAVE) and "$" */
	{ "WITHIN", NULL },               /* RFC 5032: SEARCH OLDER / YOUNGER */
	{ "CONDSTORE", NULL },            /* RFC 7162: with SELECT's parameter */
	/* RFC 7162 3.2: SELECT's QRESYNC parameter, VANISHED updates
	 * (cmd-select.c) and UID FETCH's VANISHED modifier (cmd-fetch.c) */
	{ "QRESYNC", NULL },
	/* RFC 6855: UTF-8 mailbox names (folder.c) and APPEND's UTF8 form; ENABLE
	 * turns it on */
	{ "UTF8=ACCEPT", NULL },
};

bool imap_capability_is_offered(const struct imap_session *s, const char *name)
{
	for (size_t i = 0; i < sizeof(capabilities) / sizeof(capabilities[0]); i++)
		if (strcasecmp(capabilities[i].name, name) == 0)
			return !capabilities[i].offered || capabilities[i].offered(s);
	return false;
}

void imap_capability_append(const struct imap_session *s, struct buf *out)
{
	bool first = true;
	for (size_t i = 0; i < sizeof(capabilities) / sizeof(capabilities[0]); i++) {
		if (capabilities[i].offered && !capabilities[i].offered(s))
			continue;
		if (!first)
			buf_append(out, " ", 1);
		buf_append_str(out, capabilities[i].name);
		first = false;
	}
	/* RFC 7889: the literal limit the reader enforces (NO [TOOBIG]) */
	buf_printf(out, " APPENDLIMIT=%zu", s->config->imap.literal_size);
}
