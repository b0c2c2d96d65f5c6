/* config - petrel.conf: one struct of settings, read from an INI file with libinih.
 *
 * config_load() fills a struct config with defaults, then applies the file.
 * The caller owns the result and frees it with config_free().  On a bad file it
 * returns NULL and sets *error_r to "file:line: what is wrong" (static storage
 * owned by the config module, valid until the next call).
 *
 * File layout (see docs/configuration.md and petrel.conf.example):
 *   [server]   hostname, data_dir, user, auth_user, keys_user, log_level, syslog,
 *              log_buffer, workers, node, node_report_interval, node_stale_after
 *   [domains]  local = example.org, example.net
 *   [tls]      certificate, key
 *   [limits]   line and message sizes, recipients, errors, connections
 *   [timeouts] RFC 5321 4.5.3.2 timers, in seconds
 *   [auth]     AUTH offering and failure throttling; SPF and DMARC settings
 *   [dns]      resolver for MX, SPF, DKIM lookups
 *   [smtp]     SMTP-time checks: reverse DNS, HELO syntax, sender domain
 *   [imap]     the IMAP server's limits and autologout timer
 *   [pop3]     the POP3 server's limits and inactivity timer
 *   [http]     the HTTP server's request limits and timers
 *   [webhook]  the event webhook's batches, timers and retries
 *   [events]   how long events are kept, and how many may wait for the store
 *   [dkim]     DKIM verification limits
 *   [srs]      the Sender Rewriting Scheme of forwarded mail: secret, domain, age
 *   [mailbox]  the mailbox store: default quota, Sent copies of submissions
 *   [queue]    retries, expiry, delay notices
 *   [delivery] outgoing SMTP: TLS policy, port, connection limits
 *   [relay]    a smarthost for all mail or some domains
 *   [tls-policy] per recipient domain: none|may|encrypt|verify
 *   [cluster]  mailboxes across nodes: where this node takes mail and logins
 *              for the accounts homed here, the nodes' networks, their secret
 *   [listener NAME]  role = mx|submission|submissions|local|imap|imaps|pop3|pop3s|
 *              http|https,
 *              address = host:port
 */
#ifndef PETREL_CONFIG_H
#define PETREL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum listener_role {
	LISTENER_ROLE_MX,          /* port 25: STARTTLS offered, receives for local domains */
	LISTENER_ROLE_SUBMISSION,  /* ports 587, 2525: STARTTLS */
	LISTENER_ROLE_SUBMISSIONS, /* port 465: implicit TLS (RFC 8314) */
	LISTENER_ROLE_LOCAL,       /* unix socket for petrel sendmail: local users, trusted */
	LISTENER_ROLE_IMAP,        /* port 143: IMAP, STARTTLS (imap/) */
	LISTENER_ROLE_IMAPS,       /* port 993: IMAP over implicit TLS (RFC 8314) */
	LISTENER_ROLE_POP3,        /* port 110: POP3, STLS (pop3/) */
	LISTENER_ROLE_POP3S,       /* port 995: POP3 over implicit TLS (RFC 8314) */
	LISTENER_ROLE_HTTP,        /* the HTTP API and web face (http/) */
	LISTENER_ROLE_HTTPS,       /* the same over TLS from the first octet */
};

enum bare_newline_policy {
	BARE_NEWLINE_REJECT, /* a message with bare CR or LF gets 550 5.5.2 */
	BARE_NEWLINE_ACCEPT, /* kept as data bytes; never a line end */
};

/* a network of proxy_from: IPv4 as v4-mapped IPv6 (::ffff:a.b.c.d), its
 * prefix length counted the same way (an IPv4 /24 is 120) */
struct config_network {
	unsigned char address[16];   /* host bits zero */
	unsigned bits;
};

struct config_listener {
	char *name;              /* the NAME of [listener NAME] */
	enum listener_role role;
	char *address;           /* "127.0.0.1:2525", "[::1]:2525", "*:25", "unix:/path" */
	int line;                /* of its [listener NAME] header; 0 = a default listener */
	bool receiving_checks;   /* mx: SPF, DKIM, DMARC, ARC and Authentication-Results
				    of unauthenticated mail (smtp/verify.c): true */
	bool proxy_protocol;     /* a PROXY v1/v2 header comes first (net/proxy.c): false */
	struct config_network *proxy_from; /* the balancers allowed to send it */
	size_t proxy_from_count;
};

