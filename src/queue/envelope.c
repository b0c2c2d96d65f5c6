/* queue/envelope - the envelope of a queued message and its text form.
 *
 * A spool file starts with one record per line, "key value", LF-terminated,
 * then an empty line, then the body:
 *
 *   version 1
 *   id 4F2A9C31B7D0E812
 *   arrival 1764408712
 *   sender alice@example.org          ("sender " and nothing for <>)
 *   srs-sender SRS0=...@mx.example.org (remote deliveries' return path when an
 *                                      alias forwarded it; omitted if none)
 *   body 8BITMIME                     (7BIT|8BITMIME|BINARYMIME; omitted if unspecified)
 *   smtputf8 1                        (omitted if 0)
 *   ret FULL                          (FULL|HDRS; omitted if unspecified)
 *   envid xtext                       (each optional string: omitted if NULL)
 *   client 192.0.2.1
 *   helo mail.example.org
 *   listener mx
 *   account alice@example.org         (the authenticated sender's account; omitted if none)
 *   sandbox 1                         (a sandboxed account's mail: kept, never relayed)
 *   junk 1                            (DMARC quarantine: delivered to the Junk folder)
 *   send-at 1764412312                (not tried before this unix time: the HTTP
 *                                      API's send_at; omitted if none, so files
 *                                      written before it existed read as "now")
 *   size 1234
 *   rcpt notify=6 orcpt=rfc822;bob+40example.net bob@example.net
 *   body-crc32c 1A2B3C4D              (CRC-32C of the body; absent in files
 *                                      written before it existed)
 *
 * Every string value is xtext-encoded (RFC 3461 4, "+HH"), and so is every
 * byte outside printable ASCII: values from peers can never contain a space,
 * CR, LF or NUL that would break a record.  UTF-8 addresses are therefore
 * hex-encoded on disk; readable enough, and unambiguous.
 *
 * The parser treats the file as untrusted: bounded (SPOOL_ENVELOPE_MAX), every
 * record checked, unknown or repeated keys rejected, one success exit.
 */
#include "queue/queue.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "queue/spool.h"
#include "util/xalloc.h"
#include "wire/wire.h"

#define ENVELOPE_VERSION 1
/* most recipients accepted from a spool file (RFC 5321 4.5.3.1.8 asks >= 100) */
#define ENVELOPE_RCPT_MAX 100000u

struct envelope_parser {
	struct queue_envelope *env;
	unsigned seen;          /* ENV_SEEN_* bits: each key at most once */
	size_t rcpt_alloc;
};

enum {
	ENV_SEEN_VERSION = 1u << 0,
	ENV_SEEN_ID = 1u << 1,
	ENV_SEEN_ARRIVAL = 1u << 2,
	ENV_SEEN_SENDER = 1u << 3,
	ENV_SEEN_BODY = 1u << 4,
	ENV_SEEN_SMTPUTF8 = 1u << 5,
	ENV_SEEN_RET = 1u << 6,
	ENV_SEEN_ENVID = 1u << 7,
	ENV_SEEN_CLIENT = 1u << 8,
	ENV_SEEN_HELO = 1u << 9,
	ENV_SEEN_LISTENER = 1u << 10,
	ENV_SEEN_SIZE = 1u << 11,
	ENV_SEEN_ACCOUNT = 1u << 12,
	ENV_SEEN_SANDBOX = 1u << 13,
	ENV_SEEN_CRC = 1u << 14,
	ENV_SEEN_SRS_SENDER = 1u << 15,
	ENV_SEEN_JUNK = 1u << 16,
	ENV_SEEN_SEND_AT = 1u << 17,
};

static bool parse_u64(const char *s, size_t len, uint64_t *value_r);
static int envelope_parse_line(struct envelope_parser *p, const char *line, size_t len,
			       const char **error_r);
static int envelope_parse_rcpt(struct envelope_parser *p, const char *v, size_t len,
			       const char **error_r);
static int envelope_set_string(char **field, const char *v, size_t len, const char **error_r);
static void envelope_put_string(struct buf *out, const char *key, const char *value);

static void crc_table_build(void);

static const char *const body_names[] = { NULL, "7BIT", "8BITMIME", "BINARYMIME" };
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static const char *const ret_names[] = { NULL, "FULL", "HDRS" };

struct queue_envelope *queue_envelope_new(void)
{
	struct queue_envelope *env = xcalloc(1, sizeof(*env));
	env->sender = xstrdup("");
	return env;
}

void queue_envelope_add_rcpt(struct queue_envelope *env, const char *address,
			     unsigned notify, const char *orcpt)
{
	env->rcpts = xrealloc(env->rcpts, (env->rcpt_count + 1) * sizeof(*env->rcpts));
	struct queue_recipient *r = &env->rcpts[env->rcpt_count++];
	r->address = xstrdup(address);
	r->notify = notify;
	r->orcpt = orcpt ? xstrdup(orcpt) : NULL;
	r->state = QUEUE_RCPT_PENDING;
	r->last_reply = NULL;
	r->bounce_owed = false;
}

