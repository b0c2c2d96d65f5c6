/* config - read and validate petrel.conf with libinih.
 *
 * libinih (Debian 12: version 55, built without INI_HANDLER_LINENO) does not
 * tell the handler which line it is on, so the file is fed to
 * ini_parse_stream() through our own reader.  The reader counts physical
 * lines, rejects lines too long for libinih's fixed buffer (instead of letting
 * libinih split them silently), and sees every "[section]" header itself.
 * Seeing the headers lets us report unknown and empty sections, duplicate
 * listener names and incomplete listeners at the line of their header, which
 * the handler alone (called only for key = value lines) could not.
 *
 * Error handling: the first error (smallest line number) wins.  When we
 * record an error the reader reports end of file, so parsing stops there.
 * libinih's own syntax errors (a line with neither '=' nor ']') come back as
 * its return value; the smaller of that and ours is reported.
 */
#include "config/config.h"

#include "util/domain.h"
#include "util/dot-atom.h"
#include "util/log.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <ini.h>

#define CONFIG_ERROR_MAX 1024
#define LISTENER_NAME_MAX 40 /* libinih truncates section names at 49 */

enum config_section {
	SECTION_NONE, /* before the first header */
	SECTION_SERVER,
	SECTION_DOMAINS,
	SECTION_TLS,
	SECTION_LIMITS,
	SECTION_TIMEOUTS,
	SECTION_AUTH,
	SECTION_DNS,
	SECTION_QUEUE,
	SECTION_DELIVERY,
	SECTION_RELAY,
	SECTION_TLS_POLICY,  /* keys are recipient domains */
	SECTION_EVENTS,
	SECTION_DKIM,
	SECTION_SRS,
	SECTION_SMTP,
	SECTION_IMAP,
	SECTION_MAILBOX,
	SECTION_POP3,
	SECTION_HTTP,
	SECTION_WEB,
	SECTION_STORE,
	SECTION_CLUSTER,
	SECTION_WEBHOOK,
	SECTION_LISTENER,
};

enum key_type {
	KEY_HOSTNAME,     /* char *, a valid domain name, lower-cased */
	KEY_STRING,       /* char *, may be empty */
	KEY_PATH,         /* char *, relative to the config file's directory */
	KEY_OPTIONAL_PATH,/* as KEY_PATH; empty = NULL */
	KEY_LOG_LEVEL,    /* char *, debug|info|warn|error */
	KEY_BOOL,         /* bool */
	KEY_UINT,         /* unsigned, plain decimal */
	KEY_SIZE,         /* size_t, decimal with optional k/M/G suffix */
	KEY_DURATION,     /* unsigned seconds, decimal with optional s/m/h/d suffix */
	KEY_BARE_NEWLINE, /* enum bare_newline_policy */
	KEY_TLS_POLICY,   /* char *, none|may|encrypt|verify|implicit; "" = unset */
	KEY_DOMAINS,      /* local_domains; accumulates */
	KEY_IP_ADDRESS,   /* char *, an IPv4 or IPv6 address; "" = unset */
	KEY_RESOLVERS,    /* char *, IP or IP@PORT, several separated by commas or spaces */
	KEY_DOMAIN_LIST,  /* char *, domain names separated by commas or spaces */
	KEY_RELAY_HOST,   /* char *, a preset name or HOST:PORT; "" = none */
	KEY_RELAY_DOMAINS,/* char *, "*" or a list of domain names */
	KEY_ADDRESS,      /* char *, local@domain (dot-atom local part), domain
			     lower-cased without one trailing dot; "" = unset */
	KEY_NODE_ADDRESS, /* char *, IPv4:port or [IPv6]:port; "" = NULL */
	KEY_NETWORKS,     /* struct config_network * then its size_t count:
			     ADDRESS/PREFIX, several separated by commas or spaces */
	KEY_CHOICE,       /* unsigned, the index of the value in key_choices' words */
};

struct key_def {
	enum config_section section;
	const char *name;
	enum key_type type;
	size_t offset;        /* into struct config */
	unsigned long long min, max;
};

#define CONFIG_OFFSET(member) offsetof(struct config, member)

/* KEY_CHOICE words, in the order of their enum's values (config.h) */
static const char *const reverse_dns_words[] = { "off", "record", "require", NULL };
static const char *const helo_check_words[] = { "off", "syntax", NULL };
static const char *const unknown_sender_words[] = { "550", "450", NULL };
static const char *const dmarc_reports_words[] = { "off", "daily", NULL };
static const char *const store_backend_words[] = { "sqlite", "postgresql", NULL };
static const char *const web_signup_words[] = { "closed", "open", "approval", NULL };
static const struct key_choice {
	size_t offset;
	const char *const *words;
} key_choices[] = {
	{ CONFIG_OFFSET(smtp.reverse_dns), reverse_dns_words },
	{ CONFIG_OFFSET(smtp.helo_check), helo_check_words },
	{ CONFIG_OFFSET(smtp.unknown_sender_code), unknown_sender_words },
	{ CONFIG_OFFSET(auth.dmarc_reports), dmarc_reports_words },
	{ CONFIG_OFFSET(store.backend), store_backend_words },
	{ CONFIG_OFFSET(web.signup), web_signup_words },
};