struct config_limits {
	size_t command_line;      /* octets incl. CRLF, RFC 5321 4.5.3.1.4: 512 */
	size_t text_line;         /* octets incl. CRLF, RFC 5321 4.5.3.1.6: 1000 */
	size_t message_size;      /* octets, announced in SIZE: 26214400 */
	unsigned recipients;      /* per message, RFC 5321 4.5.3.1.8 minimum 100 */
	unsigned errors;          /* bad commands before 421 and close: 10 */
	unsigned connections;     /* concurrent sessions in total: 20000 */
	unsigned connections_per_ip; /* concurrent sessions per client address: 100 */
	unsigned received_headers;/* hop count limit, for loop detection: 100 */
	unsigned connection_rate; /* new connections per minute per client address; 0 = no limit */
	enum bare_newline_policy bare_newline;
};

struct config_timeouts {
	unsigned greeting;   /* seconds; RFC 5321 4.5.3.2.1: 300 */
	unsigned command;    /* server waiting for the next command: 300 (4.5.3.2.7) */
	unsigned data_block; /* between data blocks: 180 (4.5.3.2.5) */
	unsigned tls_handshake; /* 60 */
	unsigned proxy_header; /* a PROXY protocol header to arrive: 10 */
	unsigned shutdown;   /* SIGTERM: most seconds to finish open sessions: 3 */
};

struct config_auth {
	bool plaintext_loopback; /* offer AUTH without TLS to 127.0.0.0/8 and ::1 clients */
	unsigned slow_after;     /* AUTH failures per address before replies slow down: 3 */
	unsigned lockout_after;  /* failures before the address is refused: 10 */
	unsigned failure_window; /* seconds failures are remembered: 900 */
	unsigned lockout_time;   /* seconds a locked-out address is refused: 900 */
	unsigned ipv6_prefix;    /* IPv6 failures counted per prefix of this length: 64 */
	unsigned throttle_entries; /* client addresses the throttle remembers: 65536 */
	unsigned hash_workers;   /* threads that verify passwords, apart from [server] workers: 1 */
	unsigned hash_queue;     /* password checks waiting or running before AUTH gets 454: 64 */
	unsigned apikeys_per_account; /* keys POST /v3/api_keys may give one account: 100 */
	unsigned scram_iterations; /* PBKDF2 rounds of new SCRAM-SHA-256 credentials: 65536
				      (Cyrus SASL clients refuse more) */
	unsigned helper_timeout; /* seconds the network process waits for the auth process: 10 */
	char *public_suffix_list; /* the Public Suffix List file, for DMARC's organizational
				     domain: /usr/share/publicsuffix/public_suffix_list.dat */
	bool dmarc_enforce;      /* apply the sender domain's DMARC policy; false = only record: true */
	unsigned spf_void_lookups; /* SPF lookups answering nothing before permerror: 2 */
	unsigned spf_timeout;    /* seconds an SPF check may take before temperror: 20 */
	char *authserv_id;       /* Authentication-Results' authserv-id: the hostname */
	bool spf_reject;         /* SPF fail at MAIL FROM gets 550 5.7.23: false */
	char *arc_trusted_forwarders; /* sealers whose valid ARC chain overrides a
					 DMARC fail: domains, comma/space separated; "" */
	char *arc_seal_key;      /* key id (DATA_DIR/dkim/ID.pem) sealing forwarded
				    mail, s= of the seal, d= the hostname; "" = none */
	unsigned dmarc_reports;  /* enum config_dmarc_reports: daily sends the DMARC
				    aggregate reports of each day; off by default */
	char *report_org_name;   /* the reports' org_name; "" = the hostname */
	char *report_email;      /* their From: and envelope sender; NULL = postmaster@hostname */
	char *verifier;          /* the verifier's address (smtp/verifier.c); NULL = off */
	unsigned verifier_interval; /* seconds between two reports to one sender: 60 */
};

