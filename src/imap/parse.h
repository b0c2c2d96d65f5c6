/* imap/parse - the IMAP server's parsers of network input, with no I/O.
 *
 * Two layers, as IMAP's framing and its syntax are separate things:
 *
 * 1. The reader (imap_reader_*) finds where a command ends.  A command is
 *    one or more CRLF-terminated lines, each but the last ending in a
 *    literal announcement "{N}", "{N+}" (RFC 7888 LITERAL+), "~{N}" or
 *    "~{N+}" (RFC 3516 literal8), followed by N octets of literal.  It is
 *    fed bytes as they arrive, stops at every event the session must act on
 *    (a complete command, a continuation request to send for a
 *    synchronizing literal, a command refused), and keeps the command's raw
 *    bytes, within limits, until the session has handled it.
 * 2. The argument parser (imap_command_parse) turns a complete command into
 *    its tag, its name and a tree of arguments (atoms, strings, literals,
 *    parenthesized lists, NIL), and the typed parsers below read those
 *    arguments as what each command expects (sequence sets, dates).
 *
 * Only CRLF ends a line (RFC 9051 2.2).  Nothing here reads past the length
 * it is given.  Error texts are static strings the session sends as they are
 * after "tag BAD " (or "* BAD " when the tag is unknown).
 */
#ifndef PETREL_IMAP_PARSE_H
#define PETREL_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- the reader: lines and literals ------------------------------------- */

struct imap_reader_limits {
	size_t line_max;          /* octets of a command outside its literals, CRLFs
				     included (RFC 7162 4 asks servers to take 8192) */
	uint64_t literal_max;     /* octets of one literal (APPENDLIMIT, RFC 7889) */
	size_t command_max;       /* octets of a whole command, literals included */
	unsigned literals_max;    /* literals in one command */
};
#define IMAP_LINE_MAX_DEFAULT 65536
#define IMAP_LITERALS_MAX_DEFAULT 64

enum imap_read {
	IMAP_READ_MORE,       /* every byte given was taken: feed more */
	IMAP_READ_COMMAND,    /* a command is complete: imap_reader_command, then
				 imap_reader_next before feeding on */
	IMAP_READ_CONTINUE,   /* a synchronizing literal was announced within the
				 limits: send "+ ..." now, then feed on */
	IMAP_READ_REFUSED,    /* the command is refused (see imap_reader_error and
				 imap_reader_tag): reply, then imap_reader_next.  A
				 refused synchronizing literal ends the command (its
				 client waits for a "+" that never comes); what a
				 refused line or a non-synchronizing literal still
				 brings is skipped by the reader */
};

struct imap_reader;

/* imap_reader_new - a reader with LIMITS (copied); the caller frees it */
struct imap_reader *imap_reader_new(const struct imap_reader_limits *limits);
void imap_reader_free(struct imap_reader **reader);

/* imap_reader_feed - take bytes of DATA[0..LEN) up to the next event, which is
 * returned; *USED_R is how many bytes were taken (all of them for
 * IMAP_READ_MORE).  After COMMAND or REFUSED, imap_reader_next must be called
 * before the next feed; after CONTINUE the caller feeds on. */
enum imap_read imap_reader_feed(struct imap_reader *reader, const char *data, size_t len,
				size_t *used_r);

/* imap_reader_command - after IMAP_READ_COMMAND: the command's raw bytes
 * (lines with their CRLFs, literals within them), valid and writable until
 * imap_reader_next; imap_command_parse works on them in place. */
char *imap_reader_command(struct imap_reader *reader, size_t *len_r);

/* imap_reader_error - after IMAP_READ_REFUSED: why, for "tag BAD TEXT" (or
 * "tag NO [TOOBIG] TEXT" when imap_reader_too_big says so) */
const char *imap_reader_error(const struct imap_reader *reader);
/* imap_reader_too_big - the refusal was a literal over literal_max (RFC 7889
 * APPENDLIMIT; RFC 9051 7.1 TOOBIG) rather than a malformed command */
bool imap_reader_too_big(const struct imap_reader *reader);
/* imap_reader_tag - after IMAP_READ_REFUSED: the command's tag if its first
 * line began with a valid one, else NULL ("*" is then the reply's tag) */