static const struct key_def key_defs[] = {
	{ SECTION_SERVER, "hostname", KEY_HOSTNAME, CONFIG_OFFSET(hostname), 0, 0 },
	{ SECTION_SERVER, "data_dir", KEY_PATH, CONFIG_OFFSET(data_dir), 0, 0 },
	{ SECTION_SERVER, "user", KEY_STRING, CONFIG_OFFSET(user), 0, 0 },
	{ SECTION_SERVER, "auth_user", KEY_STRING, CONFIG_OFFSET(auth_user), 0, 0 },
	{ SECTION_SERVER, "keys_user", KEY_STRING, CONFIG_OFFSET(keys_user), 0, 0 },
	{ SECTION_SERVER, "log_level", KEY_LOG_LEVEL, CONFIG_OFFSET(log_level), 0, 0 },
	{ SECTION_SERVER, "syslog", KEY_BOOL, CONFIG_OFFSET(syslog), 0, 0 },
	{ SECTION_SERVER, "log_buffer", KEY_SIZE, CONFIG_OFFSET(log_buffer), 4096, 1073741824 },
	{ SECTION_SERVER, "workers", KEY_UINT, CONFIG_OFFSET(workers), 1, 64 },
	{ SECTION_SERVER, "node", KEY_STRING, CONFIG_OFFSET(node), 0, 0 },
	{ SECTION_SERVER, "node_report_interval", KEY_DURATION,
	  CONFIG_OFFSET(node_report_interval), 1, 3600 },
	{ SECTION_SERVER, "node_stale_after", KEY_DURATION, CONFIG_OFFSET(node_stale_after), 2,
	  86400 },
	{ SECTION_SERVER, "malloc_arenas", KEY_UINT, CONFIG_OFFSET(malloc_arenas), 0, 64 },
	{ SECTION_SERVER, "malloc_trim_messages", KEY_UINT, CONFIG_OFFSET(malloc_trim_messages), 0,
	  100000000 },
	/* 0 = never; at most 1 GiB */
	{ SECTION_SERVER, "huge_pages_from", KEY_SIZE, CONFIG_OFFSET(huge_pages_from), 0,
	  1073741824ULL },
	/* 0 = glibc's sliding threshold; at most glibc's 32 MiB */
	{ SECTION_SERVER, "malloc_mmap_from", KEY_SIZE, CONFIG_OFFSET(malloc_mmap_from), 0,
	  33554432ULL },
	{ SECTION_DOMAINS, "local", KEY_DOMAINS, 0, 0, 0 },
	{ SECTION_DOMAINS, "postmaster", KEY_ADDRESS, CONFIG_OFFSET(postmaster), 0, 0 },
	{ SECTION_TLS, "certificate", KEY_OPTIONAL_PATH, CONFIG_OFFSET(tls_certificate), 0, 0 },
	{ SECTION_TLS, "key", KEY_OPTIONAL_PATH, CONFIG_OFFSET(tls_key), 0, 0 },
	{ SECTION_LIMITS, "command_line", KEY_SIZE,
	  CONFIG_OFFSET(limits.command_line), 512, 65536 },
	{ SECTION_LIMITS, "text_line", KEY_SIZE,
	  CONFIG_OFFSET(limits.text_line), 1000, 1048576 },
	{ SECTION_LIMITS, "message_size", KEY_SIZE,
	  CONFIG_OFFSET(limits.message_size), 1024, 2147483648ULL },
	{ SECTION_LIMITS, "recipients", KEY_UINT,
	  CONFIG_OFFSET(limits.recipients), 1, 100000 },
	{ SECTION_LIMITS, "errors", KEY_UINT, CONFIG_OFFSET(limits.errors), 1, 1000 },
	{ SECTION_LIMITS, "connections", KEY_UINT,
	  CONFIG_OFFSET(limits.connections), 1, 1000000 },
	{ SECTION_LIMITS, "connections_per_ip", KEY_UINT,
	  CONFIG_OFFSET(limits.connections_per_ip), 1, 1000000 },
	{ SECTION_LIMITS, "received_headers", KEY_UINT,
	  CONFIG_OFFSET(limits.received_headers), 10, 1000 },
	{ SECTION_LIMITS, "bare_newline", KEY_BARE_NEWLINE,
	  CONFIG_OFFSET(limits.bare_newline), 0, 0 },
	{ SECTION_TIMEOUTS, "greeting", KEY_UINT, CONFIG_OFFSET(timeouts.greeting), 1, 86400 },
	{ SECTION_TIMEOUTS, "command", KEY_UINT, CONFIG_OFFSET(timeouts.command), 1, 86400 },
	{ SECTION_TIMEOUTS, "data_block", KEY_UINT,
	  CONFIG_OFFSET(timeouts.data_block), 1, 86400 },
	{ SECTION_TIMEOUTS, "tls_handshake", KEY_UINT,
	  CONFIG_OFFSET(timeouts.tls_handshake), 1, 3600 },
	{ SECTION_TIMEOUTS, "proxy_header", KEY_UINT,
	  CONFIG_OFFSET(timeouts.proxy_header), 1, 3600 },
	{ SECTION_TIMEOUTS, "shutdown", KEY_UINT, CONFIG_OFFSET(timeouts.shutdown), 1, 3600 },
	{ SECTION_LIMITS, "connection_rate", KEY_UINT,
	  CONFIG_OFFSET(limits.connection_rate), 0, 1000000 },
	{ SECTION_AUTH, "plaintext_loopback", KEY_BOOL, CONFIG_OFFSET(auth.plaintext_loopback), 0, 0 },
	{ SECTION_AUTH, "slow_after", KEY_UINT, CONFIG_OFFSET(auth.slow_after), 0, 1000 },
	{ SECTION_AUTH, "lockout_after", KEY_UINT, CONFIG_OFFSET(auth.lockout_after), 0, 1000 },
	{ SECTION_AUTH, "failure_window", KEY_UINT, CONFIG_OFFSET(auth.failure_window), 1, 86400 },
	{ SECTION_AUTH, "lockout_time", KEY_UINT, CONFIG_OFFSET(auth.lockout_time), 1, 86400 },
	{ SECTION_AUTH, "ipv6_prefix", KEY_UINT, CONFIG_OFFSET(auth.ipv6_prefix), 16, 128 },
	{ SECTION_AUTH, "throttle_entries", KEY_UINT,
	  CONFIG_OFFSET(auth.throttle_entries), 100, 10000000 },
	{ SECTION_AUTH, "hash_workers", KEY_UINT, CONFIG_OFFSET(auth.hash_workers), 1, 64 },
	{ SECTION_AUTH, "apikeys_per_account", KEY_UINT, CONFIG_OFFSET(auth.apikeys_per_account),
	  1, 100000 },
	{ SECTION_AUTH, "hash_queue", KEY_UINT, CONFIG_OFFSET(auth.hash_queue), 1, 100000 },
	{ SECTION_AUTH, "scram_iterations", KEY_UINT,
	  CONFIG_OFFSET(auth.scram_iterations), 4096, 10000000 },
	{ SECTION_AUTH, "helper_timeout", KEY_UINT, CONFIG_OFFSET(auth.helper_timeout), 1, 300 },
	{ SECTION_AUTH, "public_suffix_list", KEY_PATH, CONFIG_OFFSET(auth.public_suffix_list),
	  0, 0 },
	{ SECTION_AUTH, "dmarc_enforce", KEY_BOOL, CONFIG_OFFSET(auth.dmarc_enforce), 0, 0 },
	{ SECTION_AUTH, "spf_void_lookups", KEY_UINT, CONFIG_OFFSET(auth.spf_void_lookups), 1, 20 },
	{ SECTION_AUTH, "spf_timeout", KEY_UINT, CONFIG_OFFSET(auth.spf_timeout), 1, 600 },
	{ SECTION_AUTH, "authserv_id", KEY_HOSTNAME, CONFIG_OFFSET(auth.authserv_id), 0, 0 },
	{ SECTION_AUTH, "spf_reject", KEY_BOOL, CONFIG_OFFSET(auth.spf_reject), 0, 0 },
	{ SECTION_AUTH, "arc_trusted_forwarders", KEY_DOMAIN_LIST,
	  CONFIG_OFFSET(auth.arc_trusted_forwarders), 0, 0 },
	{ SECTION_AUTH, "arc_seal_key", KEY_STRING, CONFIG_OFFSET(auth.arc_seal_key), 0, 0 },
	{ SECTION_AUTH, "dmarc_reports", KEY_CHOICE, CONFIG_OFFSET(auth.dmarc_reports), 0, 0 },
	{ SECTION_AUTH, "report_org_name", KEY_STRING, CONFIG_OFFSET(auth.report_org_name), 0, 0 },
	{ SECTION_AUTH, "report_email", KEY_ADDRESS, CONFIG_OFFSET(auth.report_email), 0, 0 },
	{ SECTION_AUTH, "verifier", KEY_ADDRESS, CONFIG_OFFSET(auth.verifier), 0, 0 },
	{ SECTION_AUTH, "verifier_interval", KEY_DURATION, CONFIG_OFFSET(auth.verifier_interval),
	  0, 86400 },
	{ SECTION_DNS, "resolver", KEY_RESOLVERS, CONFIG_OFFSET(dns.resolver), 0, 0 },
	{ SECTION_DNS, "special_zones", KEY_DOMAIN_LIST, CONFIG_OFFSET(dns.special_zones), 0, 0 },
	{ SECTION_DNS, "timeout", KEY_UINT, CONFIG_OFFSET(dns.timeout), 1, 300 },
	{ SECTION_EVENTS, "retention", KEY_DURATION, CONFIG_OFFSET(events.retention), 0, 315360000 },
	{ SECTION_EVENTS, "max_pending", KEY_UINT, CONFIG_OFFSET(events.max_pending), 100, 10000000 },
	{ SECTION_EVENTS, "write_delay", KEY_UINT, CONFIG_OFFSET(events.write_delay), 0, 10000 },
	{ SECTION_DKIM, "verify_signatures", KEY_UINT, CONFIG_OFFSET(dkim.verify_signatures), 1, 50 },
	{ SECTION_DKIM, "verify_header_size", KEY_SIZE, CONFIG_OFFSET(dkim.verify_header_size),
	  4096, 16777216 },
	{ SECTION_SRS, "enabled", KEY_BOOL, CONFIG_OFFSET(srs.enabled), 0, 0 },
	{ SECTION_SRS, "secret_file", KEY_OPTIONAL_PATH, CONFIG_OFFSET(srs.secret_file), 0, 0 },
	{ SECTION_SRS, "domain", KEY_HOSTNAME, CONFIG_OFFSET(srs.domain), 0, 0 },
	{ SECTION_SRS, "max_age", KEY_UINT, CONFIG_OFFSET(srs.max_age), 1, 1000 },
	{ SECTION_QUEUE, "retry_initial", KEY_UINT, CONFIG_OFFSET(queue.retry_initial), 1, 86400 },
	{ SECTION_QUEUE, "retry_max", KEY_UINT, CONFIG_OFFSET(queue.retry_max), 1, 604800 },
	{ SECTION_QUEUE, "lifetime", KEY_UINT, CONFIG_OFFSET(queue.lifetime), 1, 31536000 },
	{ SECTION_QUEUE, "delay_warning", KEY_UINT, CONFIG_OFFSET(queue.delay_warning), 0, 31536000 },
	{ SECTION_QUEUE, "concurrency", KEY_UINT, CONFIG_OFFSET(queue.concurrency), 1, 100000 },
	{ SECTION_QUEUE, "unreadable_attempts", KEY_UINT, CONFIG_OFFSET(queue.unreadable_attempts),
	  1, 1000 },
	{ SECTION_QUEUE, "active_limit", KEY_UINT, CONFIG_OFFSET(queue.active_limit), 1, 1000000 },
	{ SECTION_QUEUE, "memory_limit", KEY_SIZE, CONFIG_OFFSET(queue.memory_limit), 0,
	  68719476736ULL },
	{ SECTION_QUEUE, "double_bounce_to_postmaster", KEY_BOOL,
	  CONFIG_OFFSET(queue.double_bounce_to_postmaster), 0, 0 },
	{ SECTION_QUEUE, "local_sync_delay", KEY_UINT, CONFIG_OFFSET(queue.local_sync_delay), 0,
	  1000 },
	{ SECTION_DELIVERY, "tls", KEY_TLS_POLICY, CONFIG_OFFSET(delivery.tls), 0, 0 },
	{ SECTION_DELIVERY, "port", KEY_UINT, CONFIG_OFFSET(delivery.port), 1, 65535 },
	{ SECTION_DELIVERY, "max_connections", KEY_UINT,
	  CONFIG_OFFSET(delivery.max_connections), 1, 100000 },
	{ SECTION_DELIVERY, "max_per_destination", KEY_UINT,
	  CONFIG_OFFSET(delivery.max_per_destination), 1, 10000 },
	{ SECTION_DELIVERY, "source_address", KEY_IP_ADDRESS,
	  CONFIG_OFFSET(delivery.source_address), 0, 0 },
	{ SECTION_RELAY, "host", KEY_RELAY_HOST, CONFIG_OFFSET(relay.host), 0, 0 },
	{ SECTION_RELAY, "username", KEY_STRING, CONFIG_OFFSET(relay.username), 0, 0 },
	{ SECTION_RELAY, "password", KEY_STRING, CONFIG_OFFSET(relay.password), 0, 0 },
	{ SECTION_RELAY, "tls", KEY_TLS_POLICY, CONFIG_OFFSET(relay.tls), 0, 0 },
	{ SECTION_RELAY, "domains", KEY_RELAY_DOMAINS, CONFIG_OFFSET(relay.domains), 0, 0 },
	{ SECTION_SMTP, "reverse_dns", KEY_CHOICE, CONFIG_OFFSET(smtp.reverse_dns), 0, 0 },
	{ SECTION_SMTP, "helo_check", KEY_CHOICE, CONFIG_OFFSET(smtp.helo_check), 0, 0 },
	{ SECTION_SMTP, "sender_domain_check", KEY_BOOL,
	  CONFIG_OFFSET(smtp.sender_domain_check), 0, 0 },
	{ SECTION_SMTP, "unknown_sender_code", KEY_CHOICE,
	  CONFIG_OFFSET(smtp.unknown_sender_code), 0, 0 },
	{ SECTION_IMAP, "idle_timeout", KEY_DURATION, CONFIG_OFFSET(imap.idle_timeout), 1800,
	  86400 },
	{ SECTION_IMAP, "login_timeout", KEY_DURATION, CONFIG_OFFSET(imap.login_timeout), 1,
	  86400 },
	{ SECTION_IMAP, "command_line", KEY_SIZE, CONFIG_OFFSET(imap.command_line), 1024,
	  16777216 },
	{ SECTION_IMAP, "literal_size", KEY_SIZE, CONFIG_OFFSET(imap.literal_size), 1024,
	  2147483648ULL },
	{ SECTION_IMAP, "sessions_per_account", KEY_UINT,
	  CONFIG_OFFSET(imap.sessions_per_account), 1, 100000 },
	/* 0 = no quota; at most 1 PiB and 2^31 messages */
	{ SECTION_MAILBOX, "quota_default", KEY_SIZE, CONFIG_OFFSET(mailbox.quota_default), 0,
	  1125899906842624ULL },
	{ SECTION_MAILBOX, "quota_messages_default", KEY_UINT,
	  CONFIG_OFFSET(mailbox.quota_messages_default), 0, 2147483647 },
	{ SECTION_MAILBOX, "save_sent", KEY_BOOL, CONFIG_OFFSET(mailbox.save_sent), 0, 0 },
	/* 0 = none kept; at most 64 GiB */
	{ SECTION_MAILBOX, "cache_size", KEY_SIZE, CONFIG_OFFSET(mailbox.cache_size), 0,
	  68719476736ULL },
	/* 0 = no petrel.cache; at most MAILBOX_CACHE_ENTRY_MAX (what the MIME
	 * parser keeps of a header) */
	{ SECTION_MAILBOX, "header_cache_max", KEY_SIZE, CONFIG_OFFSET(mailbox.header_cache_max),
	  0, 102400 },
	{ SECTION_POP3, "idle_timeout", KEY_DURATION, CONFIG_OFFSET(pop3.idle_timeout), 600,
	  86400 },
	{ SECTION_POP3, "command_line", KEY_SIZE, CONFIG_OFFSET(pop3.command_line), 255, 65536 },
	{ SECTION_HTTP, "header_size", KEY_SIZE, CONFIG_OFFSET(http.header_size), 1024, 1048576 },
	{ SECTION_HTTP, "header_count", KEY_UINT, CONFIG_OFFSET(http.header_count), 1, 10000 },
	{ SECTION_HTTP, "body_size", KEY_SIZE, CONFIG_OFFSET(http.body_size), 1024,
	  1073741824 },
	{ SECTION_HTTP, "body_memory", KEY_SIZE, CONFIG_OFFSET(http.body_memory), 1048576,
	  68719476736ull },
	{ SECTION_HTTP, "request_timeout", KEY_DURATION, CONFIG_OFFSET(http.request_timeout), 1,
	  3600 },
	{ SECTION_HTTP, "metrics_from", KEY_NETWORKS, CONFIG_OFFSET(http.metrics_from), 0, 0 },
	{ SECTION_HTTP, "idle_timeout", KEY_DURATION, CONFIG_OFFSET(http.idle_timeout), 1,
	  3600 },
	{ SECTION_HTTP, "send_personalizations", KEY_UINT,
	  CONFIG_OFFSET(http.send_personalizations), 1, 1000000 },
	{ SECTION_HTTP, "send_recipients", KEY_UINT, CONFIG_OFFSET(http.send_recipients), 1,
	  1000000 },
	{ SECTION_HTTP, "stats_days", KEY_UINT, CONFIG_OFFSET(http.stats_days), 1, 100000 },
	{ SECTION_HTTP, "categories_max", KEY_UINT, CONFIG_OFFSET(http.categories_max), 1, 100000 },
	{ SECTION_WEB, "signup", KEY_CHOICE, CONFIG_OFFSET(web.signup), 0, 0 },
	{ SECTION_WEB, "session_lifetime", KEY_DURATION, CONFIG_OFFSET(web.session_lifetime), 60,
	  2592000 },
	{ SECTION_WEB, "form_fields", KEY_UINT, CONFIG_OFFSET(web.form_fields), 4, 1000 },
	{ SECTION_WEB, "form_field_size", KEY_SIZE, CONFIG_OFFSET(web.form_field_size), 256,
	  65536 },
	{ SECTION_WEB, "password_min", KEY_UINT, CONFIG_OFFSET(web.password_min), 1, 1024 },
	{ SECTION_WEB, "password_max", KEY_UINT, CONFIG_OFFSET(web.password_max), 8, 1024 },
	{ SECTION_WEB, "verify_lifetime", KEY_DURATION, CONFIG_OFFSET(web.verify_lifetime), 300,
	  2592000 },
	{ SECTION_WEB, "reset_lifetime", KEY_DURATION, CONFIG_OFFSET(web.reset_lifetime), 300,
	  604800 },
	{ SECTION_WEB, "signup_rate", KEY_UINT, CONFIG_OFFSET(web.signup_rate), 1, 100000 },
	{ SECTION_WEB, "rate_window", KEY_DURATION, CONFIG_OFFSET(web.rate_window), 60, 604800 },
	{ SECTION_WEB, "mail_from", KEY_STRING, CONFIG_OFFSET(web.mail_from), 0, 0 },
	{ SECTION_WEB, "dashboard_rows", KEY_UINT, CONFIG_OFFSET(web.dashboard_rows), 10, 1000 },
	{ SECTION_WEB, "dashboard_days", KEY_UINT, CONFIG_OFFSET(web.dashboard_days), 1, 366 },
	{ SECTION_WEB, "sandbox_show_size", KEY_SIZE, CONFIG_OFFSET(web.sandbox_show_size), 4096,
	  67108864 },
	{ SECTION_WEB, "operators", KEY_STRING, CONFIG_OFFSET(web.operators), 0, 0 },
	{ SECTION_WEB, "operator_rows", KEY_UINT, CONFIG_OFFSET(web.operator_rows), 10, 100000 },
	{ SECTION_WEB, "domain_checks", KEY_UINT, CONFIG_OFFSET(web.domain_checks), 1, 100 },
	{ SECTION_WEB, "domain_check_timeout", KEY_DURATION,
	  CONFIG_OFFSET(web.domain_check_timeout), 1, 300 },
	{ SECTION_WEB, "domain_check_pages", KEY_UINT, CONFIG_OFFSET(web.domain_check_pages),
	  1, 1000 },
	{ SECTION_HTTP, "send_categories", KEY_UINT, CONFIG_OFFSET(http.send_categories), 0,
	  1000 },
	{ SECTION_HTTP, "send_custom_args_size", KEY_SIZE,
	  CONFIG_OFFSET(http.send_custom_args_size), 0, 1048576 },
	{ SECTION_HTTP, "send_substitutions_size", KEY_SIZE,
	  CONFIG_OFFSET(http.send_substitutions_size), 0, 1048576 },
	{ SECTION_HTTP, "public_url", KEY_STRING, CONFIG_OFFSET(http.public_url), 0, 0 },
	{ SECTION_HTTP, "send_at_max", KEY_DURATION, CONFIG_OFFSET(http.send_at_max), 0,
	  31536000 },
	{ SECTION_HTTP, "send_total_size", KEY_SIZE, CONFIG_OFFSET(http.send_total_size), 1024,
	  17179869184 },
	{ SECTION_STORE, "backend", KEY_CHOICE, CONFIG_OFFSET(store.backend), 0, 0 },
	{ SECTION_STORE, "url", KEY_STRING, CONFIG_OFFSET(store.url), 0, 0 },
	{ SECTION_STORE, "credentials_url", KEY_STRING, CONFIG_OFFSET(store.credentials_url), 0,
	  0 },
	{ SECTION_STORE, "statement_timeout", KEY_DURATION,
	  CONFIG_OFFSET(store.statement_timeout), 1, 3600 },
	{ SECTION_STORE, "connections", KEY_UINT, CONFIG_OFFSET(store.connections), 1, 256 },
	{ SECTION_WEBHOOK, "batch_size", KEY_UINT, CONFIG_OFFSET(webhook.batch_size), 1, 10000 },
	{ SECTION_WEBHOOK, "interval", KEY_DURATION, CONFIG_OFFSET(webhook.interval), 1, 3600 },
	{ SECTION_WEBHOOK, "timeout", KEY_DURATION, CONFIG_OFFSET(webhook.timeout), 1, 300 },
	{ SECTION_WEBHOOK, "retry_initial", KEY_DURATION, CONFIG_OFFSET(webhook.retry_initial), 1,
	  86400 },
	{ SECTION_WEBHOOK, "retry_max", KEY_DURATION, CONFIG_OFFSET(webhook.retry_max), 1,
	  86400 },
	{ SECTION_WEBHOOK, "response_size", KEY_SIZE, CONFIG_OFFSET(webhook.response_size), 256,
	  1048576 },
	{ SECTION_CLUSTER, "mail", KEY_NODE_ADDRESS, CONFIG_OFFSET(cluster.mail), 0, 0 },
	{ SECTION_CLUSTER, "imap", KEY_NODE_ADDRESS, CONFIG_OFFSET(cluster.imap), 0, 0 },
	{ SECTION_CLUSTER, "pop3", KEY_NODE_ADDRESS, CONFIG_OFFSET(cluster.pop3), 0, 0 },
	{ SECTION_CLUSTER, "from", KEY_NETWORKS, CONFIG_OFFSET(cluster.from), 0, 0 },
	{ SECTION_CLUSTER, "secret_file", KEY_OPTIONAL_PATH, CONFIG_OFFSET(cluster.secret_file),
	  0, 0 },
	{ SECTION_CLUSTER, "ticket_lifetime", KEY_DURATION, CONFIG_OFFSET(cluster.ticket_lifetime),
	  1, 60 },
	{ SECTION_CLUSTER, "proxy_timeout", KEY_DURATION, CONFIG_OFFSET(cluster.proxy_timeout),
	  1, 300 },
};
#define KEY_DEF_COUNT (sizeof(key_defs) / sizeof(key_defs[0]))

