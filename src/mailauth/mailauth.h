/* mailauth - email authentication: SPF (RFC 7208), DKIM (RFC 6376, RFC 8463),
 * DMARC (RFC 7489), ARC verification (RFC 8617), SRS; later
 * Authentication-Results (RFC 8601).
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
#define SPF_VOID_MAX 2         /* RFC 7208 4.6.4: lookups answering nothing (default) */
#define SPF_NAMES_MAX 10       /* RFC 7208 4.6.4: MX hosts, PTR names checked */
#define SPF_QUERIES_MAX 160    /* every query of one check, exp= and %{p} included */
#define SPF_RECORD_MAX 4096    /* an SPF record longer than this is a permerror */
#define SPF_EXPAND_MAX 2048    /* longest macro expansion (explanations included) */
#define SPF_TIMEOUT_MS 20000   /* default time limit of a check: the RFC's "at least 20 s" */

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
	unsigned void_lookups_max; /* void lookups allowed (RFC 7208 4.6.4 lets it be
				      set); 0 = SPF_VOID_MAX */
	unsigned timeout_ms;   /* the driver's limit on the whole check (RFC 7208
				  4.6.4: temperror past it); 0 = SPF_TIMEOUT_MS */
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
 * PTR names; COUNT of them when STATUS is SPF_DNS_OK.  LENGTHS, when not
 * NULL, gives each item's octets: a TXT text may hold a NUL octet, which
 * makes its record a syntax error (permerror), not a shorter record. */
void spf_check_answer(struct spf_check *check, enum spf_dns_status status,
		      const char *const *items, const size_t *lengths, size_t count);
/* spf_check_expire - the caller's time limit is over (RFC 7208 4.6.4):
 * the result is temperror, or, in the explanation's fetch, the result stays
 * and has no explanation; the last query needs no answer.  Then
 * spf_check_next says 1. */
void spf_check_expire(struct spf_check *check);
/* spf_check_outcome - valid once spf_check_next said 1, until the free */
const struct spf_outcome *spf_check_outcome(const struct spf_check *check);
void spf_check_free(struct spf_check **check);

/* The asynchronous driver (spf-dns.c): the check above on dns/'s resolver,
 * on the libevent loop of BASE, within PARAMS->timeout_ms (then temperror).
 * CB is called exactly once, from the loop
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
	bool defer_checks;        /* a key handed in is only kept: the public-key
				     operations wait for dkim_verify_check (or
				     arc_verify_check), which a caller on the
				     event loop runs on a worker */
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
/* dkim_verify_check - decide every signature whose key and body hash are
 * in (the public-key operations): with defer_checks, the one place they
 * run; without, a no-op as they ran when the key or the body's end came */
void dkim_verify_check(struct dkim_verify *verify);
/* dkim_verify_is_done - every signature is decided */
bool dkim_verify_is_done(const struct dkim_verify *verify);
const struct dkim_signature_report *dkim_verify_report(const struct dkim_verify *verify,
							size_t index);
/* dkim_verify_result - the best of the signatures' results (pass over fail
 * over temperror over permerror), NONE without any */
enum dkim_result dkim_verify_result(const struct dkim_verify *verify);

/* The asynchronous key lookups on dns/ (loop thread).  CB is called once,
 * on the loop, when every key asked for is in VERIFY; the lookup is freed
 * after CB returns (CB may free VERIFY; it must not cancel the lookup).
 * dkim_key_lookup_cancel stops it without a callback: a session that
 * closes cancels its lookup before it frees VERIFY or the resolver. */
struct dkim_key_lookup;
typedef void dkim_key_lookup_cb(void *ctx);
/* dkim_verify_lookup_keys - look up every key VERIFY (headers done) still
 * needs; NULL when none is needed (CB is then never called).  A query that
 * cannot be started is a temperror of its signature. */
struct dkim_key_lookup *dkim_verify_lookup_keys(struct dkim_verify *verify,
						struct dns_resolver *resolver,
						dkim_key_lookup_cb *cb, void *ctx);
void dkim_key_lookup_cancel(struct dkim_key_lookup **lookup);

/* A published key record described, for `petrel check-domain` (the record
 * a domain owner publishes at <s>._domainkey.<d>, RFC 6376 3.6.1). */
struct dkim_key_info {
	const char *type;         /* "rsa" or "ed25519" */
	unsigned bits;            /* the key's size; 0 when revoked */
	bool testing;             /* t=y */
	bool revoked;             /* empty p= */
};
/* dkim_key_describe - TEXT[0..LEN) as a key record: 0 and *INFO_R when it
 * parses and (unless revoked) holds a public key of its type, whatever its
 * size (the caller judges it: verifiers refuse RSA under 1024 bits, RFC
 * 8301 3.2); -1 and *ERROR_R when a verifier could not use it at all */