/* [smtp]: the SMTP-time checks of unauthenticated clients (smtp/checks.c) */
enum config_reverse_dns {
	SMTP_REVERSE_DNS_OFF,     /* no lookup */
	SMTP_REVERSE_DNS_RECORD,  /* looked up, logged, in Received:; never refused */
	SMTP_REVERSE_DNS_REQUIRE, /* mx: MAIL refused without a forward-confirmed name */
};
enum config_dmarc_reports {
	DMARC_REPORTS_OFF,
	DMARC_REPORTS_DAILY,
};
enum config_helo_check {
	SMTP_HELO_CHECK_OFF,      /* any printable word */
	SMTP_HELO_CHECK_SYNTAX,   /* mx: a domain or an address literal (RFC 5321 4.1.4) */
};
enum config_unknown_sender {
	SMTP_UNKNOWN_SENDER_550,  /* 550 5.1.8 */
	SMTP_UNKNOWN_SENDER_450,  /* 450 4.1.8 (Postfix's unknown_address_reject_code) */
};
struct config_smtp {
	unsigned reverse_dns;         /* enum config_reverse_dns: record */
	unsigned helo_check;          /* enum config_helo_check: off */
	bool sender_domain_check;     /* mx: the MAIL FROM domain must route mail: false */
	unsigned unknown_sender_code; /* enum config_unknown_sender: 550 */
};

/* [imap]: the IMAP server (imap/, docs/imap.md) */
struct config_imap {
	unsigned idle_timeout;    /* seconds without a command before autologout once
				     logged in (RFC 9051 5.4: at least 30 minutes): 1800 */
	unsigned login_timeout;   /* the same before login (RFC 9051 5.4 leaves it
				     open; short, against idle unauthenticated
				     connections): 180 */
	size_t command_line;      /* octets of a command outside its literals: 65536 */
	size_t literal_size;      /* octets of one literal (APPEND's message,
				     APPENDLIMIT): [limits] message_size */
	unsigned sessions_per_account; /* logged-in sessions of one account at once: 20 */
};

/* [pop3]: the POP3 server (pop3/, docs/pop3.md) */
struct config_pop3 {
	unsigned idle_timeout;    /* seconds without a command before the session
				     ends (RFC 1939 3: at least 10 minutes): 600 */
	size_t command_line;      /* octets of a line from the client (a command or an
				     AUTH response) with its CRLF: 4096 */
};

/* [http]: the HTTP server (http/, docs/http.md) */
/* the longest [http] public_url: room in a List-Unsubscribe field (998
 * octets a line) for it and a token of two 254-octet addresses */
#define CONFIG_PUBLIC_URL_MAX 160

struct config_http {
	size_t header_size;       /* octets of a request's line and header fields: 16384 */
	unsigned header_count;    /* header fields of a request: 100 */
	size_t body_size;         /* octets of a request's body: 32 MiB */
	size_t body_memory;       /* octets of the bodies all requests hold: 256 MiB */
	unsigned request_timeout; /* seconds from a request's first octet to its last: 30 */
	unsigned idle_timeout;    /* seconds a kept-alive connection waits for the next: 60 */
	struct config_network *metrics_from; /* who may GET /metrics: 127.0.0.0/8, ::1/128 */
	size_t metrics_from_count;
	/* POST /v3/mail/send (SendGrid's limits by default) */
	unsigned send_personalizations;  /* personalizations per request: 1000 */
	unsigned send_recipients;        /* to + cc + bcc of a request: 1000 */
	unsigned send_categories;        /* categories per request: 10 */
	size_t send_custom_args_size;    /* octets of custom_args (each set): 10000 */
	size_t send_substitutions_size;  /* octets of a personalization's substitutions: 10000 */
	size_t send_total_size;          /* octets of a request's messages together: 64 MiB */
	unsigned send_at_max;            /* seconds ahead a send_at may be: 72 h */
	char *public_url;                /* where clients reach this server, without a
					    final '/': "https://HOSTNAME" */
	unsigned stats_days;             /* days one GET /v3/stats may span: 1000 */
	unsigned categories_max;         /* categories in one answer of /v3/categories
					    and /v3/categories/stats/sums: 500 */
};

