/* delivery/presets - smarthosts of common mail providers, so that
 * "relay = gmail" with a username and password is enough.  Each is the
 * provider's documented submission endpoint: STARTTLS on 587 or implicit
 * TLS on 465 (RFC 8314), certificate verified, AUTH required. */
#include "delivery/delivery.h"

#include <stddef.h>
#include <strings.h>

struct relay_preset {
	const char *name;
	struct delivery_relay relay;
};

static const struct relay_preset presets[] = {
	{ "gmail",    { "smtp.gmail.com",        587, DELIVERY_TLS_VERIFY,   NULL, NULL } },
	{ "outlook",  { "smtp-mail.outlook.com", 587, DELIVERY_TLS_VERIFY,   NULL, NULL } },
	{ "yahoo",    { "smtp.mail.yahoo.com",   465, DELIVERY_TLS_IMPLICIT, NULL, NULL } },
	{ "icloud",   { "smtp.mail.me.com",      587, DELIVERY_TLS_VERIFY,   NULL, NULL } },
	{ "aol",      { "smtp.aol.com",          465, DELIVERY_TLS_IMPLICIT, NULL, NULL } },
	{ "att",      { "outbound.att.net",      465, DELIVERY_TLS_IMPLICIT, NULL, NULL } },
	{ "comcast",  { "smtp.comcast.net",      587, DELIVERY_TLS_VERIFY,   NULL, NULL } },
	/* SendGrid's user name is always "apikey"; the password is the key */
	{ "sendgrid", { "smtp.sendgrid.net",     587, DELIVERY_TLS_VERIFY,   "apikey", NULL } },
};

const struct delivery_relay *delivery_relay_preset(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (strcasecmp(presets[i].name, name) == 0)
			return &presets[i].relay;
	return NULL;
}