static const char *const section_names[] = {
	[SECTION_NONE] = "",
	[SECTION_SERVER] = "server",
	[SECTION_DOMAINS] = "domains",
	[SECTION_TLS] = "tls",
	[SECTION_LIMITS] = "limits",
	[SECTION_TIMEOUTS] = "timeouts",
	[SECTION_AUTH] = "auth",
	[SECTION_DNS] = "dns",
	[SECTION_QUEUE] = "queue",
	[SECTION_DELIVERY] = "delivery",
	[SECTION_RELAY] = "relay",
	[SECTION_TLS_POLICY] = "tls-policy",
	[SECTION_EVENTS] = "events",
	[SECTION_DKIM] = "dkim",
	[SECTION_SRS] = "srs",
	[SECTION_SMTP] = "smtp",
	[SECTION_IMAP] = "imap",
	[SECTION_MAILBOX] = "mailbox",
	[SECTION_POP3] = "pop3",
	[SECTION_HTTP] = "http",
	[SECTION_WEB] = "web",
	[SECTION_STORE] = "store",
	[SECTION_CLUSTER] = "cluster",
	[SECTION_WEBHOOK] = "webhook",
	[SECTION_LISTENER] = "listener",
};

struct config_parser {
	struct config *config;
	const char *file;        /* as given by the caller, for messages */
	char *dir;               /* absolute directory of the file */
	FILE *fp;
	char *line;              /* getline() buffer */
	size_t line_size;
	int lineno;              /* physical line last handed to libinih */
	bool line_continuation;  /* it is an indented continuation line */
	bool have_key;           /* a key line since the last header: libinih
	                            treats indented lines as continuations */
	bool stopped;

	enum config_section section;
	size_t listener;         /* index of the current [listener NAME] */
	int listener_line;       /* line of its header */
	int listener_role_line;  /* 0 = role not set */
	int listener_address_line;
	int listener_checks_line;  /* receiving_checks; 0 = not set */
	int listener_proxy_line;   /* proxy_protocol; 0 = not set */
	int listener_proxy_from_line; /* proxy_from; 0 = not set */

	int key_lines[KEY_DEF_COUNT]; /* line where each key was set; 0 = not */

	int error_line;          /* 0 = no error yet */
	char error[CONFIG_ERROR_MAX];
};

static char config_error_buf[CONFIG_ERROR_MAX + 256];

static struct config *config_new(bool with_hostname);
static char *config_default_hostname(void);
static void config_listener_add(struct config *config, const char *name,
				enum listener_role role, const char *address);
static void config_add_default_listeners(struct config *config);
static void config_local_domain_add(struct config *config, const char *domain);

static char *parser_read_line(char *str, int num, void *stream);
static int parser_handle(void *user, const char *section, const char *name,
			 const char *value);