/* [webhook]: the event webhook's dispatcher (http/webhook-dispatch.c,
 * docs/http.md "Event webhook") */
struct config_webhook {
	unsigned batch_size;      /* events per POST, at most: 100 */
	unsigned interval;        /* seconds between looks for new events: 1 */
	unsigned timeout;         /* seconds one POST may take, connect to answer: 10 */
	unsigned retry_initial;   /* seconds before the first retry, then doubled: 5 */
	unsigned retry_max;       /* seconds between retries, at most: 600 */
	size_t response_size;     /* octets of the receiver's answer read: 16384 */
};

/* [web]: the web pages (docs/web.md) */
enum config_web_signup {
	CONFIG_WEB_SIGNUP_CLOSED = 0,   /* the default: accounts come from petrel account add */
	CONFIG_WEB_SIGNUP_OPEN,
	CONFIG_WEB_SIGNUP_APPROVAL,     /* an operator approves each (petrel account approve) */
};
struct config_web {
	unsigned signup;                /* enum config_web_signup */
	unsigned session_lifetime;      /* seconds a login's session lasts: 12 h */
	unsigned form_fields;           /* name=value pairs of a form, at most: 16 */
	size_t form_field_size;         /* octets of a form's name or value, as sent: 1024 */
	unsigned password_min;          /* octets of a web password, at least: 10 */
	unsigned password_max;          /* ... at most: 256 (the auth process takes 1024) */
	unsigned verify_lifetime;       /* seconds a sign-up's verification link works: 48 h */
	unsigned reset_lifetime;        /* seconds a password reset link works: 1 h */
	unsigned signup_rate;           /* sign-ups and resets per client address, and
					   mails per address, within rate_window: 5 */
	unsigned rate_window;           /* seconds: 1 h */
	char *mail_from;                /* From: of the pages' mail: postmaster@HOSTNAME */
	unsigned dashboard_rows;        /* rows of a dashboard list (events of a page, ...): 50 */
	unsigned dashboard_days;        /* days in the activity chart: 14 */
	size_t sandbox_show_size;       /* octets of a sandbox message shown: 1 MiB */
	char *operators;                /* accounts that may open /operator, separated by
					   commas or spaces: none */
	unsigned operator_rows;         /* accounts /operator lists, at most: 1000 */
	unsigned domain_checks;         /* domains /dashboard/domains checks per load: 10 */
	unsigned domain_check_timeout;  /* seconds it waits for their answers: 15 */
	unsigned domain_check_pages;    /* such loads checking at once, server-wide: 4 */
};

struct config_dns {
	char *resolver;          /* "127.0.0.1@5353"; "" = /etc/resolv.conf */
	char *special_zones;     /* RFC 6761 zones to resolve anyway ("test"); "" = none */
	unsigned timeout;        /* seconds per query: 10 */
};

enum store_backend_kind {
	STORE_BACKEND_SQLITE,      /* <data_dir>/petrel.db */
	STORE_BACKEND_POSTGRESQL,  /* [store] url */
};

struct config_store {
	unsigned backend;          /* enum store_backend_kind: sqlite */
	char *url;                 /* postgresql://...; "" = unset (required by postgresql) */
	char *credentials_url;     /* postgresql://... of the password secrets (the auth
				    * process's role); "" = DATA_DIR/auth/credentials.db */
	unsigned statement_timeout;/* seconds each PostgreSQL statement may run: 10 */
	unsigned connections;      /* PostgreSQL connections per process at most: 4 */
};

struct config_events {
	unsigned retention;      /* seconds events are kept; 0 = for ever: 2592000 (30 days) */
	unsigned max_pending;    /* events waiting for the store before new ones are dropped: 100000 */
	unsigned write_delay;    /* ms a first event waits for others to share its transaction: 50 */
};

struct config_dkim {
	unsigned verify_signatures; /* DKIM signatures verified per message: 5 */
	size_t verify_header_size;  /* header section kept while verifying: 262144 */
};