int dkim_key_describe(const char *text, size_t len, struct dkim_key_info *info_r,
		      const char **error_r);

/* ---- DKIM signing (RFC 6376 5, RFC 8463; RFC 8617 4.1.2) ------------------ */

/* A signer is fed the message (CRLF line ends; LF is read as CRLF) in chunks
 * of any size; the body is never kept.  dkim_sign_digest then gives the
 * SHA-256 of the signed header fields and of the signature field with b=
 * empty: the private key's owner (the keys process) signs those 32 bytes,
 * RSASSA-PKCS1-v1_5 with SHA-256 or Ed25519 over the 32 bytes themselves,
 * and dkim_sign_field writes the finished field around the signature, to be
 * put on top of the message.  Canonicalization is relaxed/relaxed; t= is
 * written, l= and x= never.  The same signer writes an ARC-Message-Signature
 * (field_name and first_tags "i=N"; RFC 8617 4.1.2 forbids signing ARC-* and
 * Authentication-Results: give a header list without them). */

enum dkim_sign_algorithm { DKIM_SIGN_RSA_SHA256, DKIM_SIGN_ED25519_SHA256 };
#define DKIM_SIGN_DIGEST_LEN 32

/* dkim_sign_algorithm_name - "rsa-sha256" or "ed25519-sha256" (a=) */
const char *dkim_sign_algorithm_name(enum dkim_sign_algorithm algorithm);

struct dkim_sign_params {
	const char *field_name;   /* NULL = "DKIM-Signature" */
	const char *first_tags;   /* written first, without ";": NULL = "v=1";
				     "i=1" for an ARC-Message-Signature */
	const char *domain;       /* d= (A-labels) */
	const char *selector;     /* s= */
	enum dkim_sign_algorithm algorithm;
	/* the field names to sign, NULL-terminated, "List-*" matching every
	 * name that starts so; each signed as often as it is present.  NULL =
	 * From, Reply-To, Subject, Date, To, Cc, Message-ID, In-Reply-To,
	 * References, MIME-Version, Content-Type, Content-Transfer-Encoding,
	 * List-* */
	const char *const *headers;
	/* names listed once more than present, so none can be added (RFC 6376
	 * 8.15); NULL = From; an empty list: none */
	const char *const *oversign;
	long long timestamp;      /* t=; negative: none */
};

struct dkim_sign;

/* dkim_sign_new - a signer; NULL and *error_r when d=, s= or a name to sign
 * is not valid.  Strings are copied. */
struct dkim_sign *dkim_sign_new(const struct dkim_sign_params *params, const char **error_r);
void dkim_sign_free(struct dkim_sign **sign);
/* dkim_sign_feed - the next LEN bytes of the message */
void dkim_sign_feed(struct dkim_sign *sign, const void *data, size_t len);
/* dkim_sign_digest - the end of the message: the digest to sign in
 * DIGEST_R; 0, or -1 and *error_r (no From field, a header section over
 * DKIM_HEADER_SIZE_DEFAULT).  Once per signer. */
int dkim_sign_digest(struct dkim_sign *sign, unsigned char digest_r[DKIM_SIGN_DIGEST_LEN],
		     const char **error_r);
/* dkim_sign_field - after dkim_sign_digest: the field ("DKIM-Signature:
 * v=1; ...; b=SIG\r\n", folded) with SIG[0..SIG_LEN) as b=; allocated */
char *dkim_sign_field(const struct dkim_sign *sign, const void *sig, size_t sig_len);

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

/* DMARC records (RFC 7489 6.3, 6.4).  The parser keeps what it reads in
 * struct dmarc_record, which owns its strings.  Record-level errors make the
 * record invalid (6.6.3 step 6: no DMARC processing): a tag list that does
 * not parse (RFC 6376 3.2, duplicate tags included, in any case), a first
 * tag other than v=DMARC1, and a missing or invalid p= (or an invalid sp=)
 * unless rua= holds a valid URI, in which case the record counts as p=none.
 * Any other tag with an invalid value is discarded in favour of its default
 * (6.3: "Syntax errors in the remainder of the record SHOULD be discarded in
 * favor of default values"), and named in `ignored`; unknown tags are
 * ignored (6.3). */

enum dmarc_policy {
	DMARC_POLICY_NONE,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};
/* dmarc_policy_name - "none", "quarantine", "reject" */
const char *dmarc_policy_name(enum dmarc_policy policy);

enum dmarc_alignment { DMARC_ALIGN_RELAXED, DMARC_ALIGN_STRICT };

struct dmarc_uri {
	char *uri;                 /* as written, without its !size */
	unsigned long long max_size; /* bytes; 0 = no limit given */
};