static bool parser_finish_public_url(struct config_parser *p);
static bool parser_finish_web(struct config_parser *p);
static void parser_fail(struct config_parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void parser_section_start(struct config_parser *p, const char *header);
static void parser_section_end(struct config_parser *p);
static void parser_listener_key(struct config_parser *p, const char *name,
				const char *value);
static void parser_set_key(struct config_parser *p, size_t idx, const char *value);
static void parser_set_domains(struct config_parser *p, const char *value);
static void parser_finish(struct config_parser *p);
static char *parser_resolve_path(const struct config_parser *p, const char *value);
static char *parser_file_dir(const char *file);

static bool parse_number(const char *s, bool allow_suffix,
			 unsigned long long *value_r);
static bool parse_bool(const char *s, bool *value_r);
static bool parse_role(const char *s, enum listener_role *role_r);
static bool listener_name_is_valid(const char *name);
static bool listener_address_is_valid(const char *address, const char **reason_r);
static bool parse_network(const char *s, struct config_network *network_r);
_Static_assert(offsetof(struct config_http, metrics_from_count) ==
	       offsetof(struct config_http, metrics_from) + sizeof(struct config_network *),
	       "KEY_NETWORKS: the count follows the array");
_Static_assert(offsetof(struct config_cluster, from_count) ==
	       offsetof(struct config_cluster, from) + sizeof(struct config_network *),
	       "KEY_NETWORKS: the count follows the array");
static bool parse_networks(const char *value, struct config_network **networks_r,
			   size_t *count_r, const char **bad_r);
static void parser_listener_bool(struct config_parser *p, const char *name, const char *value,
				 int *line_r, bool *value_r);
static void parser_proxy_from(struct config_parser *p, struct config_listener *l,
			      const char *value);
static bool tls_policy_is_valid(const char *value, bool relay);
static void parser_tls_policy_key(struct config_parser *p, const char *name, const char *value);
static bool port_is_valid(const char *s);
static bool ip_address_is_valid(const char *s, size_t len);
static bool resolver_is_valid(const char *s, size_t len);
static bool relay_host_is_valid(const char *value);
static const char *list_find_invalid(const char *value, bool (*valid)(const char *, size_t),
				     size_t *len_r);
static bool list_domain_is_valid(const char *s, size_t len);
static void parser_finish_relay(struct config_parser *p);
static void parser_finish_users(struct config_parser *p);
static void parser_finish_store(struct config_parser *p);
static void parser_finish_cluster(struct config_parser *p);
static bool listener_serves_address(const struct config_listener *l, const char *address);
static int config_key_line_raw(const int *lines, const char *section, const char *key);
static bool address_is_valid(const char *address);
static void string_lower(char *s);

/* config_new - every default; the default hostname only if asked, since it
 * may mean a resolver lookup */
static struct config *config_new(bool with_hostname)
{
	struct config *config = xcalloc(1, sizeof(*config));

	config->hostname = with_hostname ? config_default_hostname() : NULL;
	config->auth.authserv_id = with_hostname ? xstrdup(config->hostname) : NULL;
	config->data_dir = xstrdup("/var/lib/petrel");
	config->user = xstrdup("petrel");
	config->auth_user = xstrdup("petrel-auth");
	config->keys_user = xstrdup("petrel-keys");
	config->log_level = xstrdup("info");
	config->syslog = false;
	config->log_buffer = 1048576;
	config->workers = 4;
	config->node = NULL;
	config->node_report_interval = 10;
	config->node_stale_after = 30;
	config->malloc_arenas = 2;
	config->malloc_trim_messages = 10000;
	config->huge_pages_from = 1u << 20;
	config->malloc_mmap_from = 1u << 20;

	config->local_domains = xcalloc(1, sizeof(char *));
	config->local_domain_count = 0;

	config->limits.command_line = 512;
	config->limits.text_line = 1000;
	config->limits.message_size = 26214400;
	config->limits.recipients = 100;
	config->limits.errors = 10;
	config->limits.connections = 20000;
	config->limits.connections_per_ip = 100;
	config->limits.received_headers = 100;
	config->limits.bare_newline = BARE_NEWLINE_REJECT;

	config->timeouts.greeting = 300;
	config->timeouts.command = 300;
	config->timeouts.data_block = 180;
	config->timeouts.tls_handshake = 60;
	config->timeouts.proxy_header = 10;
	config->timeouts.shutdown = 3;

	config->limits.connection_rate = 0;
	config->auth.plaintext_loopback = false;
	config->auth.slow_after = 3;
	config->auth.lockout_after = 10;
	config->auth.failure_window = 900;
	config->auth.lockout_time = 900;
	config->auth.ipv6_prefix = 64;
	config->auth.throttle_entries = 65536;
	config->auth.hash_workers = 1;
	config->auth.hash_queue = 64;
	config->auth.apikeys_per_account = 100;
	/* the most Cyrus SASL's SCRAM client computes (its MAX_ITERATION_COUNTER) */
	config->auth.scram_iterations = 65536;
	config->auth.helper_timeout = 10;
	config->auth.public_suffix_list = xstrdup("/usr/share/publicsuffix/public_suffix_list.dat");
	config->auth.dmarc_enforce = true;
	config->auth.dmarc_reports = DMARC_REPORTS_OFF;
	config->auth.report_org_name = xstrdup("");
	config->auth.report_email = NULL;
	config->auth.spf_void_lookups = 2;
	config->auth.spf_timeout = 20;
	config->auth.spf_reject = false;
	config->auth.arc_trusted_forwarders = xstrdup("");
	config->auth.arc_seal_key = xstrdup("");
	config->auth.verifier = NULL;
	config->auth.verifier_interval = 60;

	config->smtp.reverse_dns = SMTP_REVERSE_DNS_RECORD;
	config->smtp.helo_check = SMTP_HELO_CHECK_OFF;
	config->smtp.sender_domain_check = false;
	config->smtp.unknown_sender_code = SMTP_UNKNOWN_SENDER_550;
	config->imap.idle_timeout = 1800;
	config->imap.login_timeout = 180;
	config->imap.command_line = 65536;
	config->imap.literal_size = config->limits.message_size;
	config->imap.sessions_per_account = 20;
	config->pop3.idle_timeout = 600;
	config->pop3.command_line = 4096;
	config->webhook.batch_size = 100;
	config->webhook.interval = 1;
	config->webhook.timeout = 10;
	config->webhook.retry_initial = 5;
	config->webhook.retry_max = 600;
	config->webhook.response_size = 16384;
	config->http.header_size = 16384;
	config->http.header_count = 100;
	config->http.body_size = 32u * 1024 * 1024;
	config->http.body_memory = 256u * 1024 * 1024;
	config->http.request_timeout = 30;
	config->http.idle_timeout = 60;
	config->http.send_personalizations = 1000;
	config->http.send_recipients = 1000;
	config->http.send_categories = 10;
	config->http.stats_days = 1000;
	config->http.categories_max = 500;
	config->web.session_lifetime = 12 * 3600;
	config->web.form_fields = 16;
	config->web.form_field_size = 1024;
	config->web.password_min = 10;
	config->web.password_max = 256;
	config->web.verify_lifetime = 48 * 3600;
	config->web.reset_lifetime = 3600;
	config->web.signup_rate = 5;
	config->web.rate_window = 3600;
	config->web.operator_rows = 1000;
	config->web.dashboard_rows = 50;
	config->web.domain_checks = 10;
	config->web.domain_check_timeout = 15;
	config->web.domain_check_pages = 4;
	config->web.dashboard_days = 14;
	config->web.sandbox_show_size = 1024 * 1024;
	config->http.send_custom_args_size = 10000;
	config->http.send_at_max = 259200;
	config->http.send_substitutions_size = 10000;
	config->http.send_total_size = 64u * 1024 * 1024;
	if (!parse_networks("127.0.0.0/8, ::1/128", &config->http.metrics_from,
			    &config->http.metrics_from_count, NULL))
		abort();

	config->dns.resolver = xstrdup("");
	config->dns.special_zones = xstrdup("");
	config->dns.timeout = 10;
	config->store.backend = STORE_BACKEND_SQLITE;
	config->store.url = xstrdup("");
	config->store.credentials_url = xstrdup("");
	config->store.statement_timeout = 10;
	config->cluster.ticket_lifetime = 30;
	config->cluster.proxy_timeout = 10;
	config->store.connections = 4;
	config->events.retention = 30 * 86400;
	config->events.max_pending = 100000;
	config->events.write_delay = 50;
	config->dkim.verify_signatures = 5;
	config->dkim.verify_header_size = 256 * 1024;
	config->mailbox.cache_size = 64u << 20;
	config->mailbox.header_cache_max = 64u << 10;
	config->srs.enabled = true;
	config->srs.max_age = 21;

	config->queue.retry_initial = 300;
	config->queue.retry_max = 14400;
	config->queue.lifetime = 432000;
	config->queue.delay_warning = 14400;
	config->queue.concurrency = 200;
	config->queue.unreadable_attempts = 5;
	config->queue.active_limit = 10000;
	config->queue.memory_limit = 64u * 1024 * 1024;
	config->queue.double_bounce_to_postmaster = false;
	config->queue.local_sync_delay = 10;

	config->delivery.tls = xstrdup("may");
	config->delivery.port = 25;
	config->delivery.max_connections = 100;
	config->delivery.max_per_destination = 10;
	config->delivery.source_address = xstrdup("");
	config->relay.host = xstrdup("");
	config->relay.username = xstrdup("");
	config->relay.password = xstrdup("");
	config->relay.tls = xstrdup("");
	config->relay.domains = xstrdup("*");
	return config;
}

/* config_default_hostname - gethostname(), made fully qualified through the
 * resolver (usually /etc/hosts) when it has no dot; "localhost" if unusable */
static char *config_default_hostname(void)
{
	char name[256];
	char *result = NULL;

	if (gethostname(name, sizeof(name)) != 0)
		return xstrdup("localhost");
	name[sizeof(name) - 1] = '\0';

	if (strchr(name, '.') == NULL) {
		struct addrinfo hints = { .ai_flags = AI_CANONNAME, .ai_family = AF_UNSPEC };
		struct addrinfo *res = NULL;

		if (getaddrinfo(name, NULL, &hints, &res) == 0) {
			if (res != NULL && res->ai_canonname != NULL &&
			    strchr(res->ai_canonname, '.') != NULL)
				result = xstrdup(res->ai_canonname);
			freeaddrinfo(res);
		}
	}
	if (result == NULL)
		result = xstrdup(name);
	string_lower(result);
	if (!domain_name_is_valid(result, strlen(result), 0)) {
		free(result);
		result = xstrdup("localhost");
	}
	return result;
}

/* config_listener_add - append a listener (copies the strings) */
static void config_listener_add(struct config *config, const char *name,
				enum listener_role role, const char *address)
{
	struct config_listener *l;

	config->listeners = xrealloc(config->listeners,
		(config->listener_count + 1) * sizeof(*config->listeners));
	l = &config->listeners[config->listener_count++];
	l->name = xstrdup(name);
	l->role = role;
	l->address = address != NULL ? xstrdup(address) : NULL;
	l->line = 0;
	l->receiving_checks = true;
	l->proxy_protocol = false;
	l->proxy_from = NULL;
	l->proxy_from_count = 0;
}

/* config_add_default_listeners - the production set, used when the file has
 * no [listener] section at all */
static void config_add_default_listeners(struct config *config)
{
	config_listener_add(config, "mx", LISTENER_ROLE_MX, "*:25");
	config_listener_add(config, "submission", LISTENER_ROLE_SUBMISSION, "*:587");
	config_listener_add(config, "submission-2525", LISTENER_ROLE_SUBMISSION, "*:2525");
	config_listener_add(config, "submissions", LISTENER_ROLE_SUBMISSIONS, "*:465");
}

/* config_local_domain_add - append DOMAIN (already normalised) unless present */
static void config_local_domain_add(struct config *config, const char *domain)
{
	for (size_t i = 0; i < config->local_domain_count; i++)
		if (strcmp(config->local_domains[i], domain) == 0)
			return;
	config->local_domains = xrealloc(config->local_domains,
		(config->local_domain_count + 2) * sizeof(char *));
	config->local_domains[config->local_domain_count++] = xstrdup(domain);
	config->local_domains[config->local_domain_count] = NULL;
}

struct config *config_defaults(void)
{
	return config_new(true);
}

/* config_load - defaults, then FILE on top; see config.h */
struct config *config_load(const char *file, const char **error_r)
{
	struct config_parser p;
	struct config *config = NULL;
	int ret;

	memset(&p, 0, sizeof(p));
	p.file = file;
	p.fp = fopen(file, "r");
	if (p.fp == NULL) {
		snprintf(config_error_buf, sizeof(config_error_buf), "%s: %s",
			 file, strerror(errno));
		*error_r = config_error_buf;
		return NULL;
	}
	p.dir = parser_file_dir(file);
	if (p.dir == NULL) {
		snprintf(config_error_buf, sizeof(config_error_buf),
			 "%s: cannot resolve its directory: %s", file, strerror(errno));
		goto out;
	}
	p.config = config_new(false);
	p.config->path = xstrdup(file);

	ret = ini_parse_stream(parser_read_line, &p, parser_handle, &p);
	if (ferror(p.fp)) {
		snprintf(config_error_buf, sizeof(config_error_buf), "%s: %s",
			 file, strerror(errno));
		goto out;
	}
	if (!p.stopped)
		parser_section_end(&p);
	if (p.error_line == 0 && ret == 0)
		parser_finish(&p);

	if (ret > 0 && (p.error_line == 0 || ret < p.error_line)) {
		snprintf(config_error_buf, sizeof(config_error_buf),
			 "%s:%d: syntax error: expected '[section]' or 'key = value'",
			 file, ret);
	} else if (p.error_line != 0) {
		snprintf(config_error_buf, sizeof(config_error_buf), "%s:%d: %s",
			 file, p.error_line, p.error);
	} else if (ret != 0) {
		/* -1 open error cannot happen with a stream; -2 is out of memory */
		snprintf(config_error_buf, sizeof(config_error_buf),
			 "%s: libinih failed (%d)", file, ret);
	} else {
		config = p.config;
		p.config = NULL;
	}
out:
	if (fclose(p.fp) != 0 && config != NULL) {
		snprintf(config_error_buf, sizeof(config_error_buf), "%s: %s",
			 file, strerror(errno));
		config_free(&config);
	}
	config_free(&p.config);
	free(p.line);
	free(p.dir);
	if (config == NULL)
		*error_r = config_error_buf;
	return config;
}

void config_free(struct config **configp)
{
	struct config *config = *configp;

	if (config == NULL)
		return;
	*configp = NULL;
	free(config->path);
	free(config->hostname);
	free(config->node);
	free(config->data_dir);
	free(config->user);
	free(config->auth_user);
	free(config->keys_user);
	free(config->log_level);
	for (size_t i = 0; i < config->local_domain_count; i++)
		free(config->local_domains[i]);
	free(config->local_domains);
	free(config->postmaster);
	free(config->auth.verifier);
	free(config->tls_certificate);
	free(config->tls_key);
	free(config->auth.public_suffix_list);
	free(config->http.public_url);
	free(config->web.mail_from);
	free(config->web.operators);
	free(config->auth.authserv_id);
	free(config->auth.arc_trusted_forwarders);
	free(config->auth.arc_seal_key);
	free(config->auth.report_org_name);
	free(config->auth.report_email);
	free(config->dns.resolver);
	free(config->dns.special_zones);
	free(config->srs.secret_file);
	free(config->srs.domain);
	free(config->delivery.tls);
	free(config->delivery.source_address);
	if (config->store.url)
		explicit_bzero(config->store.url, strlen(config->store.url));
	free(config->store.url);
	if (config->store.credentials_url)
		explicit_bzero(config->store.credentials_url, strlen(config->store.credentials_url));
	free(config->store.credentials_url);
	free(config->relay.host);
	free(config->relay.username);
	if (config->relay.password)
		explicit_bzero(config->relay.password, strlen(config->relay.password));
	free(config->relay.password);
	free(config->relay.tls);
	free(config->relay.domains);
	for (size_t i = 0; i < config->tls_policy_count; i++) {
		free(config->tls_policies[i].domain);
		free(config->tls_policies[i].policy);
	}
	free(config->tls_policies);
	for (size_t i = 0; i < config->listener_count; i++) {
		free(config->listeners[i].name);
		free(config->listeners[i].address);
		free(config->listeners[i].proxy_from);
	}
	free(config->listeners);
	free(config->http.metrics_from);
	free(config->cluster.mail);
	free(config->cluster.imap);
	free(config->cluster.pop3);
	free(config->cluster.from);
	free(config->cluster.secret_file);
	free(config->key_lines);
	free(config);
}

bool config_listener_is_cluster_mail(const struct config *config,
				     const struct config_listener *l)
{
	return config->cluster.mail != NULL && l->role == LISTENER_ROLE_MX &&
	       listener_serves_address(l, config->cluster.mail);
}

const struct config_listener *config_listener_named(const struct config *config,
						    const char *name)
{
	for (size_t i = 0; name && i < config->listener_count; i++)
		if (strcmp(config->listeners[i].name, name) == 0)
			return &config->listeners[i];
	return NULL;
}

bool config_is_local_domain(const struct config *config, const char *domain)
{
	size_t len = strlen(domain);

	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0)
		return false;
	for (size_t i = 0; i < config->local_domain_count; i++) {
		const char *d = config->local_domains[i];
		if (strlen(d) == len && strncasecmp(d, domain, len) == 0)
			return true;
	}
	return false;
}

