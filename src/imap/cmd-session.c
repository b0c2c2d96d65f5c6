/* imap/cmd-session - the session's settings once logged in: ENABLE
 * (RFC 5161), NAMESPACE (RFC 2342), COMPRESS (RFC 4978) */
#include "imap/session.h"

#include <strings.h>

#include "util/buf.h"

/* The extensions ENABLE turns on, as s->enabled bits: each only while
 * capability.c offers it (an extension not built yet is never enabled). */
static const struct {
	const char *name;
	unsigned bits;
} enables[] = {
	{ "UTF8=ACCEPT", IMAP_ENABLED_UTF8 },          /* RFC 6855 */
	{ "CONDSTORE", IMAP_ENABLED_CONDSTORE },       /* RFC 7162 3.1 */
	/* RFC 7162 3.2.3: QRESYNC implies CONDSTORE */
	{ "QRESYNC", IMAP_ENABLED_QRESYNC | IMAP_ENABLED_CONDSTORE },
	{ "IMAP4rev2", IMAP_ENABLED_REV2 },             /* RFC 9051 */
};

/* imap_cmd_enable - RFC 5161 3.1: ENABLE capability...; "* ENABLED" names
 * those this command turned on (unknown ones are ignored) */
void imap_cmd_enable(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count == 0) {
		imap_reply_bad(s, NULL, "ENABLE takes capability names");
		return;
	}
	for (size_t i = 0; i < cmd->count; i++) {
		if (cmd->args[i].type != IMAP_ARG_ATOM) {
			imap_reply_bad(s, NULL, "ENABLE takes capability names");
			return;
		}
	}
	struct buf line;
	buf_init(&line);
	buf_append_str(&line, "ENABLED");
	for (size_t i = 0; i < cmd->count; i++) {
		for (size_t k = 0; k < sizeof(enables) / sizeof(enables[0]); k++) {
			if (strcasecmp(cmd->args[i].data, enables[k].name) != 0 ||
			    !imap_capability_is_offered(s, enables[k].name))
				continue;
			if ((s->enabled & enables[k].bits) != enables[k].bits) {
				s->enabled |= enables[k].bits;
				buf_printf(&line, " %s", enables[k].name);
			}
		}
	}
	imap_reply_untagged(s, "%.*s", (int)line.len, line.data);
	buf_free(&line);
	imap_reply_ok(s, NULL, "ENABLE completed");
}

/* imap_cmd_namespace - RFC 2342 5: one personal namespace, "" with "/"
 * between levels; no other users' or shared folders */
void imap_cmd_namespace(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 0) {
		imap_reply_bad(s, NULL, "NAMESPACE takes no arguments");
		return;
	}
	imap_reply_untagged(s, "NAMESPACE ((\"\" \"/\")) NIL NIL");
	imap_reply_ok(s, NULL, "NAMESPACE completed");
}

/* imap_cmd_compress - RFC 4978 3: COMPRESS DEFLATE; the OK goes out
 * uncompressed, everything after it compressed both ways */
void imap_cmd_compress(struct imap_session *s, const struct imap_command *cmd, bool uid)
{
	(void)uid;
	if (cmd->count != 1 || cmd->args[0].type != IMAP_ARG_ATOM) {
		imap_reply_bad(s, NULL, "COMPRESS takes a mechanism");
		return;
	}
	if (s->compressed) {
		imap_reply_no(s, "COMPRESSIONACTIVE", "DEFLATE is active already");
		return;
	}
	if (strcasecmp(cmd->args[0].data, "DEFLATE") != 0) {
		imap_reply_bad(s, NULL, "Unknown compression mechanism");
		return;
	}
	imap_reply_ok(s, NULL, "DEFLATE active");
	imap_session_start_compress(s);
}