struct dmarc_record {
	enum dmarc_policy p;
	enum dmarc_policy sp;      /* p when sp= is absent */
	bool sp_given;
	bool p_fallback;           /* p= (or sp=) missing or invalid: p=none for
				      the sake of the valid rua= (6.6.3 step 6) */
	enum dmarc_alignment adkim, aspf;  /* relaxed by default */
	unsigned pct;              /* 0..100, default 100 */
	struct dmarc_uri *rua, *ruf;  /* the valid URIs, in order */
	size_t rua_count, ruf_count;
	char *fo;                  /* "0" by default; "1:d" as written */
	char *rf;                  /* "afrf" by default */
	unsigned long ri;          /* seconds, default 86400 */
	char *ignored;             /* tags whose values were invalid, comma
				      separated ("pct,adkim"); "" = none */
};

/* dmarc_record_is_dmarc - TEXT[0..LEN) starts with the v=DMARC1 tag (6.6.3
 * step 3: the other TXT records at _dmarc.DOMAIN are discarded); the
 * version is case-sensitive, as 6.4's ABNF writes it */
bool dmarc_record_is_dmarc(const char *text, size_t len);
/* dmarc_record_parse - TEXT[0..LEN); NULL and *error_r when the record is
 * invalid as above */
struct dmarc_record *dmarc_record_parse(const char *text, size_t len, const char **error_r);
void dmarc_record_free(struct dmarc_record **record);

/* Policy discovery (RFC 7489 6.6.3), I/O-free: the TXT records at
 * _dmarc.<From domain>, and when that has no DMARC record (none at all, the
 * name does not exist, or no record starts with v=DMARC1) those at
 * _dmarc.<organizational domain>.  Several DMARC records at a name: no
 * policy (step 4), and the search stops there.  A temporary DNS failure
 * stops it with TEMPFAIL (the record may exist).  The caller asks
 * dmarc_discovery_next for the name to look up and hands the answer to
 * dmarc_discovery_answer, until it says done. */

enum dmarc_found_status {
	DMARC_FOUND_RECORD,     /* a valid record: found->record */
	DMARC_FOUND_NONE,       /* no DMARC record at either name */
	DMARC_FOUND_SEVERAL,    /* several DMARC records at one name */
	DMARC_FOUND_INVALID,    /* one DMARC record, invalid (see problem) */
	DMARC_FOUND_TEMPFAIL,   /* a lookup failed for now */
	DMARC_FOUND_BAD_DOMAIN, /* the From domain is not a domain name (A-labels) */
};

struct dmarc_found {
	enum dmarc_found_status status;
	const char *from_domain;   /* lower case, no trailing dot ("" if BAD_DOMAIN) */
	const char *org_domain;    /* its organizational domain (RFC 7489 3.2) */
	const char *record_domain; /* the domain whose _dmarc name answered with the
				      record(s) or the failure; NULL for NONE */
	const char *record_text;   /* RECORD, INVALID: the record as published */
	const struct dmarc_record *record;  /* RECORD only */
	const char *problem;       /* all but RECORD: why, static text */
};

struct dmarc_discovery;

/* dmarc_discovery_new - discovery for FROM_DOMAIN[0..LEN) (the domain of the
 * RFC 5322.From address, A-labels); PSL is used at once, not kept */
struct dmarc_discovery *dmarc_discovery_new(const struct mailauth_psl *psl,
					    const char *from_domain, size_t len);
/* dmarc_discovery_next - 0 and the TXT name to look up in *NAME_R (valid
 * until the next call), or 1: done, see dmarc_discovery_found */
int dmarc_discovery_next(struct dmarc_discovery *discovery, const char **name_r);
/* dmarc_discovery_answer - dns_lookup's answer for that name */
struct dns_records;
void dmarc_discovery_answer(struct dmarc_discovery *discovery,
			    const struct dns_records *answer);
/* dmarc_discovery_found - the outcome; valid once done, until the free */
const struct dmarc_found *dmarc_discovery_found(const struct dmarc_discovery *discovery);
void dmarc_discovery_free(struct dmarc_discovery **discovery);

/* The asynchronous driver (dmarc-dns.c) on dns/'s resolver, on BASE's loop.
 * CB is called exactly once, from the loop (never from inside
 * dmarc_request_start), and is given the finished discovery, which it owns
 * (dmarc_discovery_free); never after dmarc_request_cancel, which frees the
 * request at once.  Cancelling a request inside its own callback does
 * nothing.  A query that cannot be started counts as TEMPFAIL. */