const char *listener_role_name(enum listener_role role)
{
	switch (role) {
	case LISTENER_ROLE_MX:
		return "mx";
	case LISTENER_ROLE_SUBMISSION:
		return "submission";
	case LISTENER_ROLE_SUBMISSIONS:
		return "submissions";
	case LISTENER_ROLE_LOCAL:
		return "local";
	case LISTENER_ROLE_IMAP:
		return "imap";
	case LISTENER_ROLE_IMAPS:
		return "imaps";
	case LISTENER_ROLE_POP3:
		return "pop3";
	case LISTENER_ROLE_POP3S:
		return "pop3s";
	case LISTENER_ROLE_HTTP:
		return "http";
	case LISTENER_ROLE_HTTPS:
		return "https";
	}
	return "unknown";
}

/* parser_fail - record an error at LINE unless an earlier one is recorded;
 * parsing stops at the next line */
static void parser_fail(struct config_parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	p->stopped = true;
	if (p->error_line != 0 && p->error_line <= line)
		return;
	p->error_line = line;
	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
}

/* parser_read_line - libinih's fgets-style reader: counts lines and spots
 * section headers; returns NULL (end of input) once an error is recorded */
static char *parser_read_line(char *str, int num, void *stream)
{
	struct config_parser *p = stream;
	const char *s, *bol;
	ssize_t len;
	size_t content;

	if (p->stopped)
		return NULL;
	len = getline(&p->line, &p->line_size, p->fp);
	if (len < 0)
		return NULL;
	p->lineno++;

	if (memchr(p->line, '\0', (size_t)len) != NULL) {
		parser_fail(p, p->lineno, "line contains a NUL byte");
		return NULL;
	}
	content = (size_t)len;
	if (content > 0 && p->line[content - 1] == '\n')
		content--;
	if (content > 0 && p->line[content - 1] == '\r')
		content--;
	/* libinih needs room for CR, LF and NUL (ini.h, INI_MAX_LINE) */
	if (num < 3 || content > (size_t)num - 3) {
		parser_fail(p, p->lineno, "line is longer than %d characters", num - 3);
		return NULL;
	}
	memcpy(str, p->line, (size_t)len + 1);

	s = p->line;
	if (p->lineno == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3; /* libinih skips a UTF-8 BOM */
	bol = s;
	while (*s == ' ' || *s == '\t')
		s++;
	p->line_continuation = false;
	if (*s == '\0' || *s == '\n' || *s == '\r' || *s == ';' || *s == '#') {
		/* blank or comment: libinih ignores it */
	} else if (s > bol && p->have_key) {
		/* an indented line after a key continues its value (libinih
		 * INI_ALLOW_MULTILINE): the handler sees the same key again */
		p->line_continuation = true;
	} else if (*s == '[') {
		parser_section_start(p, s);
	} else if (strpbrk(s, "=:") != NULL) {
		p->have_key = true;
	}
	return p->stopped ? NULL : str;
}

/* parser_section_start - a "[...]" header at the current line */
static void parser_section_start(struct config_parser *p, const char *header)
{
	const char *end = strchr(header, ']');
	char name[256];
	size_t len;
	const char *start;

	if (end == NULL)
		return; /* libinih reports the syntax error */
	parser_section_end(p);
	if (p->stopped)
		return;
	p->have_key = false;

	start = header + 1;
	while (*start == ' ' || *start == '\t')
		start++;
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	len = (size_t)(end - start);
	if (len >= sizeof(name))
		len = sizeof(name) - 1;
	memcpy(name, start, len);
	name[len] = '\0';

	for (enum config_section s = SECTION_SERVER; s < SECTION_LISTENER; s++) {
		if (strcmp(name, section_names[s]) == 0) {
			p->section = s;
			return;
		}
	}
	if (strncmp(name, "listener", 8) != 0 ||
	    (name[8] != '\0' && name[8] != ' ' && name[8] != '\t')) {
		parser_fail(p, p->lineno, "unknown section [%.64s]", name);
		return;
	}

	const char *lname = name + 8;
	while (*lname == ' ' || *lname == '\t')
		lname++;
	if (*lname == '\0') {
		parser_fail(p, p->lineno, "a listener needs a name: [listener NAME]");
		return;
	}
	if (!listener_name_is_valid(lname)) {
		parser_fail(p, p->lineno, "bad listener name '%.64s': use up to %d "
			    "letters, digits, '-', '_' or '.'", lname, LISTENER_NAME_MAX);
		return;
	}
	for (size_t i = 0; i < p->config->listener_count; i++) {
		if (strcmp(p->config->listeners[i].name, lname) == 0) {
			parser_fail(p, p->lineno, "duplicate listener name '%s'", lname);
			return;
		}
	}
	config_listener_add(p->config, lname, LISTENER_ROLE_MX, NULL);
	p->section = SECTION_LISTENER;
	p->listener = p->config->listener_count - 1;
	p->config->listeners[p->listener].line = p->lineno;
	p->listener_line = p->lineno;
	p->listener_role_line = 0;
	p->listener_address_line = 0;
	p->listener_checks_line = 0;
	p->listener_proxy_line = 0;
	p->listener_proxy_from_line = 0;
}

/* parser_section_end - check that the section just closed is complete */
static void parser_section_end(struct config_parser *p)
{
	if (p->section == SECTION_LISTENER) {
		const char *name = p->config->listeners[p->listener].name;

		if (p->listener_role_line == 0)
			parser_fail(p, p->listener_line,
				    "[listener %s] has no 'role' (mx, submission, submissions, "
				    "local, imap, imaps, pop3, pop3s, http or https)", name);
		else if (p->listener_address_line == 0)
			parser_fail(p, p->listener_line,
				    "[listener %s] has no 'address' (host:port)", name);
		else if ((p->config->listeners[p->listener].role == LISTENER_ROLE_LOCAL) !=
			 (strncmp(p->config->listeners[p->listener].address, "unix:", 5) == 0))
			parser_fail(p, p->listener_address_line,
				    "[listener %s]: role local goes with a unix:PATH address, "
				    "and unix:PATH only with role local", name);
		else if (p->listener_checks_line != 0 &&
			 p->config->listeners[p->listener].role != LISTENER_ROLE_MX)
			parser_fail(p, p->listener_checks_line,
				    "'receiving_checks' in [listener %s]: only mx listeners make "
				    "the receiving checks", name);
		else if (p->config->listeners[p->listener].proxy_protocol &&
			 p->listener_proxy_from_line == 0)
			parser_fail(p, p->listener_proxy_line,
				    "[listener %s] has proxy_protocol on but no 'proxy_from' "
				    "(the balancers' ADDRESS/PREFIX networks)", name);
		else if (p->config->listeners[p->listener].proxy_protocol &&
			 p->config->listeners[p->listener].role == LISTENER_ROLE_LOCAL)
			parser_fail(p, p->listener_proxy_line,
				    "'proxy_protocol' in [listener %s]: not on a unix socket", name);
	}
	p->section = SECTION_NONE;
}

/* parser_handle - libinih's callback for each key = value line */
static int parser_handle(void *user, const char *section, const char *name,
			 const char *value)
{
	struct config_parser *p = user;

	(void)section; /* we track sections ourselves, untruncated */
	if (p->stopped || name == NULL)
		return 1;
	if (p->section == SECTION_NONE) {
		parser_fail(p, p->lineno, "key '%.64s' is outside any [section]", name);
		return 0;
	}
	if (p->section == SECTION_LISTENER) {
		parser_listener_key(p, name, value);
		return p->stopped ? 0 : 1;
	}
	if (p->section == SECTION_TLS_POLICY) {
		parser_tls_policy_key(p, name, value);
		return p->stopped ? 0 : 1;
	}
	for (size_t i = 0; i < KEY_DEF_COUNT; i++) {
		if (key_defs[i].section == p->section && strcmp(key_defs[i].name, name) == 0) {
			parser_set_key(p, i, value);
			return p->stopped ? 0 : 1;
		}
	}
	parser_fail(p, p->lineno, "unknown key '%.64s' in [%s]", name,
		    section_names[p->section]);
	return 0;
}

/* tls_policy_is_valid - a delivery TLS policy name (RELAY: the ones a
 * smarthost may use; "" = the preset's own) */
static bool tls_policy_is_valid(const char *value, bool relay)
{
	static const char *const mx[] = { "none", "may", "encrypt", "verify" };
	static const char *const smarthost[] = { "", "encrypt", "verify", "implicit" };
	const char *const *names = relay ? smarthost : mx;
	bool ok = false;
	for (size_t i = 0; i < 4; i++)
		ok = ok || strcmp(value, names[i]) == 0;
	return ok;
}

/* parser_tls_policy_key - "example.com = verify" in [tls-policy] */
static void parser_tls_policy_key(struct config_parser *p, const char *name, const char *value)
{
	struct config *c = p->config;
	char *domain = xstrdup(name);
	string_lower(domain);
	if (!domain_name_is_valid(domain, strlen(domain), 0)) {
		parser_fail(p, p->lineno, "'%.64s' in [tls-policy] is not a domain name", name);
	} else if (!tls_policy_is_valid(value, false)) {
		parser_fail(p, p->lineno, "the TLS policy of %s must be none, may, encrypt or "
			    "verify, not '%.64s'", domain, value);
	} else {
		c->tls_policies = xrealloc(c->tls_policies,
					   (c->tls_policy_count + 1) * sizeof(*c->tls_policies));
		c->tls_policies[c->tls_policy_count].domain = domain;
		c->tls_policies[c->tls_policy_count].policy = xstrdup(value);
		c->tls_policy_count++;
		return;
	}
	free(domain);
}

/* parser_listener_key - role, address, receiving_checks, proxy_protocol or
 * proxy_from of the current listener */
static void parser_listener_key(struct config_parser *p, const char *name,
				const char *value)
{
	struct config_listener *l = &p->config->listeners[p->listener];
	const char *reason;

	if (strcmp(name, "role") == 0) {
		if (p->listener_role_line != 0) {
			parser_fail(p, p->lineno, "'role' is set twice in [listener %s] "
				    "(first on line %d)", l->name, p->listener_role_line);
		} else if (!parse_role(value, &l->role)) {
			parser_fail(p, p->lineno, "unknown role '%.64s' in [listener %s] "
				    "(expected mx, submission, submissions, local, imap, imaps, pop3, "
				    "pop3s, http or https)", value, l->name);
		} else {
			p->listener_role_line = p->lineno;
		}
	} else if (strcmp(name, "address") == 0) {
		if (p->listener_address_line != 0) {
			parser_fail(p, p->lineno, "'address' is set twice in [listener %s] "
				    "(first on line %d)", l->name, p->listener_address_line);
			return;
		}
		if (!listener_address_is_valid(value, &reason)) {
			parser_fail(p, p->lineno, "bad address '%.64s' in [listener %s]: %s",
				    value, l->name, reason);
			return;
		}
		for (size_t i = 0; i < p->listener; i++) {
			if (strcmp(p->config->listeners[i].address, value) == 0) {
				parser_fail(p, p->lineno, "address '%s' in [listener %s] is "
					    "already used by [listener %s]", value, l->name,
					    p->config->listeners[i].name);
				return;
			}
		}
		if (strncmp(value, "unix:", 5) == 0 && value[5] != '/') {
			char *path = parser_resolve_path(p, value + 5);
			l->address = xasprintf("unix:%s", path);
			free(path);
		} else {
			l->address = xstrdup(value);
		}
		p->listener_address_line = p->lineno;
	} else if (strcmp(name, "receiving_checks") == 0) {
		parser_listener_bool(p, name, value, &p->listener_checks_line,
				     &l->receiving_checks);
	} else if (strcmp(name, "proxy_protocol") == 0) {
		parser_listener_bool(p, name, value, &p->listener_proxy_line, &l->proxy_protocol);
	} else if (strcmp(name, "proxy_from") == 0) {
		parser_proxy_from(p, l, value);
	} else {
		parser_fail(p, p->lineno, "unknown key '%.64s' in [listener %s]", name,
			    l->name);
	}
}

/* parser_listener_bool - boolean key NAME of the current listener, set once
 * (*LINE_R: the line it was set on, 0 = not yet) */
static void parser_listener_bool(struct config_parser *p, const char *name, const char *value,
				 int *line_r, bool *value_r)
{
	const char *listener = p->config->listeners[p->listener].name;

	if (*line_r != 0)
		parser_fail(p, p->lineno, "'%s' is set twice in [listener %s] (first on line %d)",
			    name, listener, *line_r);
	else if (!parse_bool(value, value_r))
		parser_fail(p, p->lineno, "'%s' in [listener %s] must be on or off, not '%.64s'",
			    name, listener, value);
	else
		*line_r = p->lineno;
}

/* parser_proxy_from - "192.0.2.10/32, 2001:db8::/64": the networks a
 * listener takes PROXY protocol headers from */
static void parser_proxy_from(struct config_parser *p, struct config_listener *l,
			      const char *value)
{
	if (p->listener_proxy_from_line != 0) {
		parser_fail(p, p->lineno, "'proxy_from' is set twice in [listener %s] "
			    "(first on line %d)", l->name, p->listener_proxy_from_line);
		return;
	}
	const char *bad = NULL;
	if (!parse_networks(value, &l->proxy_from, &l->proxy_from_count, &bad)) {
		if (bad)
			parser_fail(p, p->lineno, "'proxy_from' in [listener %s]: '%.64s' is not "
				    "ADDRESS/PREFIX (an IPv4 or IPv6 address, a prefix length)",
				    l->name, bad);
		else
			parser_fail(p, p->lineno, "'proxy_from' in [listener %s] is empty", l->name);
		return;
	}
	p->listener_proxy_from_line = p->lineno;
}

/* parse_networks - "192.0.2.10/32, 2001:db8::/64" (commas or spaces) into
 * a new array (*NETWORKS_R, replaced, the old one freed); false if a token
 * is not ADDRESS/PREFIX (*BAD_R: a copy of it in a static buffer) or the
 * list is empty (*BAD_R NULL); *NETWORKS_R is then left as it was */
static bool parse_networks(const char *value, struct config_network **networks_r,
			   size_t *count_r, const char **bad_r)
{
	static char bad[65];
	char *copy = xstrdup(value);
	char *save = NULL;
	struct config_network *networks = NULL;
	size_t count = 0;
	bool ok = true;
	if (bad_r)
		*bad_r = NULL;
	for (char *tok = strtok_r(copy, ", \t", &save); ok && tok != NULL;
	     tok = strtok_r(NULL, ", \t", &save)) {
		networks = xrealloc(networks, (count + 1) * sizeof(*networks));
		ok = parse_network(tok, &networks[count++]);
		if (!ok && bad_r) {
			snprintf(bad, sizeof(bad), "%s", tok);
			*bad_r = bad;
		}
	}
	free(copy);
	if (!ok || count == 0) {
		free(networks);
		return false;
	}
	free(*networks_r);
	*networks_r = networks;
	*count_r = count;
	return true;
}

/* parse_network - "ADDRESS/PREFIX" (IPv4 /0../32, IPv6 /0../128) with no
 * host bits set, as a v4-mapped key for net_address_in_networks() */
static bool parse_network(const char *s, struct config_network *network_r)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	unsigned char buf[16];
	unsigned long long bits;
	bool ok = false;
	memset(network_r, 0, sizeof(*network_r));
	if (slash == NULL || (size_t)(slash - s) >= sizeof(host) || slash[1] == '\0' ||
	    strspn(slash + 1, "0123456789") != strlen(slash + 1) || strlen(slash + 1) > 3)
		return false;
	memcpy(host, s, (size_t)(slash - s));
	host[slash - s] = '\0';
	bits = strtoull(slash + 1, NULL, 10);
	if (inet_pton(AF_INET, host, buf) == 1 && bits <= 32) {
		network_r->address[10] = network_r->address[11] = 0xff;
		memcpy(network_r->address + 12, buf, 4);
		network_r->bits = (unsigned)bits + 96;
		ok = true;
	} else if (inet_pton(AF_INET6, host, buf) == 1 && bits <= 128) {
		memcpy(network_r->address, buf, 16);
		network_r->bits = (unsigned)bits;
		ok = true;
	}
	/* host bits set are a typo more often than not: refuse them */
	for (unsigned i = network_r->bits; ok && i < 128; i++)
		ok = (network_r->address[i / 8] & (0x80u >> (i % 8))) == 0;
	return ok;
}