char *queue_envelope_rcpt_lines(const struct queue_envelope *env)
{
	size_t len = 0;
	for (size_t i = 0; i < env->rcpt_count; i++)
		len += strlen(env->rcpts[i].address) + 1;
	char *lines = xmalloc(len + 1), *p = lines;
	for (size_t i = 0; i < env->rcpt_count; i++) {
		size_t n = strlen(env->rcpts[i].address);
		memcpy(p, env->rcpts[i].address, n);
		p[n] = '\n';
		p += n + 1;
	}
	*p = '\0';
	return lines;
}

void queue_envelope_free(struct queue_envelope **envp)
{
	struct queue_envelope *env = *envp;
	if (!env)
		return;
	for (size_t i = 0; i < env->rcpt_count; i++) {
		free(env->rcpts[i].address);
		free(env->rcpts[i].orcpt);
		free(env->rcpts[i].last_reply);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->srs_sender);
	free(env->envid);
	free(env->client_address);
	free(env->helo);
	free(env->listener);
	free(env->account);
	free(env);
	*envp = NULL;
}

/* envelope_put_string - "KEY xtext(VALUE)\n", nothing if VALUE is NULL */
static void envelope_put_string(struct buf *out, const char *key, const char *value)
{
	if (!value)
		return;
	buf_append_str(out, key);
	buf_append(out, " ", 1);
	wire_xtext_append(out, value, strlen(value));
	buf_append(out, "\n", 1);
}

void queue_envelope_serialize(const struct queue_envelope *env, struct buf *out)
{
	buf_printf(out, "version %d\n", ENVELOPE_VERSION);
	buf_printf(out, "id %s\n", env->id);
	buf_printf(out, "arrival %lld\n", (long long)env->arrival);
	envelope_put_string(out, "sender", env->sender ? env->sender : "");
	envelope_put_string(out, "srs-sender", env->srs_sender);
	if (env->body > 0 && env->body < (int)(sizeof(body_names) / sizeof(body_names[0])))
		buf_printf(out, "body %s\n", body_names[env->body]);
	if (env->smtputf8)
		buf_append_str(out, "smtputf8 1\n");
	if (env->ret > 0 && env->ret < (int)(sizeof(ret_names) / sizeof(ret_names[0])))
		buf_printf(out, "ret %s\n", ret_names[env->ret]);
	envelope_put_string(out, "envid", env->envid);
	envelope_put_string(out, "client", env->client_address);
	envelope_put_string(out, "helo", env->helo);
	envelope_put_string(out, "listener", env->listener);
	envelope_put_string(out, "account", env->account);
	if (env->sandbox)
		buf_append_str(out, "sandbox 1\n");
	if (env->junk)
		buf_append_str(out, "junk 1\n");
	if (env->send_at > 0)
		buf_printf(out, "send-at %lld\n", (long long)env->send_at);
	buf_printf(out, "size %" PRIu64 "\n", env->size);
	for (size_t i = 0; i < env->rcpt_count; i++) {
		const struct queue_recipient *r = &env->rcpts[i];
		buf_printf(out, "rcpt notify=%u ", r->notify);
		if (r->orcpt) {
			buf_append_str(out, "orcpt=");
			wire_xtext_append(out, r->orcpt, strlen(r->orcpt));
			buf_append(out, " ", 1);
		}
		wire_xtext_append(out, r->address, strlen(r->address));
		buf_append(out, "\n", 1);
	}
	if (env->has_body_crc)
		buf_printf(out, "body-crc32c %08" PRIX32 "\n", env->body_crc);
}