struct event_base;
struct dmarc_request;
typedef void dmarc_request_cb(void *ctx, struct dmarc_discovery *discovery);
struct dmarc_request *dmarc_request_start(struct event_base *base,
					  struct dns_resolver *resolver,
					  const struct mailauth_psl *psl,
					  const char *from_domain, dmarc_request_cb *cb,
					  void *ctx);
void dmarc_request_cancel(struct dmarc_request *request);

/* Evaluation (RFC 7489 6.6.2, 6.6.4), I/O-free.  An identifier is aligned
 * when it passed and its domain matches the From domain: exactly (strict,
 * s) or by organizational domain (relaxed, r).  DMARC passes when SPF or
 * any DKIM signature is aligned.  The policy that applies is sp= when the
 * record came from the organizational domain for a From domain below it,
 * else p=.  A failing message is sampled with pct= (6.6.4): outside the
 * sample, reject becomes quarantine and quarantine becomes none. */

enum dmarc_result {
	DMARC_RESULT_NONE,       /* no policy: no record, several, bad From domain */
	DMARC_RESULT_PASS,
	DMARC_RESULT_FAIL,
	DMARC_RESULT_TEMPERROR,  /* the record could not be fetched */
	DMARC_RESULT_PERMERROR,  /* the record is invalid */
};
/* dmarc_result_name - the RFC 8601 keyword ("pass", "fail", ...) */
const char *dmarc_result_name(enum dmarc_result result);

struct dmarc_dkim_input {
	enum dkim_result result;
	const char *domain;      /* the signature's d=; NULL if unknown */
};

struct dmarc_params {
	const struct mailauth_psl *psl;
	enum spf_result spf;     /* SPF's result */
	const char *spf_domain;  /* the identity SPF checked: the MAIL FROM domain,
				    or the HELO name for a null sender; NULL = none */
	const struct dmarc_dkim_input *dkim;  /* each signature verified */
	size_t dkim_count;
	bool enforce;            /* [auth] dmarc_enforce */
	/* 0..99 for pct= sampling; NULL = arc4random_uniform(100).  Tests fix it. */
	unsigned (*random_percent)(void *ctx);
	void *random_ctx;
};

struct dmarc_outcome {
	enum dmarc_result result;
	const char *reason;           /* static text: why, for all but pass */
	bool spf_aligned;
	bool dkim_aligned;
	const char *dkim_domain;      /* d= of the first aligned signature; else NULL */
	enum dmarc_policy policy;     /* the policy that applies (p or sp); NONE
					 without a record */
	bool subdomain_policy;        /* it is sp= (or p= standing in for sp) */
	bool sampled_out;             /* pct= left this failing message out */
	enum dmarc_policy disposition;/* what the policy asks for this message:
					 NONE unless the result is fail */
	bool enforced;                /* disposition is to be applied (dmarc_enforce);
					 false: only recorded */
};

/* dmarc_evaluate - the outcome for FOUND (a finished discovery) and the
 * SPF and DKIM results in PARAMS; strings point into FOUND or PARAMS */
void dmarc_evaluate(const struct dmarc_found *found, const struct dmarc_params *params,
		    struct dmarc_outcome *outcome_r);
/* dmarc_domain_aligned - DOMAIN aligns with FROM_DOMAIN under MODE (both
 * with or without a trailing dot, any case) */
bool dmarc_domain_aligned(const struct mailauth_psl *psl, const char *domain,
			  const char *from_domain, enum dmarc_alignment mode);

/* ---- DMARC aggregate reports (RFC 7489 7.1, 7.2) -------------------------- */

/* dmarc_rua_mailto - the address of a rua= URI "mailto:LOCAL@DOMAIN[?...]"
 * (RFC 6068: %XX decoded, headers after "?" dropped) into OUT_R (SIZE
 * bytes); false (OUT_R "") for another scheme, a malformed or too long
 * address, or a domain that is no host name */
bool dmarc_rua_mailto(const char *uri, char *out_r, size_t size);
/* dmarc_rua_is_external - reports for POLICY_DOMAIN (whose _dmarc record
 * named the URI) going to DEST_DOMAIN need the destination's consent (7.1):
 * their organizational domains differ (or one is no domain name) */
bool dmarc_rua_is_external(const struct mailauth_psl *psl, const char *policy_domain,
			   const char *dest_domain);
/* dmarc_rua_auth_name - the TXT name by which DEST_DOMAIN accepts reports
 * about POLICY_DOMAIN, "<policy>._report._dmarc.<dest>" (7.1); false if it
 * would be longer than a domain name */
bool dmarc_rua_auth_name(const char *policy_domain, const char *dest_domain,
			 char out_r[MAILAUTH_DOMAIN_SIZE]);