/* parser_finish_web - [web]: password_min <= password_max; mail_from an
 * address of printable ASCII without '<', '>', '"', ',' or spaces (it
 * stands in a From: field), unset postmaster@HOSTNAME */
static bool parser_finish_web(struct config_parser *p)
{
	struct config_web *web = &p->config->web;
	char *from = web->mail_from;
	if (web->password_min > web->password_max) {
		parser_fail(p, config_key_line_raw(p->key_lines, "web", "password_min"),
			    "[web] password_min must not be over password_max");
		return false;
	}
	if (from == NULL || from[0] == '\0') {
		free(from);
		web->mail_from = xasprintf("postmaster@%s", p->config->hostname);
		return true;
	}
	const char *at = strchr(from, '@');
	bool ok = at && at != from && at[1] != '\0' && strchr(at + 1, '@') == NULL &&
		strlen(from) <= 254;
	for (const char *c = from; ok && *c; c++)
		ok = *c > 0x20 && *c < 0x7f && !strchr("<>\",;()[]\\", *c);
	if (!ok)
		parser_fail(p, config_key_line_raw(p->key_lines, "web", "mail_from"),
			    "[web] mail_from must be an address (local@domain, printable ASCII)");
	return ok;
}

/* parser_finish_public_url - [http] public_url: an http or https URL of
 * printable ASCII without '<', '>', '"' or spaces (it stands inside <> in
 * List-Unsubscribe), its final '/' taken off; unset, https://HOSTNAME */
static bool parser_finish_public_url(struct config_parser *p)
{
	struct config *config = p->config;
	char *url = config->http.public_url;
	if (url == NULL || url[0] == '\0') {
		free(url);
		config->http.public_url = xasprintf("https://%s", config->hostname);
		return true;
	}
	size_t len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
	bool ok = len <= CONFIG_PUBLIC_URL_MAX &&
		(strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) &&
		len > (size_t)(url[4] == 's' ? 8 : 7);
	for (size_t i = 0; ok && i < len; i++)
		ok = url[i] > 0x20 && url[i] < 0x7f && !strchr("<>\"", url[i]);
	if (!ok)
		parser_fail(p, config_key_line_raw(p->key_lines, "http", "public_url"),
			    "[http] public_url must be an http:// or https:// URL of at most %d "
			    "printable characters, without spaces, '<', '>' or '\"'",
			    CONFIG_PUBLIC_URL_MAX);
	return ok;
}

/* parser_set_key - validate VALUE for key_defs[IDX] and store it */
static void parser_set_key(struct config_parser *p, size_t idx, const char *value)
{
	const struct key_def *def = &key_defs[idx];
	char *base = (char *)p->config;
	char **strp = (char **)(void *)(base + def->offset);
	unsigned long long n;
	bool b;

	if (def->type == KEY_DOMAINS) {
		parser_set_domains(p, value);
		p->key_lines[idx] = p->lineno;
		return;
	}
	if (p->line_continuation) {
		parser_fail(p, p->lineno, "'%s' takes one line; indented lines continue "
			    "the previous value", def->name);
		return;
	}
	if (p->key_lines[idx] != 0) {
		parser_fail(p, p->lineno, "'%s' is set twice in [%s] (first on line %d)",
			    def->name, section_names[def->section], p->key_lines[idx]);
		return;
	}

	switch (def->type) {
	case KEY_HOSTNAME: {
		size_t len = strlen(value);
		if (len > 0 && value[len - 1] == '.')
			len--;
		if (!domain_name_is_valid(value, len, 0)) {
			parser_fail(p, p->lineno, "'%s' must be a domain name, not '%.64s'",
				    def->name, value);
			return;
		}
		free(*strp);
		*strp = xstrndup(value, len);
		string_lower(*strp);
		break;
	}
	case KEY_STRING:
		free(*strp);
		*strp = xstrdup(value);
		break;
	case KEY_PATH:
	case KEY_OPTIONAL_PATH:
		if (*value == '\0' && def->type == KEY_PATH) {
			parser_fail(p, p->lineno, "'%s' must not be empty", def->name);
			return;
		}
		free(*strp);
		*strp = *value == '\0' ? NULL : parser_resolve_path(p, value);
		break;
	case KEY_LOG_LEVEL:
		if (log_level_parse(value) < 0) {
			parser_fail(p, p->lineno, "'%s' must be debug, info, warn or error, "
				    "not '%.64s'", def->name, value);
			return;
		}
		free(*strp);
		*strp = xstrdup(value);
		break;
	case KEY_BOOL:
		if (!parse_bool(value, &b)) {
			parser_fail(p, p->lineno, "'%s' must be true or false, not '%.64s'",
				    def->name, value);
			return;
		}
		*(bool *)(void *)(base + def->offset) = b;
		break;
	case KEY_UINT:
	case KEY_SIZE:
		if (!parse_number(value, def->type == KEY_SIZE, &n) ||
		    n < def->min || n > def->max) {
			parser_fail(p, p->lineno, "'%s' must be a number between %llu and %llu",
				    def->name, def->min, def->max);
			return;
		}
		if (def->type == KEY_SIZE)
			*(size_t *)(void *)(base + def->offset) = (size_t)n;
		else
			*(unsigned *)(void *)(base + def->offset) = (unsigned)n;
		break;
	case KEY_DURATION:
		if (!config_duration_parse(value, &n) || n < def->min || n > def->max) {
			parser_fail(p, p->lineno, "'%s' must be a duration between %llu and %llu "
				    "seconds (a number, optionally with s, m, h or d)",
				    def->name, def->min, def->max);
			return;
		}
		*(unsigned *)(void *)(base + def->offset) = (unsigned)n;
		break;
	case KEY_TLS_POLICY:
		if (!tls_policy_is_valid(value, def->section == SECTION_RELAY)) {
			parser_fail(p, p->lineno, "'%s' must be %s, not '%.64s'", def->name,
				    def->section == SECTION_RELAY ? "verify, encrypt or implicit" :
				    "none, may, encrypt or verify", value);
			return;
		}
		free(*strp);
		*strp = xstrdup(value);
		break;
	case KEY_BARE_NEWLINE:
		if (strcmp(value, "reject") == 0) {
			p->config->limits.bare_newline = BARE_NEWLINE_REJECT;
		} else if (strcmp(value, "accept") == 0) {
			p->config->limits.bare_newline = BARE_NEWLINE_ACCEPT;
		} else {
			parser_fail(p, p->lineno, "'%s' must be reject or accept, not '%.64s'",
				    def->name, value);
			return;
		}
		break;
	case KEY_CHOICE: {
		const char *const *choices = NULL;
		for (size_t c = 0; c < sizeof(key_choices) / sizeof(key_choices[0]); c++)
			if (key_choices[c].offset == def->offset)
				choices = key_choices[c].words;
		assert(choices != NULL);
		size_t k = 0;
		while (choices[k] && strcmp(choices[k], value) != 0)
			k++;
		if (!choices[k]) {
			char words[128] = "";
			for (size_t w = 0; choices[w]; w++)
				snprintf(words + strlen(words), sizeof(words) - strlen(words),
					 "%s%s", w == 0 ? "" : choices[w + 1] ? ", " : " or ",
					 choices[w]);
			parser_fail(p, p->lineno, "'%s' must be %s, not '%.64s'", def->name, words,
				    value);
			return;
		}
		*(unsigned *)(void *)(base + def->offset) = (unsigned)k;
		break;
	}
	case KEY_IP_ADDRESS:
		if (*value != '\0' && !ip_address_is_valid(value, strlen(value))) {
			parser_fail(p, p->lineno, "'%s' must be an IPv4 or IPv6 address, "
				    "not '%.64s'", def->name, value);
			return;
		}
		free(*strp);
		*strp = xstrdup(value);
		break;
	case KEY_ADDRESS: {
		if (*value != '\0' && !address_is_valid(value)) {
			parser_fail(p, p->lineno, "'%s' must be an address local@domain, not '%.64s'",
				    def->name, value);
			return;
		}
		free(*strp);
		*strp = NULL;
		if (*value != '\0') {
			const char *at = strrchr(value, '@');
			size_t dlen = strlen(at + 1);
			if (at[dlen] == '.')
				dlen--;
			*strp = xstrndup(value, (size_t)(at + 1 - value) + dlen);
			string_lower(*strp + (at + 1 - value));
		}
		break;
	}
	case KEY_RESOLVERS:
	case KEY_DOMAIN_LIST:
	case KEY_RELAY_DOMAINS: {
		size_t len;
		const char *bad = list_find_invalid(value, def->type == KEY_RESOLVERS ?
						    resolver_is_valid : list_domain_is_valid, &len);
		if (def->type == KEY_RELAY_DOMAINS && value[strspn(value, ", \t")] == '\0') {
			parser_fail(p, p->lineno, "'%s' must be * or a list of domain names",
				    def->name);
			return;
		}
		if (bad != NULL && def->type == KEY_RELAY_DOMAINS &&
		    strcmp(value, "*") == 0) {
			bad = NULL; /* "*" alone: every domain */
		} else if (bad != NULL && def->type == KEY_RELAY_DOMAINS &&
			   len == 1 && *bad == '*') {
			parser_fail(p, p->lineno, "'%s' is either * or a list of domain names, "
				    "not both", def->name);
			return;
		}
		if (bad != NULL && def->type == KEY_RESOLVERS) {
			parser_fail(p, p->lineno, "'%s' must be IP or IP@PORT (several separated "
				    "by commas), not '%.*s'", def->name,
				    (int)(len > 64 ? 64 : len), bad);
			return;
		}
		if (bad != NULL) {
			parser_fail(p, p->lineno, "'%.*s' in '%s' is not a valid domain name",
				    (int)(len > 64 ? 64 : len), bad, def->name);
			return;
		}
		free(*strp);
		*strp = xstrdup(value);
		break;
	}
	case KEY_NETWORKS: {
		/* the count is the field after the array (checked below) */
		struct config_network **networks = (struct config_network **)(void *)
			(base + def->offset);
		size_t *count = (size_t *)(void *)(base + def->offset + sizeof(*networks));
		const char *bad = NULL;
		if (!parse_networks(value, networks, count, &bad)) {
			parser_fail(p, p->lineno, "'%s' must be a list of ADDRESS/PREFIX (an IPv4 "
				    "or IPv6 network, e.g. 127.0.0.0/8, ::1/128), not '%.64s'",
				    def->name, bad ? bad : value);
			return;
		}
		break;
	}
	case KEY_NODE_ADDRESS: {
		const char *reason = NULL;
		if (*value != '\0' && (value[0] == '*' || strncmp(value, "unix:", 5) == 0 ||
				       !listener_address_is_valid(value, &reason))) {
			parser_fail(p, p->lineno, "'%s' must be IPv4:port or [IPv6]:port, the"
				    " address other nodes connect to, not '%.64s'%s%s", def->name,
				    value, reason ? ": " : "", reason ? reason : "");
			return;
		}
		free(*strp);
		*strp = *value == '\0' ? NULL : xstrdup(value);
		break;
	}
	case KEY_RELAY_HOST:
		if (*value != '\0' && !relay_host_is_valid(value)) {
			parser_fail(p, p->lineno, "'%s' must be a preset name (gmail, sendgrid...) "
				    "or HOST:PORT with a port from 1 to 65535, not '%.64s'",
				    def->name, value);
			return;
		}
		free(*strp);
		*strp = xstrdup(value);
		break;
	case KEY_DOMAINS:
		break; /* handled above */
	}
	p->key_lines[idx] = p->lineno;
}

