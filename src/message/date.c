/* message/date - RFC 5322 3.3 date-time, always in UTC. */
#include "message/message.h"

#include <stdio.h>

/* C locale names, written out so that setlocale() cannot change them */
static const char *const date_days[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const date_months[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* message_date_format - "Sun, 29 Nov 2026 10:00:00 +0000" */
void message_date_format(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		t = 0;  /* out of range for struct tm: the epoch beats garbage */
		gmtime_r(&t, &tm);
	}
	snprintf(buf, size, "%s, %02d %s %04lld %02d:%02d:%02d +0000", date_days[tm.tm_wday % 7],
		 tm.tm_mday, date_months[tm.tm_mon % 12], (long long)tm.tm_year + 1900, tm.tm_hour,
		 tm.tm_min, tm.tm_sec);
}