/* dmarc_rua_auth_answer - that lookup's answer: 1 the destination accepts
 * (a record starting v=DMARC1), 0 it does not (none, or no such name), -1
 * unknown for now (temporary failure).  A rua= in the destination's record,
 * which 7.1 lets replace the URI, is not followed: the report is then sent
 * to the URI as published. */
int dmarc_rua_auth_answer(const struct dns_records *records);

/* The aggregate report (RFC 7489 7.2, appendix C's XML schema) of one policy
 * domain over one period, from the evaluations recorded: identical ones
 * (the same client, identifiers, results and disposition) become one
 * <record> with their count. */
struct dmarc_report_eval {
	const char *source_ip;
	const char *header_from;
	const char *envelope_from;   /* "" for the null sender: SPF's scope is helo */
	const char *spf_domain;
	const char *spf_result;      /* RFC 8601 word */
	const char *dkim;            /* "DOMAIN SELECTOR RESULT" lines joined by '\n' */
	bool spf_aligned, dkim_aligned;
	const char *disposition;     /* none, quarantine, reject */
	const char *override;        /* PolicyOverrideType, or NULL */
};

struct dmarc_report_meta {
	const char *org_name;        /* [auth] report_org_name */
	const char *email;           /* [auth] report_email */
	const char *report_id;       /* unique per report */
	long long begin, end;        /* seconds since the epoch, both included */
	const char *domain;          /* the policy domain */
	const char *policy;          /* its published policy as a tag list ("p=reject;
					sp=none; adkim=r; aspf=r; pct=100; fo=0"),
					missing tags taken at their defaults */
};

/* dmarc_report_xml - the report of EVALS[0..COUNT) appended to OUT (UTF-8,
 * text escaped for XML); the number of <record> elements */
struct buf;
size_t dmarc_report_xml(const struct dmarc_report_meta *meta,
			const struct dmarc_report_eval *evals, size_t count, struct buf *out);

/* ---- ARC, Authenticated Received Chain (RFC 8617) ------------------------ */

/* Chain validation (RFC 8617 5.2), I/O-free, fed like the DKIM verifier
 * (the header section kept up to max_header_size, the body streamed through
 * one canonicalizer): at the header section's end the ARC sets are collected
 * and their structure checked (instances 1..N, N <= 50, one ARC-Seal,
 * ARC-Message-Signature and ARC-Authentication-Results each, cv=none on the
 * first seal and cv=pass on the others, the last not cv=fail); a chain that
 * fails there needs no key.  Else the newest ARC-Message-Signature and every
 * ARC-Seal need their keys (TXT at <s>._domainkey.<d>, as DKIM); the chain
 * passes when that message signature and every seal verify (DKIM's
 * canonicalization, key checks and crypto).  Results: none (no ARC
 * fields), pass, fail with a reason.  Strings live as long as the verifier. */

enum arc_result { ARC_RESULT_NONE, ARC_RESULT_PASS, ARC_RESULT_FAIL };
/* arc_result_name - the RFC 8617 / RFC 8601 keyword */
const char *arc_result_name(enum arc_result result);

struct arc_outcome {
	enum arc_result result;
	const char *reason;        /* fail: why (static text); else NULL */
	unsigned instances;        /* N, the newest instance (0 without ARC) */
	const char *sealer;        /* d= of the newest ARC-Seal, or NULL */
	const char *selector;      /* its s=, or NULL */
	const char *results;       /* the newest ARC-Authentication-Results after
				      "i=N;", unfolded: what the last forwarder
				      found; or NULL */
};

struct arc_verify;

/* arc_verify_create - SETTINGS as DKIM's (max_signatures unused) */
struct arc_verify *arc_verify_create(const struct dkim_verify_settings *settings);
void arc_verify_free(struct arc_verify **verify);
void arc_verify_feed(struct arc_verify *verify, const void *data, size_t len);
bool arc_verify_headers_done(const struct arc_verify *verify);
void arc_verify_finish(struct arc_verify *verify);
/* arc_verify_key_count, arc_verify_key_name - the keys to look up (headers
 * done): the name of key INDEX, or NULL when it is not needed (any more) */
size_t arc_verify_key_count(const struct arc_verify *verify);
const char *arc_verify_key_name(const struct arc_verify *verify, size_t index);
/* arc_verify_key - the answer for key INDEX (as dkim_verify_key) */
void arc_verify_key(struct arc_verify *verify, size_t index, const struct dns_records *records);
/* arc_verify_check - as dkim_verify_check, for the chain's signatures */
void arc_verify_check(struct arc_verify *verify);
/* arc_verify_is_done - finished and every key needed is in */
bool arc_verify_is_done(const struct arc_verify *verify);
/* arc_verify_outcome - the chain's result, once done */
const struct arc_outcome *arc_verify_outcome(const struct arc_verify *verify);
/* arc_verify_lookup_keys - the keys on dns/, as dkim_verify_lookup_keys
 * (same callback and cancel rules; NULL when none is needed) */