struct config_mailbox {
	size_t quota_default;          /* bytes per account unless its plan says; 0 = none */
	unsigned quota_messages_default; /* messages per account likewise; 0 = none */
	bool save_sent;                /* keep a copy of an account's submission in its Sent */
	size_t cache_size;             /* bytes of closed folders kept in memory: 64 MiB */
	size_t header_cache_max;       /* longest header kept in petrel.cache: 64 KiB */
};

struct config_srs {
	bool enabled;            /* rewrite the sender of mail aliases forward: yes */
	char *secret_file;       /* NULL = DATA_DIR/srs.secret, made at the first start */
	char *domain;            /* SRS addresses' domain; NULL = [server] hostname */
	unsigned max_age;        /* days an SRS address is honoured: 21 */
};

struct config_queue {
	unsigned retry_initial;  /* seconds before the first retry: 300 */
	unsigned retry_max;      /* the retry interval doubles up to this: 14400 */
	unsigned lifetime;       /* seconds before a deferred message bounces: 432000 (5 days) */
	unsigned delay_warning;  /* seconds before one delay notice is sent; 0 = never: 14400 */
	unsigned concurrency;    /* messages being delivered at once: 200 */
	unsigned unreadable_attempts; /* reads of a damaged file before it moves to corrupt/: 5 */
	unsigned active_limit;   /* messages in memory (ready or being delivered): 10000 */
	size_t memory_limit;     /* bytes of message bodies kept in memory: 64 MiB */
	bool double_bounce_to_postmaster; /* failed mail from <> goes to postmaster, else dropped */
	unsigned local_sync_delay; /* ms a Maildir step waits for a sync others start: 10 */
};

struct config_delivery {
	char *tls;               /* default MX TLS policy: none|may|encrypt|verify ("may") */
	unsigned port;           /* port of remote MX hosts: 25 (tests use others) */
	unsigned max_connections;    /* outgoing, in total: 100 */
	unsigned max_per_destination;/* outgoing, per domain or relay: 10 */
	char *source_address;    /* bind outgoing connections; "" = any */
};

struct config_relay {
	char *host;              /* "" = none; a preset name (gmail...) or host:port */
	char *username;
	char *password;
	char *tls;               /* verify|encrypt|implicit; "" = the preset's */
	char *domains;           /* "*" or a list of recipient domains */
};

/* [cluster]: mailboxes across nodes (docs/scaling.md).  Each address is
 * one of this node's listeners, as other nodes reach it: IPv4:port or
 * [IPv6]:port; NULL = unset. */
struct config_cluster {
	char *mail;              /* a listener of role mx: mail for accounts homed here */
	char *imap;              /* a listener of role imap: IMAP logins proxied here */
	char *pop3;              /* a listener of role pop3: POP3 logins proxied here */
	struct config_network *from; /* the nodes' networks: only they use the above */
	size_t from_count;
	char *secret_file;       /* the secret the nodes share; read by the auth
				    process only, never by the network process */
	unsigned ticket_lifetime; /* seconds a login ticket is good for (authd/ticket.h):
				     30, at most AUTHD_TICKET_LIFETIME_MAX (60) */
	unsigned proxy_timeout;  /* seconds to connect to an account's home node and for
				    each line of the login there: 10 */
};

struct config_tls_policy {
	char *domain;            /* lower-case recipient domain */
	char *policy;            /* none|may|encrypt|verify */
};

struct config {
	char *path;          /* the file it was read from */
	char *hostname;      /* for the banner, EHLO and Received: */
	char *data_dir;      /* spool, mail/, petrel.db, tls/ */
	char *user;          /* the network process drops to this user after binding; "" = stay */
	char *auth_user;     /* the auth process's user: petrel-auth, or user's if root or "" */
	char *keys_user;     /* the keys process's user: petrel-keys, or user's if root or "" */
	char *log_level;     /* debug|info|warn|error */
	bool syslog;
	size_t log_buffer;   /* bytes of log lines waiting for stderr/syslog before lines are dropped */
	unsigned workers;    /* worker pool threads for fsync and other blocking work */
	char *node;          /* this node's name in the store: [server] node; the hostname */
	unsigned node_report_interval; /* seconds between two reports to the store: 10 */
	unsigned node_stale_after;     /* a node silent this long is stale: 30 */
	unsigned malloc_arenas;  /* glibc malloc arenas a process may make (M_ARENA_MAX):
				    2; 0 = glibc's own limit, 8 per core */
	unsigned malloc_trim_messages; /* malloc_trim after work over this many
					  messages: 10000; 0 = never */
	size_t huge_pages_from;  /* arrays this large in huge pages (util/heap):
				    1 MiB; 0 = never */
	size_t malloc_mmap_from; /* allocations this large in mappings of their
				    own, and a pool's free top beyond it given
				    back (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD):
				    1 MiB; 0 = glibc's sliding threshold */

