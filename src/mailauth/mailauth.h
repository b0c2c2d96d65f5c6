/* mailauth - email authentication: SPF (RFC 7208), DKIM (RFC 6376, RFC 8463),
 * DMARC (RFC 7489); later ARC (RFC 8617), SRS and Authentication-Results
 * (RFC 8601).
 *
 * The parsers and evaluators here do no I/O: DNS answers are handed to them
 * (SPF asks for the lookups it needs one at a time), so unit tests and fuzz
 * targets call them directly; the asynchronous drivers on dns/ sit beside
 * them.  Errors travel out as text through error_r (static strings).
 */
#ifndef PETREL_MAILAUTH_H
#define PETREL_MAILAUTH_H

#include <stdbool.h>
#include <stddef.h>

/* ---- tag=value lists (RFC 6376 3.2; DKIM signatures and keys, DMARC) ---- */

/* One tag of a tag=value list: pointers into the parsed text, valid as long
 * as it is.  The value has its surrounding FWS trimmed and keeps its inner
 * FWS (line breaks included); it may be empty. */
struct mailauth_tag {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* mailauth_tags_parse - split TEXT[0..LEN) (not NUL-terminated) into at most
 * MAX tags in TAGS_R, in their order.  RFC 6376 3.2: tag-name = ALPHA
 * *(ALPHA / DIGIT / "_"), FWS allowed around "=" and ";", a trailing ";"
 * (and FWS after it) allowed, empty values allowed.  Returns the number of
 * tags (0 for an empty or all-FWS text), or -1 and *error_r on a syntax
 * error, a duplicate tag name (the whole list is then invalid) or more than
 * MAX tags. */
int mailauth_tags_parse(const char *text, size_t len, struct mailauth_tag *tags_r,
			size_t max, const char **error_r);

/* mailauth_tags_find - the tag named NAME (NUL-terminated; compared
 * case-sensitively, RFC 6376 3.2) among TAGS[0..COUNT), or NULL */
const struct mailauth_tag *mailauth_tags_find(const struct mailauth_tag *tags, size_t count,
					      const char *name);

/* ---- SPF (RFC 7208) ------------------------------------------------------ */

/* An SPF check is check_host() of RFC 7208 section 4, I/O-free: the caller
 * asks spf_check_next what to do; it answers 0 with the DNS query it needs
 * (one at a time) and the caller hands the answer to spf_check_answer, or
 * 1 once the outcome is known.  Limits (RFC 7208 4.6.4): 10 terms doing
 * DNS lookups (include, a, mx, ptr, exists, redirect), 2 void lookups,
 * 10 MX hosts per mx (more is a permerror), the first 10 PTR names.  Work
 * and memory are bounded: at most SPF_QUERIES_MAX queries per check, and
 * each record and expansion is bounded in size. */

enum spf_result {
	SPF_RESULT_NONE,
	SPF_RESULT_NEUTRAL,
	SPF_RESULT_PASS,
	SPF_RESULT_FAIL,
	SPF_RESULT_SOFTFAIL,
	SPF_RESULT_TEMPERROR,
	SPF_RESULT_PERMERROR,
};

/* spf_result_name - the RFC 8601 / RFC 7208 8 keyword ("pass", "softfail") */
const char *spf_result_name(enum spf_result result);

#define SPF_LOOKUP_MAX 10      /* RFC 7208 4.6.4: terms that query DNS */
#define SPF_VOID_MAX 2         /* RFC 7208 4.6.4: lookups answering nothing */
#define SPF_NAMES_MAX 10       /* RFC 7208 4.6.4: MX hosts, PTR names checked */
#define SPF_QUERIES_MAX 160    /* every query of one check, exp= and %{p} included */
#define SPF_RECORD_MAX 4096    /* an SPF record longer than this is a permerror */
#define SPF_EXPAND_MAX 2048    /* longest macro expansion (explanations included) */

enum spf_dns_type { SPF_DNS_TXT, SPF_DNS_A, SPF_DNS_AAAA, SPF_DNS_MX, SPF_DNS_PTR };
enum spf_dns_status { SPF_DNS_OK, SPF_DNS_NODATA, SPF_DNS_NXDOMAIN, SPF_DNS_TEMPFAIL };

struct spf_params {
	const char *ip;        /* the client: "192.0.2.1", "2001:db8::1" (IPv4-mapped
				  IPv6 is IPv4, RFC 7208 5) */
	const char *sender;    /* MAIL FROM without <>; "" or NULL: the HELO identity
				  is checked as postmaster@HELO (RFC 7208 2.4) */
	const char *helo;      /* HELO/EHLO argument (%{h}); NULL = none */
	const char *receiver;  /* %{r} in explanations: our host name; NULL = "unknown" */
	long long now;         /* %{t}: seconds since the epoch */
};

struct spf_query {
	const char *name;      /* no trailing dot; valid until the next call */
	enum spf_dns_type type;
};

struct spf_outcome {
	enum spf_result result;
	const char *mechanism;   /* the term that decided, as written ("-all",
				    "include:_spf.example.com"); NULL when none did */
	const char *domain;      /* whose record decided (after redirects) */
	const char *explanation; /* fail: the exp= text; NULL if none or unusable */
	const char *problem;     /* none, neutral by default, errors: why; else NULL */
	unsigned lookups;        /* terms counted against SPF_LOOKUP_MAX */
	unsigned void_lookups;
	unsigned queries;        /* DNS queries asked, all kinds */
};

struct spf_check;

/* spf_check_new - a check of PARAMS (copied).  An IP that does not parse or
 * an identity that is no domain name (RFC 7208 4.3) ends at once: none. */
struct spf_check *spf_check_new(const struct spf_params *params);
/* spf_check_next - 1: done, see spf_check_outcome; 0: *QUERY_R must be
 * answered with spf_check_answer before the next call */
int spf_check_next(struct spf_check *check, struct spf_query *query_r);
/* spf_check_answer - the answer to the last query: ITEMS are TXT texts
 * (strings of one record joined), addresses in text form, MX "PREF NAME",
 * PTR names; COUNT of them when STATUS is SPF_DNS_OK */
void spf_check_answer(struct spf_check *check, enum spf_dns_status status,
		      const char *const *items, size_t count);
/* spf_check_outcome - valid once spf_check_next said 1, until the free */
const struct spf_outcome *spf_check_outcome(const struct spf_check *check);
void spf_check_free(struct spf_check **check);

/* The asynchronous driver (spf-dns.c): the check above on dns/'s resolver,
 * on the libevent loop of BASE.  CB is called exactly once, from the loop
 * (never from inside spf_request_start), with an outcome valid during the
 * call; never after spf_request_cancel.  Cancelling inside the request's
 * own callback does nothing (it is freed when the callback returns); other
 * requests may be cancelled from any callback. */
struct event_base;
struct dns_resolver;
struct spf_request;
typedef void spf_request_cb(void *ctx, const struct spf_outcome *outcome);
struct spf_request *spf_request_start(struct event_base *base, struct dns_resolver *resolver,
				      const struct spf_params *params, spf_request_cb *cb,
				      void *ctx);
void spf_request_cancel(struct spf_request *request);

/* The record parser (RFC 7208 4.5, 4.6, 5, 6) and the macro expander
 * (RFC 7208 7), public for tests, fuzzing and a later check-domain. */
enum spf_mechanism {
	SPF_MECH_ALL, SPF_MECH_INCLUDE, SPF_MECH_A, SPF_MECH_MX, SPF_MECH_PTR,
	SPF_MECH_IP4, SPF_MECH_IP6, SPF_MECH_EXISTS,
};

struct spf_term {
	enum spf_mechanism mechanism;
	enum spf_result qualifier;   /* PASS, FAIL, SOFTFAIL or NEUTRAL */
	const char *text;            /* the term as written, in the record's copy */
	size_t text_len;
	const char *spec;            /* domain-spec; NULL = the current domain */
	size_t spec_len;
	unsigned cidr4, cidr6;       /* prefix lengths: 32 and 128 by default */
	unsigned char addr[16];      /* ip4: first 4 octets; ip6: 16 */
};

struct spf_record {
	char *text;                  /* a copy of the record, NUL-terminated */
	struct spf_term *terms;
	size_t term_count;
	const char *redirect, *exp;  /* domain-specs of the modifiers; NULL = absent */
	size_t redirect_len, exp_len;
};

/* spf_record_is_spf - TEXT[0..LEN) is an SPF version 1 record: "v=spf1"
 * (any case) alone or followed by a space (RFC 7208 4.5) */
bool spf_record_is_spf(const char *text, size_t len);
/* spf_record_parse - the whole record checked (RFC 7208 4.6: a syntax error
 * anywhere is a permerror); NULL and *error_r if it is not valid */
struct spf_record *spf_record_parse(const char *text, size_t len, const char **error_r);
void spf_record_free(struct spf_record **record);

struct spf_macro_env {
	const char *sender;          /* %{s}: local@domain */
	const char *local;           /* %{l} */
	const char *sender_domain;   /* %{o} */
	const char *domain;          /* %{d}: the domain being checked */
	const char *ip;              /* %{i} %{c} %{v}: text form, IPv4 or IPv6 */
	const char *ptr_name;        /* %{p}: validated name; NULL = "unknown" */
	const char *helo;            /* %{h}; NULL = "unknown" */
	const char *receiver;        /* %{r}; NULL = "unknown" */
	long long now;               /* %{t} */
};

#define SPF_MACRO_EXPLAIN 0x1u   /* explanation text: c, r, t allowed, and spaces */

/* spf_macro_expand - expand the macro-string TEXT[0..LEN) (RFC 7208 7):
 * letters s l o d i p v h (c r t with SPF_MACRO_EXPLAIN), digit and "r"
 * transformers, delimiters, upper case URL-escaped, %% %_ %-.  0 and a
 * malloc'ed *out_r, or -1 and *error_r on a syntax error or an expansion
 * longer than SPF_EXPAND_MAX. */
int spf_macro_expand(const char *text, size_t len, const struct spf_macro_env *env,
		     unsigned flags, char **out_r, const char **error_r);
/* spf_macro_check - TEXT[0..LEN) is a valid macro-string under FLAGS;
 * *uses_p_r says whether it holds a %{p} */
bool spf_macro_check(const char *text, size_t len, unsigned flags, bool *uses_p_r);

/* ---- DKIM (RFC 6376, RFC 8463) ------------------------------------------- */

/* DKIM verification, fed the message as it arrives (the DATA stream after
 * dot-unstuffing, or a stored file): the header section is kept (bounded)
 * until its end, then each DKIM-Signature found is parsed and its header
 * hash computed at once, and the body streams through one canonicalizer and
 * SHA-256 per distinct (canonicalization, l=) pair; the body is never kept.
 * The keys (TXT at <s>._domainkey.<d>) are handed in by the caller, or by
 * dkim_verify_lookup_keys on the loop; each signature is decided when both
 * its key and the end of the body are in.  Results are RFC 8601 words with a
 * reason for anything but pass.  All strings returned point into VERIFY and
 * live as long as it does. */

struct dns_records;
struct dns_resolver;

enum dkim_result {
	DKIM_RESULT_NONE,         /* no signature (a message-level answer) */
	DKIM_RESULT_PASS,
	DKIM_RESULT_FAIL,         /* body hash or signature did not verify */
	DKIM_RESULT_TEMPERROR,    /* the key could not be fetched, for now */
	DKIM_RESULT_PERMERROR,    /* unusable: syntax, no key, revoked, short key,
				     unsupported algorithm, expired */
};
/* dkim_result_name - the RFC 8601 keyword ("pass", "fail", ...) */
const char *dkim_result_name(enum dkim_result result);

#define DKIM_SIGNATURES_DEFAULT 5               /* verified per message */
#define DKIM_HEADER_SIZE_DEFAULT (256u * 1024)  /* header section kept, bytes */

struct dkim_verify_settings {
	unsigned max_signatures;  /* the first N signatures are verified, later
				     ones ignored; 0 = DKIM_SIGNATURES_DEFAULT */
	size_t max_header_size;   /* a larger header section is not verified;
				     0 = DKIM_HEADER_SIZE_DEFAULT */
	long long now;            /* seconds since the epoch, for x= */
};

/* What is known of one signature; result is DKIM_RESULT_NONE while it is
 * still undecided. */
struct dkim_signature_report {
	enum dkim_result result;
	const char *reason;       /* why, for all but pass ("body hash did not
				     verify", "signature did not verify", "key
				     revoked", ...); static text */
	const char *domain;       /* d=, or NULL if it could not be read */
	const char *selector;     /* s=, or NULL */
	const char *algorithm;    /* a= as written, or NULL */
	const char *identity;     /* i= (or "@" d=), or NULL */
	const char *b;            /* b= without FWS, or NULL (header.b, RFC 6008) */
	bool testing;             /* the key says t=y: the domain is testing DKIM */
};

struct dkim_verify;

struct dkim_verify *dkim_verify_create(const struct dkim_verify_settings *settings);
void dkim_verify_free(struct dkim_verify **verify);
/* dkim_verify_feed - the next LEN bytes of the message, in chunks of any
 * size; CRLF or (stored messages) LF line ends */
void dkim_verify_feed(struct dkim_verify *verify, const void *data, size_t len);
/* dkim_verify_headers_done - the header section is read: the signatures are
 * known and their keys can be looked up (while the body still streams) */
bool dkim_verify_headers_done(const struct dkim_verify *verify);
/* dkim_verify_finish - the end of the message: body hashes are final */
void dkim_verify_finish(struct dkim_verify *verify);
/* dkim_verify_error - why nothing was verified (a header section over its
 * limit), or NULL */
const char *dkim_verify_error(const struct dkim_verify *verify);
/* dkim_verify_count - the signatures verified (at most max_signatures);
 * dkim_verify_ignored - those found beyond them */
size_t dkim_verify_count(const struct dkim_verify *verify);
size_t dkim_verify_ignored(const struct dkim_verify *verify);
/* dkim_verify_key_name - the TXT name to look up for signature INDEX
 * ("<s>._domainkey.<d>"), or NULL when it needs no key (already decided) */
const char *dkim_verify_key_name(const struct dkim_verify *verify, size_t index);
/* dkim_verify_key - the answer to that lookup (RFC 6376 6.1.2): NXDOMAIN or
 * NODATA is permerror, TEMPFAIL temperror; among several TXT records the
 * first that parses as a key is used.  Decides the signature if the body is
 * finished. */
void dkim_verify_key(struct dkim_verify *verify, size_t index, const struct dns_records *records);
/* dkim_verify_is_done - every signature is decided */
bool dkim_verify_is_done(const struct dkim_verify *verify);
const struct dkim_signature_report *dkim_verify_report(const struct dkim_verify *verify,
							size_t index);
/* dkim_verify_result - the best of the signatures' results (pass over fail
 * over temperror over permerror), NONE without any */
enum dkim_result dkim_verify_result(const struct dkim_verify *verify);

/* The asynchronous key lookups on dns/ (loop thread).  CB is called once,
 * on the loop, when every key asked for is in VERIFY; the lookup is freed
 * after CB returns.  dkim_key_lookup_cancel stops it without a callback. */
struct dkim_key_lookup;
typedef void dkim_key_lookup_cb(void *ctx);
/* dkim_verify_lookup_keys - look up every key VERIFY (headers done) still
 * needs; NULL when none is needed (CB is then never called).  A query that
 * cannot be started is a temperror of its signature. */
struct dkim_key_lookup *dkim_verify_lookup_keys(struct dkim_verify *verify,
						struct dns_resolver *resolver,
						dkim_key_lookup_cb *cb, void *ctx);
void dkim_key_lookup_cancel(struct dkim_key_lookup **lookup);

/* ---- DMARC (RFC 7489) and the organizational domain ---------------------- */

/* The Public Suffix List (publicsuffix.org), read once at start; lookups
 * are pure and may run on any thread.  Both of its sections (ICANN and
 * PRIVATE) are used.  Names are looked up in A-label form (xn--...); the
 * list's Unicode rules are converted to A-labels when it is read. */
struct mailauth_psl;

#define MAILAUTH_DOMAIN_SIZE 254  /* a domain name (253 octets) and its NUL */

/* mailauth_psl_parse - the list in TEXT[0..LEN) (its file format: one rule
 * per line up to the first whitespace, "//" comments, "*." wildcards, "!"
 * exceptions).  NULL, *error_r and *line_r (1-based; 0 when the error is
 * not on one line) on an invalid rule or a list without rules. */
struct mailauth_psl *mailauth_psl_parse(const char *text, size_t len, size_t *line_r,
					const char **error_r);
/* mailauth_psl_load - read the file PATH and parse it; NULL and *error_r
 * ("PATH:LINE: what", static storage valid until the next call) on failure.
 * Blocking file I/O: call it at start, not on the event loop. */
struct mailauth_psl *mailauth_psl_load(const char *path, const char **error_r);
void mailauth_psl_free(struct mailauth_psl **psl);
/* mailauth_psl_rule_count - the rules read (for logs and the CLI) */
size_t mailauth_psl_rule_count(const struct mailauth_psl *psl);

/* mailauth_psl_registrable - the registrable domain of DOMAIN[0..LEN) (its
 * public suffix and one more label), lower-case without a trailing dot, in
 * OUT_R.  1 if found; 0 if DOMAIN is itself a public suffix (OUT_R unset);
 * -1 if DOMAIN is not a domain name of letters, digits and hyphens (one
 * trailing dot allowed). */
int mailauth_psl_registrable(const struct mailauth_psl *psl, const char *domain, size_t len,
			     char out_r[MAILAUTH_DOMAIN_SIZE]);
/* mailauth_org_domain - the organizational domain of DOMAIN[0..LEN) (RFC
 * 7489 3.2) in OUT_R, lower-case without a trailing dot: its registrable
 * domain, or DOMAIN itself when it is a public suffix (3.2 leaves that case
 * undefined; DOMAIN is then the only name to ask and to align with).  False
 * if DOMAIN is not a domain name, as mailauth_psl_registrable says. */
bool mailauth_org_domain(const struct mailauth_psl *psl, const char *domain, size_t len,
			 char out_r[MAILAUTH_DOMAIN_SIZE]);

#endif