struct dkim_key_lookup *arc_verify_lookup_keys(struct arc_verify *verify,
					       struct dns_resolver *resolver,
					       dkim_key_lookup_cb *cb, void *ctx);

/* Sealing (RFC 8617 5.1, arc-seal.c), I/O-free: the ARC set a forwarder
 * adds, instance N+1 of the chain CHAIN (its validation: N, and cv= from
 * its result), with RESULTS (our Authentication-Results value: authserv-id
 * and resinfo, without "Authentication-Results:" and its final CRLF) as the
 * ARC-Authentication-Results.  Feed it the message; sign the message
 * signature's digest (RSA, rsa-sha256: RFC 8617's only algorithm), then the
 * seal's; arc_seal_fields gives the three fields to put on top. */
struct arc_seal_params {
	const char *domain;       /* d= of both signatures */
	const char *selector;     /* s= */
	long long timestamp;      /* t= of the message signature; negative: none */
};
struct arc_seal;
/* arc_seal_new - NULL and *error_r when the chain is at 50 sets already or
 * DOMAIN / SELECTOR are not valid */
struct arc_seal *arc_seal_new(const struct arc_seal_params *params,
			      const struct arc_outcome *chain, const char *results,
			      const char **error_r);
void arc_seal_free(struct arc_seal **seal);
void arc_seal_feed(struct arc_seal *seal, const void *data, size_t len);
/* arc_seal_message_digest - the message's end: the ARC-Message-Signature's
 * digest to sign; 0, or -1 and *error_r (no From field, a header section
 * over DKIM_HEADER_SIZE_DEFAULT) */
int arc_seal_message_digest(struct arc_seal *seal, unsigned char digest_r[DKIM_SIGN_DIGEST_LEN],
			    const char **error_r);
/* arc_seal_message_signed - its signature is SIG[0..SIG_LEN) */
void arc_seal_message_signed(struct arc_seal *seal, const void *sig, size_t sig_len);
/* arc_seal_seal_digest - then the ARC-Seal's digest (t= NOW) over the older
 * sets and the new one; 0, or -1 and *error_r (an older set is missing) */
int arc_seal_seal_digest(struct arc_seal *seal, long long now,
			 unsigned char digest_r[DKIM_SIGN_DIGEST_LEN], const char **error_r);
/* arc_seal_fields - with the seal's signature: "ARC-Seal: ...\r\n
 * ARC-Message-Signature: ...\r\nARC-Authentication-Results: ...\r\n",
 * allocated */
char *arc_seal_fields(const struct arc_seal *seal, const void *sig, size_t sig_len);

/* ---- SRS, the Sender Rewriting Scheme ------------------------------------ */

/* Mail that an alias forwards to another domain leaves with a return path
 * at our domain, so that it passes SPF at the next hop (RFC 7208 1.1.3 and
 * appendix D: forwarding breaks SPF unless the sender is rewritten), and a
 * bounce to it comes back here to be reversed.  The scheme is Shevek's, as
 * libsrs2 and Mail::SRS's Guarded mode write it (so Mail::SRS with the same
 * secret reverses our addresses and we reverse its):
 *   SRS0=HHHH=TT=orig-domain=orig-local@our-domain
 * HHHH: the first 4 characters of the base64 HMAC-SHA1, keyed with the
 * secret, of TT, orig-domain and orig-local in lower case, concatenated;
 * TT: the day number (seconds since the epoch / 86400) modulo 1024 in two
 * base32 characters (A-Z, 2-7).  A sender that is already an SRS0 address of
 * another forwarder becomes SRS1=HHHH=fwd-domain==HHHH=TT=orig-domain=orig-local
 * (the first forwarder keeps the job of reversing it), an SRS1 keeps its
 * first forwarder and gets our hash.  Reversing checks the hash (case-
 * insensitively: some hops smash case) and, for SRS0, the age.  I/O-free
 * but for srs_secret_load. */

#define SRS_MAX_AGE_DEFAULT 21   /* days an SRS0 address is honoured (Mail::SRS's) */
#define SRS_LOCAL_MAX 64         /* RFC 5321 4.5.3.1.1: longer local parts are not made */
#define SRS_SECRET_MAX 1024      /* bytes of secret used */

struct srs_settings {
	const char *secret;      /* the HMAC key (any bytes) */
	size_t secret_len;
	const char *domain;      /* ours: where SRS addresses point, lower case */
	unsigned max_age;        /* days; 0 = SRS_MAX_AGE_DEFAULT (at most 1023) */
};

