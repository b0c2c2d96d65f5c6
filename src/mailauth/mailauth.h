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

/* ---- DKIM (RFC 6376, RFC 8463) ------------------------------------------- */

/* ---- DMARC (RFC 7489) and the organizational domain ---------------------- */

#endif