const char *imap_reader_tag(const struct imap_reader *reader);

/* imap_reader_next - forget the command just handled; skipping of a refused
 * command's remaining bytes (if any) goes on in the next feeds */
void imap_reader_next(struct imap_reader *reader);

/* imap_reader_literal_pending - octets of the literal being read (0 if none):
 * the session uses it to keep the idle timer honest during a long APPEND */
uint64_t imap_reader_literal_pending(const struct imap_reader *reader);

/* ---- arguments ------------------------------------------------------------ */

enum imap_arg_type {
	IMAP_ARG_ATOM,        /* also "\Seen", "1:*", "BODY.PEEK[HEADER.FIELDS (A B)]<0.9>" */
	IMAP_ARG_STRING,      /* a quoted string, its escapes removed */
	IMAP_ARG_LITERAL,     /* {N}: CHAR8 octets, no NUL */
	IMAP_ARG_LITERAL8,    /* ~{N}: any octets (RFC 3516) */
	IMAP_ARG_NIL,
	IMAP_ARG_LIST,        /* ( ... ) */
};

struct imap_arg {
	enum imap_arg_type type;
	const char *data;     /* ATOM, STRING, LITERAL*: the octets, NUL-terminated
				 in place (a literal8 may hold NULs of its own) */
	size_t len;
	struct imap_arg *list;  /* LIST: its members */
	size_t count;
};

struct imap_parse_limits {
	unsigned depth_max;   /* nesting of parenthesized lists */
	size_t args_max;      /* arguments in one command, list members counted */
};
#define IMAP_DEPTH_MAX_DEFAULT 16
#define IMAP_ARGS_MAX_DEFAULT 10000

struct imap_command {
	const char *tag;
	const char *name;     /* as sent; compare case-insensitively */
	struct imap_arg *args;
	size_t count;
};

/* imap_command_parse - DATA[0..LEN) is a complete command as the reader gave
 * it; it is modified in place (strings unescaped and NUL-terminated), and
 * *COMMAND_R points into it.  0, or -1 with *ERROR_R and, when the first
 * line had a valid tag, *TAG_R (else NULL) for the BAD reply.  RFC 9051 9:
 * tag SP name [SP arguments] CRLF; atoms may carry one bracketed part in
 * which spaces, parentheses and quoted strings are allowed (fetch sections,
 * RFC 9051 6.4.5).  Free with imap_command_free. */
int imap_command_parse(char *data, size_t len, const struct imap_parse_limits *limits,
		       struct imap_command *command_r, const char **tag_r,
		       const char **error_r);
void imap_command_free(struct imap_command *command);

/* imap_tag_char_is_valid - C may be part of a tag (RFC 9051 9: any
 * ASTRING-CHAR except "+") */
bool imap_tag_char_is_valid(char c);

/* imap_arg_is_astring - ATOM, STRING or LITERAL (RFC 9051 9 astring) */
bool imap_arg_is_astring(const struct imap_arg *arg);
/* imap_arg_is_nstring - STRING, LITERAL or NIL */
bool imap_arg_is_nstring(const struct imap_arg *arg);
/* imap_arg_atom_is - ARG is the atom WORD (ASCII, case-insensitive) */
bool imap_arg_atom_is(const struct imap_arg *arg, const char *word);

/* ---- typed values ---------------------------------------------------------- */

/* Sequence sets (RFC 9051 9 sequence-set): ranges in the order given, each
 * with lo <= hi once "*" is known; "*" is IMAP_SEQ_STAR until resolved with
 * imap_seqset_resolve.  "$" (RFC 5182 SEARCHRES) is its own flag. */
#define IMAP_SEQ_STAR UINT32_MAX
struct imap_seq_range {
	uint32_t lo, hi;
};
struct imap_seqset {
	struct imap_seq_range *ranges;
	size_t count;
	bool saved;           /* "$": the last SEARCH result saved */
	bool normalized;      /* imap_seqset_normalize ran: sorted, disjoint */
};
#define IMAP_SEQSET_RANGES_MAX 100000