/* parser_set_domains - add each comma or space separated domain of VALUE,
 * lower-cased and without one trailing dot */
static void parser_set_domains(struct config_parser *p, const char *value)
{
	const char *s = value;

	while (*s != '\0') {
		size_t len, dlen;
		char *domain;

		s += strspn(s, ", \t");
		len = strcspn(s, ", \t");
		if (len == 0)
			break;
		dlen = len;
		if (s[dlen - 1] == '.')
			dlen--;
		if (!domain_name_is_valid(s, dlen, 0)) {
			parser_fail(p, p->lineno, "'%.*s' in 'local' is not a valid domain name",
				    (int)(len > 64 ? 64 : len), s);
			return;
		}
		domain = xstrndup(s, dlen);
		string_lower(domain);
		config_local_domain_add(p->config, domain);
		free(domain);
		s += len;
	}
}

/* parser_finish - checks across keys, then the defaults that depend on the
 * file: listeners, hostname */
static void parser_finish(struct config_parser *p)
{
	struct config *config = p->config;
	int cert_line = 0, key_line = 0;

	for (size_t i = 0; i < KEY_DEF_COUNT; i++) {
		if (key_defs[i].offset == CONFIG_OFFSET(tls_certificate) &&
		    key_defs[i].type == KEY_OPTIONAL_PATH)
			cert_line = p->key_lines[i];
		else if (key_defs[i].offset == CONFIG_OFFSET(tls_key) &&
			 key_defs[i].type == KEY_OPTIONAL_PATH)
			key_line = p->key_lines[i];
	}
	if ((config->tls_certificate == NULL) != (config->tls_key == NULL)) {
		if (config->tls_certificate != NULL)
			parser_fail(p, cert_line, "[tls] 'certificate' is set but 'key' is not");
		else
			parser_fail(p, key_line, "[tls] 'key' is set but 'certificate' is not");
		return;
	}
	for (size_t i = 0; i < config->listener_count; i++) {
		enum listener_role role = config->listeners[i].role;
		if ((role == LISTENER_ROLE_SUBMISSIONS || role == LISTENER_ROLE_IMAPS ||
		     role == LISTENER_ROLE_POP3S || role == LISTENER_ROLE_HTTPS) &&
		    config->tls_certificate == NULL) {
			parser_fail(p, config->listeners[i].line, "[listener %s] has role "
				    "%s (implicit TLS) but [tls] has no certificate "
				    "and key", config->listeners[i].name, listener_role_name(role));
			return;
		}
	}
	parser_finish_relay(p);
	if (p->error_line != 0)
		return;
	parser_finish_store(p);
	if (p->error_line != 0)
		return;
	parser_finish_users(p);
	/* APPENDLIMIT follows the SMTP message size unless set */
	for (size_t i = 0; i < KEY_DEF_COUNT; i++)
		if (key_defs[i].offset == CONFIG_OFFSET(imap.literal_size) && p->key_lines[i] == 0)
			config->imap.literal_size = config->limits.message_size;
	if (config->listener_count == 0)
		config_add_default_listeners(config);
	if (config->hostname == NULL)
		config->hostname = config_default_hostname();
	if (config->auth.authserv_id == NULL)
		config->auth.authserv_id = xstrdup(config->hostname);
	if (!parser_finish_web(p))
		return;
	if (!parser_finish_public_url(p))
		return;
	if (config->node == NULL || config->node[0] == '\0') {
		free(config->node);
		config->node = xstrdup(config->hostname);
	}
	/* unset: three reports missed */
	int stale_line = config_key_line_raw(p->key_lines, "server", "node_stale_after");
	if (stale_line == 0)
		config->node_stale_after = 3 * config->node_report_interval;
	if (config->node_stale_after <= config->node_report_interval) {
		parser_fail(p, stale_line, "[server] node_stale_after (%u s) must be longer than"
			    " node_report_interval (%u s)", config->node_stale_after,
			    config->node_report_interval);
		return;
	}
	if (config->http.body_memory < config->http.body_size) {
		int line = config_key_line_raw(p->key_lines, "http", "body_memory");
		parser_fail(p, line ? line : config_key_line_raw(p->key_lines, "http", "body_size"),
			    "[http] body_memory (%zu) must be at least body_size (%zu)",
			    config->http.body_memory, config->http.body_size);
		return;
	}
	parser_finish_cluster(p);
	if (p->error_line != 0)
		return;
	config->key_lines = xmalloc(sizeof(p->key_lines));
	memcpy(config->key_lines, p->key_lines, sizeof(p->key_lines));
}

/* parser_finish_cluster - each [cluster] address is one of this node's
 * listeners of the right role (what other nodes reach there must be what
 * this node serves), and they need 'from': without it no node could use
 * them, and nothing could tell a node from any other client */
static void parser_finish_cluster(struct config_parser *p)
{
	const struct config *config = p->config;
	const struct {
		const char *key, *address;
		enum listener_role role;
	} uses[] = {
		{ "mail", config->cluster.mail, LISTENER_ROLE_MX },
		{ "imap", config->cluster.imap, LISTENER_ROLE_IMAP },
		{ "pop3", config->cluster.pop3, LISTENER_ROLE_POP3 },
	};

	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
		if (uses[i].address == NULL)
			continue;
		int line = config_key_line_raw(p->key_lines, "cluster", uses[i].key);
		bool found = false;
		for (size_t k = 0; !found && k < config->listener_count; k++)
			found = config->listeners[k].role == uses[i].role &&
				listener_serves_address(&config->listeners[k], uses[i].address);
		if (!found) {
			parser_fail(p, line, "[cluster] %s = %s is not the address of a listener"
				    " of role %s on this node", uses[i].key, uses[i].address,
				    listener_role_name(uses[i].role));
			return;
		}
		if (config->cluster.from_count == 0) {
			parser_fail(p, line, "[cluster] '%s' is set but 'from' is not (the nodes'"
				    " ADDRESS/PREFIX networks)", uses[i].key);
			return;
		}
	}
}

/* listener_serves_address - L listens on ADDRESS (IPv4:port or
 * [IPv6]:port): the same text, or a wildcard host with the same port */
static bool listener_serves_address(const struct config_listener *l, const char *address)
{
	const char *port = strrchr(address, ':');
	const char *lport = strrchr(l->address, ':');
	size_t lhost = lport ? (size_t)(lport - l->address) : 0;
	bool wildcard = (lhost == 1 && l->address[0] == '*') ||
			(lhost == 7 && strncmp(l->address, "0.0.0.0", 7) == 0 && address[0] != '[') ||
			(lhost == 4 && strncmp(l->address, "[::]", 4) == 0);

	return strcmp(l->address, address) == 0 ||
	       (wildcard && port && strcmp(lport, port) == 0);
}

/* parser_finish_relay - [relay] settings other than host mean nothing
 * without a host: a forgotten host is an error, not a silent no-op */
static void parser_finish_relay(struct config_parser *p)
{
	const struct config_relay *r = &p->config->relay;
	const char *const needs_host[] = { "username", "password", "tls", "domains" };
	const bool set[] = { r->username[0] != '\0', r->password[0] != '\0',
			     r->tls[0] != '\0', strcmp(r->domains, "*") != 0 };

	for (size_t i = 0; r->host[0] == '\0' && i < sizeof(set) / sizeof(set[0]); i++) {
		if (set[i]) {
			parser_fail(p, config_key_line_raw(p->key_lines, "relay", needs_host[i]),
				    "[relay] '%s' is set but 'host' is not", needs_host[i]);
			return;
		}
	}
}

/* parser_finish_store - backend = postgresql needs a url (a libpq
 * connection URI), and a url means nothing to sqlite: either mistake is an
 * error, not a silent fall back to the other database.  credentials_url
 * is for several nodes on PostgreSQL, and must not be the store's url:
 * the network process, which uses that one, would reach the hashes. */
static void parser_finish_store(struct config_parser *p)
{
	const struct config_store *st = &p->config->store;
	int url_line = config_key_line_raw(p->key_lines, "store", "url");
	int cred_line = config_key_line_raw(p->key_lines, "store", "credentials_url");

	if (st->backend == STORE_BACKEND_POSTGRESQL && st->url[0] == '\0') {
		parser_fail(p, config_key_line_raw(p->key_lines, "store", "backend"),
			    "[store] backend = postgresql needs 'url' (postgresql://...)");
	} else if (st->backend == STORE_BACKEND_SQLITE && st->url[0] != '\0') {
		parser_fail(p, url_line, "[store] 'url' is set but backend is sqlite"
			    " (set backend = postgresql)");
	} else if (st->url[0] != '\0' && !config_url_is_postgresql(st->url)) {
		parser_fail(p, url_line, "[store] 'url' must start with postgresql://");
	} else if (st->backend == STORE_BACKEND_SQLITE && st->credentials_url[0] != '\0') {
		parser_fail(p, cred_line, "[store] 'credentials_url' is set but backend is sqlite"
			    " (set backend = postgresql)");
	} else if (st->credentials_url[0] != '\0' &&
		   !config_url_is_postgresql(st->credentials_url)) {
		parser_fail(p, cred_line, "[store] 'credentials_url' must start with"
			    " postgresql://");
	} else if (st->credentials_url[0] != '\0' && strcmp(st->credentials_url, st->url) == 0) {
		parser_fail(p, cred_line, "[store] 'credentials_url' is the store's 'url': the"
			    " network process would reach the password hashes (give it a"
			    " database and a role of its own)");
	}
}