/* srs_forward - the return path for mail from SENDER ("local@domain", the
 * canonical form smtp/ keeps) that we forward, at time NOW (seconds since
 * the epoch): 1 and a malloc'ed *OUT_R; 0 when no rewriting is needed (the
 * null sender, no "@", or a sender already in our domain); -1 and *error_r
 * when it cannot be written (a local part that is no dot-atom, a domain
 * that is no domain name, a result longer than SRS_LOCAL_MAX): the caller
 * keeps SENDER. */
int srs_forward(const struct srs_settings *settings, const char *sender, long long now,
		char **out_r, const char **error_r);

/* srs_address_is_srs - ADDRESS[0..LEN)'s local part starts with SRS0 or
 * SRS1 (any case) and a separator "=", "+" or "-" */
bool srs_address_is_srs(const char *address, size_t len);

/* srs_reverse - ADDRESS[0..LEN) (local@domain) is an SRS address in our
 * domain: 1 and the address it stands for in a malloc'ed *OUT_R (the
 * original sender for SRS0, the first forwarder's SRS0 address for SRS1);
 * 0 when it is not an SRS address or not in our domain; -1 and *error_r
 * (static text) when it is one of ours but malformed, its hash is wrong
 * (forged) or, for SRS0, it is older than max_age days (or from the future)
 * at NOW. */
int srs_reverse(const struct srs_settings *settings, const char *address, size_t len,
		long long now, char **out_r, const char **error_r);

/* srs_secret_load - the secret: the file PATH (its first line, without the
 * line end), or when PATH is NULL DATA_DIR/srs.secret, which is created on
 * the first start with 32 random bytes in hex (mode 0600).  A secret file
 * must not be readable by others and must hold at least 16 bytes.  0 and a
 * malloc'ed *SECRET_R (*LEN_R bytes), or -1 and *error_r (static storage,
 * "PATH: what", valid until the next call).  Blocking: call it at start. */
int srs_secret_load(const char *path, const char *data_dir, char **secret_r, size_t *len_r,
		    const char **error_r);
/* ---- Authentication-Results (RFC 8601) ------------------------------------ */

/* What a receiver needs of incoming Authentication-Results fields: whose
 * they claim to be.  A field naming our authserv-id came from outside (or
 * from an earlier hop pretending to be us) and is removed before ours is
 * added (RFC 8601 5). */

#define MAILAUTH_AUTHSERV_ID_MAX 256  /* longest authserv-id read, NUL included */

/* mailauth_authres_id - the authserv-id that the field body VALUE[0..LEN)
 * (folded or not) starts with, RFC 8601 2.2: [CFWS] then a value, a token
 * (RFC 2045; UTF-8 octets allowed, RFC 6532) or a quoted-string, unquoted
 * into OUT_R (NUL-terminated).  False when there is none, when a comment or
 * quoted-string is not closed, or when it does not fit in SIZE bytes. */
bool mailauth_authres_id(const char *value, size_t len, char *out_r, size_t size);

/* ---- Authentication-Results, read back (RFC 8601 2.2; the verifier's) ----- */

#define MAILAUTH_AR_RESULTS_MAX 32  /* resinfos kept per field */
#define MAILAUTH_AR_PROPS_MAX 8     /* properties kept per resinfo */

struct mailauth_ar_prop {
	char *ptype;       /* "smtp", "header", "policy", ... lower case */
	char *property;    /* "mailfrom", "d", ... lower case */
	char *value;       /* as written, quotes removed */
};
struct mailauth_ar_result {
	char *method;      /* "spf", "dkim", "dmarc", "arc", ... lower case, no version */
	char *result;      /* "pass", "fail", ... lower case */
	char *reason;      /* reason="..." without quotes, or NULL */
	struct mailauth_ar_prop props[MAILAUTH_AR_PROPS_MAX];
	size_t prop_count;
};
struct mailauth_ar {
	char *authserv_id; /* as written */
	bool none;         /* "; none": nothing was checked */
	struct mailauth_ar_result *results;
	size_t count;
};

/* mailauth_ar_parse - the field body VALUE[0..LEN) (after the colon;
 * folding allowed) into *AR_R, which the caller frees with mailauth_ar_free.
 * Comments are skipped; results beyond the MAX are dropped.  -1 and *error_r
 * (static text) if it does not parse: then *AR_R holds nothing. */
int mailauth_ar_parse(const char *value, size_t len, struct mailauth_ar *ar_r,
		      const char **error_r);
void mailauth_ar_free(struct mailauth_ar *ar);
void mailauth_ar_result_clear(struct mailauth_ar_result *r);
/* mailauth_ar_prop_find - the value of PTYPE.PROPERTY (lower case) in R, or NULL */
const char *mailauth_ar_prop_find(const struct mailauth_ar_result *r, const char *ptype,
				  const char *property);

