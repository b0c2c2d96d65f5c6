/* smtp/parse-line - CRLF line framing of SMTP command input (see parse.h).
 *
 * RFC 5321 2.3.8: only CRLF ends a line.  A bare CR or bare LF is a byte of
 * the line; it is reported in the flags so the session can refuse it (the
 * SMTP smuggling defence).  A CR that is the last byte of the input may be the
 * first half of a CRLF split across reads, so it is never consumed alone.
 */
#include "smtp/parse.h"

#include <string.h>

static size_t line_crlf_find(const char *data, size_t len);

/* line_crlf_find - index of the first CRLF in DATA[0..LEN), or LEN */
static size_t line_crlf_find(const char *data, size_t len)
{
	const char *p = data;
	const char *end = data + len;

	while (p < end) {
		const char *cr = memchr(p, '\r', (size_t)(end - p));
		if (cr == NULL || cr + 1 >= end)
			break;
		if (cr[1] == '\n')
			return (size_t)(cr - data);
		p = cr + 1;
	}
	return len;
}

/* smtp_line_find - frame one CRLF line, flagging bare CR, bare LF and NUL */
enum smtp_line_status smtp_line_find(const char *data, size_t len, size_t max,
				     size_t *line_len_r, size_t *consumed_r,
				     unsigned *flags_r)
{
	size_t crlf = line_crlf_find(data, len);
	size_t scan;
	unsigned flags = 0;
	bool found = crlf < len;

	*line_len_r = 0;
	*consumed_r = 0;

	/* Bytes certainly in the line: all before the CRLF, or all of DATA but
	 * a final CR that may start a CRLF still on its way. */
	if (found)
		scan = crlf;
	else if (len > 0 && data[len - 1] == '\r')
		scan = len - 1;
	else
		scan = len;

	for (size_t i = 0; i < scan; i++) {
		switch (data[i]) {
		case '\n':
			flags |= SMTP_LINE_BARE_LF;
			break;
		case '\r':
			flags |= SMTP_LINE_BARE_CR;
			break;
		case '\0':
			flags |= SMTP_LINE_NUL;
			break;
		default:
			break;
		}
	}
	*flags_r = flags;

	/* "Too long" is decided on the bytes of the line alone, so it is the
	 * same answer whether the CRLF has arrived yet or not (STYLE). */
	if (scan > (max >= 2 ? max - 2 : 0) || (found && max < 2)) {
		*consumed_r = found ? crlf + 2 : scan;
		return SMTP_LINE_TOO_LONG;
	}
	if (!found)
		return SMTP_LINE_NEED_MORE;
	*line_len_r = crlf;
	*consumed_r = crlf + 2;
	return SMTP_LINE_OK;
}

/* smtp_line_skip - discard input up to and including the next CRLF */
bool smtp_line_skip(const char *data, size_t len, size_t *consumed_r)
{
	size_t crlf = line_crlf_find(data, len);

	if (crlf < len) {
		*consumed_r = crlf + 2;
		return true;
	}
	*consumed_r = (len > 0 && data[len - 1] == '\r') ? len - 1 : len;
	return false;
}