bool config_url_is_postgresql(const char *url)
{
	return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

/* parser_finish_users - the helpers' users follow [server] user when that
 * keeps the starting user ("root", or "" when not started as root): a
 * development or test setup then needs no system users at all.  A value set
 * in the file wins. */
static void parser_finish_users(struct config_parser *p)
{
	struct config *config = p->config;
	bool keep = config->user[0] == '\0' || strcmp(config->user, "root") == 0;

	if (keep && config_key_line_raw(p->key_lines, "server", "auth_user") == 0) {
		free(config->auth_user);
		config->auth_user = xstrdup(config->user);
	}
	if (keep && config_key_line_raw(p->key_lines, "server", "keys_user") == 0) {
		free(config->keys_user);
		config->keys_user = xstrdup(config->user);
	}
}

/* config_key_line_raw - the line in LINES of SECTION's KEY; 0 = not set */
static int config_key_line_raw(const int *lines, const char *section, const char *key)
{
	int line = 0;

	for (size_t i = 0; lines != NULL && i < KEY_DEF_COUNT; i++)
		if (strcmp(section_names[key_defs[i].section], section) == 0 &&
		    strcmp(key_defs[i].name, key) == 0)
			line = lines[i];
	return line;
}

int config_key_line(const struct config *config, const char *section, const char *key)
{
	return config_key_line_raw(config->key_lines, section, key);
}

/* parser_file_dir - the absolute directory holding FILE; NULL and errno */
static char *parser_file_dir(const char *file)
{
	const char *slash = strrchr(file, '/');
	char *dir, *abs;

	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == file)
		dir = xstrdup("/");
	else
		dir = xstrndup(file, (size_t)(slash - file));
	abs = realpath(dir, NULL);
	free(dir);
	return abs;
}

/* parser_resolve_path - VALUE if absolute, else relative to the file's dir */
static char *parser_resolve_path(const struct config_parser *p, const char *value)
{
	if (value[0] == '/')
		return xstrdup(value);
	while (value[0] == '.' && value[1] == '/') {
		value += 2;
		while (*value == '/')
			value++;
	}
	if (*value == '\0' || strcmp(value, ".") == 0)
		return xstrdup(p->dir);
	if (strcmp(p->dir, "/") == 0)
		return xasprintf("/%s", value);
	return xasprintf("%s/%s", p->dir, value);
}

/* parse_number - decimal digits, with a k/M/G suffix (powers of 1024,
 * any case) if ALLOW_SUFFIX; false on anything else or overflow */
static bool parse_number(const char *s, bool allow_suffix,
			 unsigned long long *value_r)
{
	unsigned long long n = 0, mult = 1;
	bool ok = isdigit((unsigned char)*s) != 0;

	for (; ok && isdigit((unsigned char)*s); s++) {
		unsigned digit = (unsigned)(*s - '0');
		if (n > (ULLONG_MAX - digit) / 10)
			ok = false;
		else
			n = n * 10 + digit;
	}
	if (ok && *s != '\0') {
		switch (allow_suffix ? *s : '\0') {
		case 'k': case 'K': mult = 1024ULL; break;
		case 'm': case 'M': mult = 1024ULL * 1024; break;
		case 'g': case 'G': mult = 1024ULL * 1024 * 1024; break;
		default: ok = false; break;
		}
		if (ok && s[1] != '\0')
			ok = false;
	}
	if (ok && n > ULLONG_MAX / mult)
		ok = false;
	if (ok)
		*value_r = n * mult;
	return ok;
}

bool config_size_parse(const char *s, unsigned long long *value_r)
{
	return parse_number(s, true, value_r);
}

bool config_duration_parse(const char *s, unsigned long long *value_r)
{
	static const struct { char suffix; unsigned long long seconds; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	size_t len = strlen(s);
	unsigned long long mult = 1, n;
	char digits[32];
	if (len == 0 || len >= sizeof(digits))
		return false;
	memcpy(digits, s, len + 1);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (digits[len - 1] == units[i].suffix) {
			mult = units[i].seconds;
			digits[len - 1] = '\0';
		}
	}
	if (!parse_number(digits, false, &n) || n > ULLONG_MAX / mult)
		return false;
	*value_r = n * mult;
	return true;
}

/* parse_bool - true/false, yes/no, on/off, 1/0 in any case */
static bool parse_bool(const char *s, bool *value_r)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	bool ok = false;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]) && !ok; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*value_r = true;
			ok = true;
		} else if (strcasecmp(s, no[i]) == 0) {
			*value_r = false;
			ok = true;
		}
	}
	return ok;
}

/* parse_role - mx, submission, submissions, local, imap, imaps, pop3, pop3s,
 * http, https */
static bool parse_role(const char *s, enum listener_role *role_r)
{
	bool ok = true;

	if (strcmp(s, "mx") == 0)
		*role_r = LISTENER_ROLE_MX;
	else if (strcmp(s, "submission") == 0)
		*role_r = LISTENER_ROLE_SUBMISSION;
	else if (strcmp(s, "submissions") == 0)
		*role_r = LISTENER_ROLE_SUBMISSIONS;
	else if (strcmp(s, "local") == 0)
		*role_r = LISTENER_ROLE_LOCAL;
	else if (strcmp(s, "imap") == 0)
		*role_r = LISTENER_ROLE_IMAP;
	else if (strcmp(s, "imaps") == 0)
		*role_r = LISTENER_ROLE_IMAPS;
	else if (strcmp(s, "pop3") == 0)
		*role_r = LISTENER_ROLE_POP3;
	else if (strcmp(s, "pop3s") == 0)
		*role_r = LISTENER_ROLE_POP3S;
	else if (strcmp(s, "http") == 0)
		*role_r = LISTENER_ROLE_HTTP;
	else if (strcmp(s, "https") == 0)
		*role_r = LISTENER_ROLE_HTTPS;
	else
		ok = false;
	return ok;
}

/* listener_name_is_valid - 1..LISTENER_NAME_MAX of [A-Za-z0-9._-] */
static bool listener_name_is_valid(const char *name)
{
	size_t len = strlen(name);

	return len >= 1 && len <= LISTENER_NAME_MAX &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-") == len;
}

/* listener_address_is_valid - "*:port", "a.b.c.d:port" or "[v6]:port" */
static bool listener_address_is_valid(const char *address, const char **reason_r)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char buf[sizeof(struct in6_addr)];
	const char *colon;
	size_t hlen;
	bool ok = false;

	*reason_r = "expected *:port, IPv4:port, [IPv6]:port or unix:PATH";
	if (strncmp(address, "unix:", 5) == 0) {
		size_t plen = strlen(address + 5);
		/* sun_path holds 108 bytes; relative paths grow when resolved */
		if (plen == 0 || plen > 100)
			*reason_r = "unix:PATH needs a path of 1 to 100 characters";
		else
			ok = true;
	} else if (address[0] == '[') {
		const char *close = strchr(address, ']');
		if (close != NULL && close[1] == ':') {
			hlen = (size_t)(close - address - 1);
			colon = close + 1;
			if (hlen > 0 && hlen < sizeof(host)) {
				memcpy(host, address + 1, hlen);
				host[hlen] = '\0';
				if (inet_pton(AF_INET6, host, buf) != 1)
					*reason_r = "not an IPv6 address between [ and ]";
				else if (!port_is_valid(colon + 1))
					*reason_r = "the port must be a number from 1 to 65535";
				else
					ok = true;
			}
		}
	} else if ((colon = strchr(address, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
		hlen = (size_t)(colon - address);
		if (hlen > 0 && hlen < sizeof(host)) {
			memcpy(host, address, hlen);
			host[hlen] = '\0';
			if (strcmp(host, "*") != 0 && inet_pton(AF_INET, host, buf) != 1)
				*reason_r = "the host must be *, an IPv4 address or [IPv6]";
			else if (!port_is_valid(colon + 1))
				*reason_r = "the port must be a number from 1 to 65535";
			else
				ok = true;
		}
	}
	return ok;
}

/* port_is_valid - decimal 1..65535 */
static bool port_is_valid(const char *s)
{
	unsigned long long n;

	return strlen(s) <= 5 && parse_number(s, false, &n) && n >= 1 && n <= 65535;
}

/* ip_address_is_valid - S[0..LEN) is an IPv4 or IPv6 address literal */
static bool ip_address_is_valid(const char *s, size_t len)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char buf[sizeof(struct in6_addr)];
	bool ok = len > 0 && len < sizeof(host);

	if (ok) {
		memcpy(host, s, len);
		host[len] = '\0';
		ok = inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
	}
	return ok;
}

/* resolver_is_valid - S[0..LEN) is IP or IP@PORT, libunbound's forwarder
 * syntax (ub_ctx_set_fwd) */
static bool resolver_is_valid(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len);
	char port[8];
	size_t plen;
	bool ok;

	if (at == NULL)
		return ip_address_is_valid(s, len);
	plen = len - (size_t)(at - s) - 1;
	ok = ip_address_is_valid(s, (size_t)(at - s)) && plen > 0 && plen < sizeof(port);
	if (ok) {
		memcpy(port, at + 1, plen);
		port[plen] = '\0';
		ok = port_is_valid(port);
	}
	return ok;
}

/* relay_host_is_valid - a preset name (letters only; which names exist is
 * delivery's to say, see config_key_line) or HOST:PORT, HOST a domain name,
 * an IPv4 address or [IPv6] */
static bool relay_host_is_valid(const char *value)
{
	const char *colon = strrchr(value, ':');
	size_t hlen;
	bool ok;

	if (colon == NULL)
		return strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") ==
		       strlen(value);
	hlen = (size_t)(colon - value);
	if (hlen > 2 && value[0] == '[' && value[hlen - 1] == ']') {
		char host[INET6_ADDRSTRLEN + 1];
		unsigned char buf[sizeof(struct in6_addr)];
		ok = hlen - 2 < sizeof(host);
		if (ok) {
			memcpy(host, value + 1, hlen - 2);
			host[hlen - 2] = '\0';
			ok = inet_pton(AF_INET6, host, buf) == 1;
		}
	} else {
		ok = memchr(value, ':', hlen) == NULL &&
		     (ip_address_is_valid(value, hlen) || domain_name_is_valid(value, hlen, 0));
	}
	return ok && port_is_valid(colon + 1);
}

/* list_domain_is_valid - a domain name, one trailing dot allowed */
static bool list_domain_is_valid(const char *s, size_t len)
{
	return domain_name_is_valid(s, len, DOMAIN_NAME_ABSOLUTE);
}

/* list_find_invalid - the first item of a comma or space separated VALUE
 * that VALID refuses (its length in *LEN_R), or NULL if all pass */
static const char *list_find_invalid(const char *value, bool (*valid)(const char *, size_t),
				     size_t *len_r)
{
	const char *s = value;
	const char *bad = NULL;

	while (*s != '\0' && bad == NULL) {
		s += strspn(s, ", \t");
		size_t len = strcspn(s, ", \t");
		if (len > 0 && !valid(s, len)) {
			bad = s;
			*len_r = len;
		}
		s += len;
	}
	return bad;
}

/* address_is_valid - local@domain: an ASCII dot-atom local part of at most
 * 64 octets (RFC 5321 4.5.3.1.1) and a valid domain name, one trailing dot
 * allowed */
static bool address_is_valid(const char *address)
{
	const char *at = strrchr(address, '@');
	return at != NULL && at - address <= 64 &&
	       dot_atom_is_valid(address, (size_t)(at - address), 0) &&
	       domain_name_is_valid(at + 1, strlen(at + 1), DOMAIN_NAME_ABSOLUTE);
}


/* string_lower - ASCII lower-case in place */
static void string_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}