/* crc_table_build - the byte table of CRC-32C, reflected polynomial 0x1EDC6F41 */
static void crc_table_build(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t queue_crc32c(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;
	pthread_once(&crc_once, crc_table_build);
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* parse_u64 - a decimal number without sign or leading junk */
static bool parse_u64(const char *s, size_t len, uint64_t *value_r)
{
	if (len == 0 || len > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*value_r = v;
	return true;
}

/* envelope_set_string - decode an xtext value into *FIELD (replacing it) */
static int envelope_set_string(char **field, const char *v, size_t len, const char **error_r)
{
	char *s = wire_xtext_decode(v, len);
	if (!s) {
		*error_r = "malformed xtext value in envelope";
		return -1;
	}
	free(*field);
	*field = s;
	return 0;
}

/* envelope_parse_rcpt - "notify=N [orcpt=X] ADDRESS" */
static int envelope_parse_rcpt(struct envelope_parser *p, const char *v, size_t len,
			       const char **error_r)
{
	struct queue_envelope *env = p->env;
	const char *end = v + len;
	uint64_t notify;
	char *orcpt = NULL;
	const char *sp;

	if (env->rcpt_count >= ENVELOPE_RCPT_MAX) {
		*error_r = "too many recipients in envelope";
		return -1;
	}
	if (len < 7 || memcmp(v, "notify=", 7) != 0)
		goto bad;
	v += 7;
	sp = memchr(v, ' ', (size_t)(end - v));
	if (!sp || !parse_u64(v, (size_t)(sp - v), &notify) || notify > 0xffff)
		goto bad;
	v = sp + 1;
	if (end - v >= 6 && memcmp(v, "orcpt=", 6) == 0) {
		v += 6;
		sp = memchr(v, ' ', (size_t)(end - v));
		if (!sp)
			goto bad;
		orcpt = wire_xtext_decode(v, (size_t)(sp - v));
		if (!orcpt)
			goto bad;
		v = sp + 1;
	}
	if (v == end || memchr(v, ' ', (size_t)(end - v)))
		goto bad;
	char *address = wire_xtext_decode(v, (size_t)(end - v));
	if (!address)
		goto bad;
	if (env->rcpt_count == p->rcpt_alloc) {
		p->rcpt_alloc = p->rcpt_alloc ? p->rcpt_alloc * 2 : 4;
		env->rcpts = xrealloc(env->rcpts, p->rcpt_alloc * sizeof(*env->rcpts));
	}
	struct queue_recipient *r = &env->rcpts[env->rcpt_count++];
	r->address = address;
	r->notify = (unsigned)notify;
	r->orcpt = orcpt;
	r->state = QUEUE_RCPT_PENDING;
	r->last_reply = NULL;
	r->bounce_owed = false;
	return 0;
bad:
	free(orcpt);
	*error_r = "malformed rcpt record in envelope";
	return -1;
}

/* envelope_parse_line - one "key value" record (without its LF) */
static int envelope_parse_line(struct envelope_parser *p, const char *line, size_t len,
			       const char **error_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} keys[] = {
		{ "version", ENV_SEEN_VERSION }, { "id", ENV_SEEN_ID },
		{ "arrival", ENV_SEEN_ARRIVAL }, { "sender", ENV_SEEN_SENDER },
		{ "body", ENV_SEEN_BODY }, { "smtputf8", ENV_SEEN_SMTPUTF8 },
		{ "ret", ENV_SEEN_RET }, { "envid", ENV_SEEN_ENVID },
		{ "client", ENV_SEEN_CLIENT }, { "helo", ENV_SEEN_HELO },
		{ "listener", ENV_SEEN_LISTENER }, { "size", ENV_SEEN_SIZE },
		{ "account", ENV_SEEN_ACCOUNT }, { "sandbox", ENV_SEEN_SANDBOX },
		{ "body-crc32c", ENV_SEEN_CRC }, { "srs-sender", ENV_SEEN_SRS_SENDER },
		{ "junk", ENV_SEEN_JUNK }, { "send-at", ENV_SEEN_SEND_AT },
		{ "rcpt", 0 },
	};
	struct queue_envelope *env = p->env;
	const char *sp = memchr(line, ' ', len);
	size_t klen = sp ? (size_t)(sp - line) : len;
	const char *v = sp ? sp + 1 : line + len;
	size_t vlen = (size_t)(line + len - v);
	uint64_t num;
	size_t k;

	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		if (strlen(keys[k].name) == klen && memcmp(keys[k].name, line, klen) == 0)
			break;
	}
	if (k == sizeof(keys) / sizeof(keys[0])) {
		*error_r = "unknown record in envelope";
		return -1;
	}
	if (keys[k].bit == 0)
		return envelope_parse_rcpt(p, v, vlen, error_r);
	if (p->seen & keys[k].bit) {
		*error_r = "repeated record in envelope";
		return -1;
	}
	if (keys[k].bit != ENV_SEEN_VERSION && !(p->seen & ENV_SEEN_VERSION)) {
		*error_r = "envelope does not start with its version";
		return -1;
	}
	p->seen |= keys[k].bit;

	switch (keys[k].bit) {
	case ENV_SEEN_VERSION:
		if (!parse_u64(v, vlen, &num) || num != ENVELOPE_VERSION) {
			*error_r = "unsupported envelope version";
			return -1;
		}
		return 0;
	case ENV_SEEN_ID:
		if (vlen != QUEUE_ID_LEN)
			goto bad;
		memcpy(env->id, v, QUEUE_ID_LEN);
		env->id[QUEUE_ID_LEN] = '\0';
		if (!queue_id_is_valid(env->id))
			goto bad;
		return 0;
	case ENV_SEEN_ARRIVAL:
	case ENV_SEEN_SEND_AT:
		if (!parse_u64(v, vlen, &num) || num > INT64_MAX / 2)
			goto bad;
		*(keys[k].bit == ENV_SEEN_ARRIVAL ? &env->arrival : &env->send_at) = (time_t)num;
		return 0;
	case ENV_SEEN_SIZE:
		if (!parse_u64(v, vlen, &num))
			goto bad;
		env->size = num;
		return 0;
	case ENV_SEEN_CRC: {
		uint32_t crc = 0;
		if (vlen != 8)
			goto bad;
		for (size_t i = 0; i < 8; i++) {
			char c = v[i];
			int h = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (h < 0)
				goto bad;
			crc = crc << 4 | (uint32_t)h;
		}
		env->body_crc = crc;
		env->has_body_crc = true;
		return 0;
	}
	case ENV_SEEN_SMTPUTF8:
		if (vlen != 1 || (v[0] != '0' && v[0] != '1'))
			goto bad;
		env->smtputf8 = v[0] == '1';
		return 0;
	case ENV_SEEN_SANDBOX:
		if (vlen != 1 || (v[0] != '0' && v[0] != '1'))
			goto bad;
		env->sandbox = v[0] == '1';
		return 0;
	case ENV_SEEN_JUNK:
		if (vlen != 1 || (v[0] != '0' && v[0] != '1'))
			goto bad;
		env->junk = v[0] == '1';
		return 0;
	case ENV_SEEN_ACCOUNT:
		return envelope_set_string(&env->account, v, vlen, error_r);
	case ENV_SEEN_BODY:
	case ENV_SEEN_RET: {
		const char *const *names = keys[k].bit == ENV_SEEN_BODY ? body_names : ret_names;
		int count = keys[k].bit == ENV_SEEN_BODY ? 4 : 3;
		for (int i = 1; i < count; i++) {
			if (strlen(names[i]) == vlen && memcmp(names[i], v, vlen) == 0) {
				if (keys[k].bit == ENV_SEEN_BODY)
					env->body = i;
				else
					env->ret = i;
				return 0;
			}
		}
		goto bad;
	}
	case ENV_SEEN_SENDER:
		return envelope_set_string(&env->sender, v, vlen, error_r);
	case ENV_SEEN_SRS_SENDER:
		return envelope_set_string(&env->srs_sender, v, vlen, error_r);
	case ENV_SEEN_ENVID:
		return envelope_set_string(&env->envid, v, vlen, error_r);
	case ENV_SEEN_CLIENT:
		return envelope_set_string(&env->client_address, v, vlen, error_r);
	case ENV_SEEN_HELO:
		return envelope_set_string(&env->helo, v, vlen, error_r);
	case ENV_SEEN_LISTENER:
		return envelope_set_string(&env->listener, v, vlen, error_r);
	default:
		break;
	}
bad:
	*error_r = "malformed value in envelope";
	return -1;
}

struct queue_envelope *queue_envelope_parse(const char *data, size_t len,
					    size_t *body_offset_r, const char **error_r)
{
	const unsigned required = ENV_SEEN_VERSION | ENV_SEEN_ID | ENV_SEEN_ARRIVAL |
		ENV_SEEN_SENDER | ENV_SEEN_SIZE;
	struct envelope_parser p = { .env = xcalloc(1, sizeof(*p.env)) };
	size_t pos = 0;
	bool ended = false;

	p.env->sender = xstrdup("");
	while (pos < len && pos < SPOOL_ENVELOPE_MAX) {
		const char *line = data + pos;
		size_t avail = len - pos;
		if (avail > SPOOL_ENVELOPE_MAX - pos)
			avail = SPOOL_ENVELOPE_MAX - pos;
		const char *lf = memchr(line, '\n', avail);
		if (!lf)
			break;
		size_t llen = (size_t)(lf - line);
		pos += llen + 1;
		if (llen == 0) {
			ended = true;
			break;
		}
		if (memchr(line, '\0', llen) || memchr(line, '\r', llen)) {
			*error_r = "control character in envelope";
			goto fail;
		}
		if (envelope_parse_line(&p, line, llen, error_r) < 0)
			goto fail;
	}
	if (!ended) {
		*error_r = pos >= SPOOL_ENVELOPE_MAX ? "envelope too long"
						     : "envelope not terminated by an empty line";
		goto fail;
	}
	if ((p.seen & required) != required) {
		*error_r = "envelope lacks a required record";
		goto fail;
	}
	if (p.env->rcpt_count == 0) {
		*error_r = "envelope has no recipients";
		goto fail;
	}
	*body_offset_r = pos;
	return p.env;
fail:
	queue_envelope_free(&p.env);
	return NULL;
}