/* imap_seqset_parse - TEXT[0..LEN) as a sequence set; 0, or -1 and *ERROR_R */
int imap_seqset_parse(const char *text, size_t len, struct imap_seqset *set_r,
		      const char **error_r);
/* imap_seqset_resolve - "*" becomes MAX (the highest number in use, 0 when
 * the mailbox is empty), and each range is put in order (RFC 9051 9: 2:4
 * and 4:2 are the same) */
void imap_seqset_resolve(struct imap_seqset *set, uint32_t max);
/* imap_seqset_normalize - after imap_seqset_resolve: the ranges sorted,
 * overlapping and adjacent ones merged, so that imap_seqset_contains
 * searches them in O(log ranges) (a command over every message of a large
 * folder with a set of many ranges would otherwise take messages x ranges) */
void imap_seqset_normalize(struct imap_seqset *set);
/* imap_seqset_contains - N is in the resolved SET */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n);
void imap_seqset_free(struct imap_seqset *set);

/* imap_date_time_parse - RFC 9051 9 date-time ("dd-Mon-yyyy hh:mm:ss
 * +zzzz", the day space-padded or two digits) as a time_t; 0 or -1 */
int imap_date_time_parse(const char *text, size_t len, time_t *time_r);
/* imap_date_parse - RFC 9051 9 date ("d-Mon-yyyy", SEARCH): the day's
 * midnight UTC; the caller applies the time zone SEARCH wants.  0 or -1 */
int imap_date_parse(const char *text, size_t len, time_t *day_r);

/* ---- FETCH items (RFC 9051 6.4.5, RFC 3516 BINARY, RFC 7162 CONDSTORE) ----- */

enum imap_fetch_kind {
	IMAP_FETCH_ENVELOPE,
	IMAP_FETCH_FLAGS,
	IMAP_FETCH_INTERNALDATE,
	IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_RFC822,         /* = BODY[] (IMAP4rev1) */
	IMAP_FETCH_RFC822_HEADER,  /* = BODY.PEEK[HEADER] */
	IMAP_FETCH_RFC822_TEXT,    /* = BODY[TEXT] */
	IMAP_FETCH_BODY,           /* the structure without extension data */
	IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_UID,
	IMAP_FETCH_MODSEQ,
	IMAP_FETCH_SECTION,        /* BODY[...] and BODY.PEEK[...] */
	IMAP_FETCH_BINARY,         /* BINARY[...] and BINARY.PEEK[...] */
	IMAP_FETCH_BINARY_SIZE,
};

enum imap_section_text {
	IMAP_SECTION_WHOLE,        /* BODY[] or BODY[1.2]: the part's content */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,         /* only after a part number */
};

#define IMAP_SECTION_DEPTH_MAX 32     /* part numbers in a section ("1.2.3") */
#define IMAP_SECTION_FIELDS_MAX 256   /* names in HEADER.FIELDS (...) */

struct imap_fetch_item {
	enum imap_fetch_kind kind;
	bool peek;                /* does not set \Seen (RFC 9051 6.4.5) */
	uint32_t part[IMAP_SECTION_DEPTH_MAX];
	unsigned parts;
	enum imap_section_text text;
	char **fields;            /* HEADER.FIELDS[.NOT]: the names as sent */
	size_t field_count;
	bool partial;             /* <offset.length> */
	uint64_t offset, length;
	char *name;               /* the item's name in the FETCH response, e.g.
				     "BODY[1.HEADER.FIELDS (From To)]<0>" */
};

struct imap_fetch {
	struct imap_fetch_item *items;
	size_t count;
	bool changedsince_set;    /* the CHANGEDSINCE modifier (RFC 7162 3.1.4) */
	uint64_t changedsince;
	bool vanished;            /* the VANISHED modifier (RFC 7162 3.2.6) */
};

/* imap_fetch_parse - the arguments of FETCH after its sequence set: a macro
 * (ALL, FAST, FULL), one item or a list of items, then optionally a list of
 * modifiers.  0, or -1 and *ERROR_R.  Whether MODSEQ, CHANGEDSINCE and
 * VANISHED are allowed (CONDSTORE / QRESYNC enabled, UID FETCH) is the
 * caller's to check.  Free with imap_fetch_free. */