	char **local_domains;   /* lower-case, NULL-terminated */
	size_t local_domain_count;
	char *postmaster;       /* [domains] postmaster: where postmaster@ every local
				   domain goes when no alias or account of that name
				   exists; NULL = each domain's own postmaster mailbox */

	char *tls_certificate; /* PEM file; NULL = no TLS (STARTTLS not offered) */
	char *tls_key;

	struct config_limits limits;
	struct config_timeouts timeouts;
	struct config_auth auth;
	struct config_dns dns;
	struct config_smtp smtp;
	struct config_imap imap;
	struct config_pop3 pop3;
	struct config_http http;
	struct config_webhook webhook;
	struct config_web web;
	struct config_events events;
	struct config_store store;
	struct config_dkim dkim;
	struct config_srs srs;
	struct config_mailbox mailbox;
	struct config_queue queue;
	struct config_delivery delivery;
	struct config_relay relay;
	struct config_cluster cluster;
	struct config_tls_policy *tls_policies;  /* [tls-policy] */
	size_t tls_policy_count;

	struct config_listener *listeners;
	size_t listener_count;

	int *key_lines;      /* private to config.c: see config_key_line() */
};

/* config_duration_parse - a duration as the file writes it: decimal digits
 * with an optional s, m, h or d (30m, 2h, 3d); seconds into *VALUE_R.  The
 * CLI uses it too (petrel queue list --older-than). */
bool config_duration_parse(const char *s, unsigned long long *value_r);
/* config_size_parse - a size as the file writes it: decimal digits with an
 * optional k, M or G (1024-based); bytes into *VALUE_R.  The CLI uses it
 * too (petrel plan set --quota). */
bool config_size_parse(const char *s, unsigned long long *value_r);

/* config_load - read FILE; NULL and *error_r on failure */
struct config *config_load(const char *file, const char **error_r);
/* config_defaults - a config with every default and no listeners */
struct config *config_defaults(void);
void config_free(struct config **config);

/* config_key_line - the line of the file where [SECTION] KEY was set; 0 if
 * it was not (a default).  For checks that need a higher module, such as
 * whether [relay] host names a known preset, to report FILE:LINE too. */
int config_key_line(const struct config *config, const char *section, const char *key);

/* config_listener_is_cluster_mail - L is the listener of [cluster] mail:
 * the one other nodes deliver to (docs/scaling.md) */
bool config_listener_is_cluster_mail(const struct config *config,
				     const struct config_listener *l);
/* config_listener_named - the listener called NAME, or NULL */
const struct config_listener *config_listener_named(const struct config *config,
						    const char *name);
/* config_is_local_domain - true if DOMAIN (any case, no trailing dot) is ours */
bool config_is_local_domain(const struct config *config, const char *domain);
/* config_url_is_postgresql - URL is a postgresql:// (or postgres://) URI */
bool config_url_is_postgresql(const char *url);

const char *listener_role_name(enum listener_role role);
/* listener_role_is_implicit_tls - TLS from the first octet (RFC 8314):
 * submissions, imaps, pop3s, https (inline: net/ uses it without config.c) */
static inline bool listener_role_is_implicit_tls(enum listener_role role)
{
	return role == LISTENER_ROLE_SUBMISSIONS || role == LISTENER_ROLE_IMAPS ||
		role == LISTENER_ROLE_POP3S || role == LISTENER_ROLE_HTTPS;
}

#endif