/* ---- a domain's mail records checked (domain-check.c) --------------------- */

/* What a domain publishes for mail, looked up and judged as `petrel
 * check-domain` and the dashboard's domains page show it (docs/dns-records.md):
 * MX (RFC 5321 5.1, RFC 7505), SPF (RFC 7208, this server's addresses
 * evaluated against it), DKIM (the selectors given, RFC 6376 3.6.1, RFC
 * 8301 3.2), DMARC (RFC 7489, rua= destinations' consent, 7.1), and
 * MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) when present.  Every lookup
 * starts at once on the loop of BASE through dns/'s resolver; the answers
 * are kept as they come and judged when the last one is in.  The result
 * is a list of sections, each with a status (its worst finding), the
 * records found, findings (a level and a sentence) and the records to
 * publish.  The check owns everything it returns; it lives until
 * domain_check_free, which cancels what is still running. */

enum domain_check_level { DOMAIN_CHECK_OK, DOMAIN_CHECK_WARN, DOMAIN_CHECK_ERROR };

#define DOMAIN_CHECK_SECTIONS 6      /* mx, spf, dkim, dmarc, mta-sts, tls-rpt */

struct domain_check_finding {
	enum domain_check_level level;
	char *text;
};

/* a record to publish */
struct domain_check_record {
	char *name;           /* its owner name, no trailing dot */
	const char *type;     /* "MX" or "TXT" */
	char *value;          /* MX: "10 host."; TXT: the text, its strings joined */
	char *zone;           /* the zone file line ("NAME. IN TXT \"...\"") */
};

struct domain_check_section {
	const char *name;                 /* "mx", "spf", "dkim", "dmarc", "mta-sts", "tls-rpt" */
	enum domain_check_level status;   /* its worst finding's */
	char **records;                   /* as found */
	size_t record_count;
	struct domain_check_finding *findings;
	size_t finding_count;
	struct domain_check_record *publish;
	size_t publish_count;
};

struct domain_check_settings {
	const char *hostname;         /* this server's name ([server] hostname) */
	const char *source_address;   /* [delivery] source_address; NULL or "": none, the
					 hostname's A and AAAA records are the addresses */
	bool receives;                /* this server receives mail for the domain */
	unsigned spf_void_lookups;    /* [auth] spf_void_lookups (0: SPF's default) */
	unsigned spf_timeout_ms;      /* [auth] spf_timeout (0: SPF's default) */
	const char *const *selectors; /* DKIM selectors to check (copied) */
	/* each selector's key record ("v=DKIM1; k=rsa; p=..."), published as
	 * the fix when its own is missing or unusable; NULL, or NULL entries:
	 * unknown (copied) */
	const char *const *selector_records;
	size_t selector_count;
	bool selectors_local;         /* they are this server's signing keys' */
	/* how the caller's user names a selector to check (check-domain's
	 * "--selector S"), said when there is none; NULL: the user cannot
	 * (kept: it must outlive the check, e.g. a literal) */
	const char *selector_option;
	const struct mailauth_psl *psl; /* kept: lives longer than the check */
};

struct domain_check;
/* domain_check_cb - the check is over; CHECK stays the caller's to free
 * (from inside the callback too) */
typedef void domain_check_cb(void *ctx, struct domain_check *check);

/* domain_check_start - check DOMAIN (a domain name, any case, no trailing
 * dot; at most 253 octets) on BASE's loop; CB is called once, from the
 * loop (never from inside this call), unless the check is freed first */
struct domain_check *domain_check_start(struct event_base *base, struct dns_resolver *dns,
					const struct domain_check_settings *settings,
					const char *domain, domain_check_cb *cb, void *ctx);
/* domain_check_domain - the domain checked, lower-cased */
const char *domain_check_domain(const struct domain_check *check);
/* domain_check_sections - the sections, once CB was called (before: none) */
const struct domain_check_section *domain_check_sections(const struct domain_check *check,
							 size_t *count_r);
/* domain_check_worst - the worst status of the sections */
enum domain_check_level domain_check_worst(const struct domain_check *check);
/* domain_check_level_name - "ok", "warn", "error" */
const char *domain_check_level_name(enum domain_check_level level);
/* domain_check_free - lookups still running are cancelled (NULL, *CHECK
 * NULL: nothing) */
void domain_check_free(struct domain_check **check);
/* domain_check_txt_record - the zone file line of a TXT record, "NAME. IN
 * TXT" and TEXT in quoted strings of at most 255 octets (RFC 1035 3.3.14:
 * the strings of one record are joined); the caller frees it */
char *domain_check_txt_record(const char *name, const char *text);

#endif