int imap_fetch_parse(const struct imap_arg *args, size_t count, struct imap_fetch *fetch_r,
		     const char **error_r);
void imap_fetch_free(struct imap_fetch *fetch);

/* ---- SEARCH (RFC 9051 6.4.4, RFC 4731 ESEARCH, RFC 7162 MODSEQ,
 *      RFC 5032 WITHIN, RFC 5182 SEARCHRES) --------------------------------- */

enum imap_search_kind {
	IMAP_SEARCH_AND,          /* every child: a parenthesized list, the whole */
	IMAP_SEARCH_OR,           /* two children */
	IMAP_SEARCH_NOT,          /* one child */
	IMAP_SEARCH_ALL,
	IMAP_SEARCH_FLAG,         /* ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, RECENT
				     and KEYWORD: VALUE is the flag ("\Seen"); NEW
				     is (RECENT UNSEEN), OLD is NOT RECENT, UNxxx a
				     NOT around the flag */
	IMAP_SEARCH_HEADER,       /* FIELD contains VALUE; BCC, CC, FROM, SUBJECT, TO
				     are HEADER with FIELD set to that name */
	IMAP_SEARCH_BODY,         /* VALUE in the body */
	IMAP_SEARCH_TEXT,         /* VALUE in the header or body */
	IMAP_SEARCH_BEFORE,       /* internal date (DATE: a day's midnight UTC) */
	IMAP_SEARCH_ON,
	IMAP_SEARCH_SINCE,
	IMAP_SEARCH_SENTBEFORE,   /* Date: header field */
	IMAP_SEARCH_SENTON,
	IMAP_SEARCH_SENTSINCE,
	IMAP_SEARCH_LARGER,       /* NUMBER octets */
	IMAP_SEARCH_SMALLER,
	IMAP_SEARCH_SEQSET,       /* message sequence numbers: SET */
	IMAP_SEARCH_UID,          /* UIDs: SET */
	IMAP_SEARCH_MODSEQ,       /* MODSEQ >= NUMBER (RFC 7162 3.1.5) */
	IMAP_SEARCH_OLDER,        /* internal date more than NUMBER seconds ago */
	IMAP_SEARCH_YOUNGER,      /* ... at most NUMBER seconds ago (RFC 5032) */
};

struct imap_search_key {
	enum imap_search_kind kind;
	const char *field;        /* HEADER: the field name (NUL-terminated) */
	const char *value;        /* FLAG, HEADER, BODY, TEXT: the octets, pointing
				     into the command (valid while it is) */
	size_t value_len;
	time_t date;
	uint64_t number;
	struct imap_seqset set;
	struct imap_search_key *children;
	size_t count;
};

/* ESEARCH result options (RFC 4731 3.1, RFC 5182 2) */
#define IMAP_SEARCH_RETURN_MIN 0x1u
#define IMAP_SEARCH_RETURN_MAX 0x2u
#define IMAP_SEARCH_RETURN_ALL 0x4u
#define IMAP_SEARCH_RETURN_COUNT 0x8u
#define IMAP_SEARCH_RETURN_SAVE 0x10u

#define IMAP_SEARCH_DEPTH_MAX 32  /* nesting of NOT, OR and lists */

struct imap_search {
	bool return_given;        /* RETURN (...) was there: answer with ESEARCH */
	unsigned return_options;  /* IMAP_SEARCH_RETURN_*; RETURN () means ALL */
	const char *charset;      /* CHARSET's argument, or NULL */
	struct imap_search_key root;  /* IMAP_SEARCH_AND of the keys */
};

/* imap_search_parse - the arguments of SEARCH: [RETURN (options)] [CHARSET
 * name] keys.  0, or -1 and *ERROR_R.  Which charsets are supported
 * (BADCHARSET) is the caller's to decide.  Free with imap_search_free. */
int imap_search_parse(const struct imap_arg *args, size_t count, struct imap_search *search_r,
		      const char **error_r);
void imap_search_free(struct imap_search *search);

#endif
