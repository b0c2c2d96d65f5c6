/* tests/unit/mailauth/test-srs - srs_forward and srs_reverse.  The expected
 * addresses were written by Mail::SRS 0.31 (Debian's libmail-srs-perl,
 * Guarded mode, the same secret, its clock fixed at NOW), so both
 * implementations make and take the same addresses.  Inputs to srs_reverse
 * are exactly-sized copies (AddressSanitizer catches an overread), and every
 * prefix of them is reversed too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mailauth/mailauth.h"

#define SECRET "petrel-test-secret-0123456789"
#define NOW 1764892800LL     /* 2025-12-05 00:00 UTC: day slot "6L" */
#define DAY 86400LL

static const struct srs_settings settings = {
	.secret = SECRET,
	.secret_len = sizeof(SECRET) - 1,
	.domain = "srs.petrel.test",
	.max_age = 21,
};

static const struct {
	const char *sender, *srs;
} vectors[] = {
	{ "alice@example.org", "SRS0=kf70=6L=example.org=alice@srs.petrel.test" },
	{ "Bob.Smith+tag@Example.NET", "SRS0=ILSd=6L=Example.NET=Bob.Smith+tag@srs.petrel.test" },
	/* "=" in the local part: the last field keeps it */
	{ "x=y@d.example", "SRS0=TkjP=6L=d.example=x=y@srs.petrel.test" },
	/* another forwarder's SRS0: wrapped as SRS1, its part kept as it is */
	{ "SRS0=abcd=TT=orig.example=joe@fwd1.example",
	  "SRS1=Bp9N=fwd1.example==abcd=TT=orig.example=joe@srs.petrel.test" },
	/* an SRS1: the first forwarder stays, the hash is ours */
	{ "SRS1=wxyz=fwd1.example==abcd=TT=orig.example=joe@fwd2.example",
	  "SRS1=Bp9N=fwd1.example==abcd=TT=orig.example=joe@srs.petrel.test" },
};

/* reverse - srs_reverse of an exactly-sized copy of ADDRESS */
static int reverse(const char *address, long long now, char **out_r, const char **error_r)
{
	size_t len = strlen(address);
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, address, len);
	*out_r = NULL;
	*error_r = NULL;
	int ret = srs_reverse(&settings, copy, len, now, out_r, error_r);
	free(copy);
	return ret;
}

static void test_forward_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		char *out = NULL;
		const char *error = NULL;
		assert_int_equal(srs_forward(&settings, vectors[i].sender, NOW + 3600, &out, &error), 1);
		assert_string_equal(out, vectors[i].srs);
		free(out);
	}
}

static void test_reverse_vectors(void **state)
{
	(void)state;
	/* SRS0 comes back to the sender; SRS1 to the first forwarder's SRS0 */
	static const char *const back[] = {
		"alice@example.org", "Bob.Smith+tag@Example.NET", "x=y@d.example",
		"SRS0=abcd=TT=orig.example=joe@fwd1.example",
		"SRS0=abcd=TT=orig.example=joe@fwd1.example",
	};
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		char *out;
		const char *error;
		assert_int_equal(reverse(vectors[i].srs, NOW, &out, &error), 1);
		assert_string_equal(out, back[i]);
		free(out);
	}
}

static void test_reverse_age(void **state)
{
	(void)state;
	const char *a = vectors[0].srs;
	char *out;
	const char *error;
	/* the last second of day 21 still counts, day 22 does not */
	assert_int_equal(reverse(a, NOW + 22 * DAY - 1, &out, &error), 1);
	free(out);
	assert_int_equal(reverse(a, NOW + 22 * DAY, &out, &error), -1);
	assert_string_equal(error, "SRS0 address too old");
	/* a day in the future is a day 1023 days old */
	assert_int_equal(reverse(a, NOW - DAY, &out, &error), -1);
	/* 1024 days later the slot comes round again (the scheme's limit) */
	assert_int_equal(reverse(a, NOW + 1024 * DAY, &out, &error), 1);
	free(out);
	/* the SRS1 form carries no time of ours */
	assert_int_equal(reverse(vectors[3].srs, NOW + 500 * DAY, &out, &error), 1);
	free(out);
}

static void test_reverse_forged(void **state)
{
	(void)state;
	static const char *const forged[] = {
		/* another hash, another user, another domain, another day */
		"SRS0=kf71=6L=example.org=alice@srs.petrel.test",
		"SRS0=kf70=6L=example.org=alicf@srs.petrel.test",
		"SRS0=kf70=6L=example.com=alice@srs.petrel.test",
		"SRS0=kf70=6K=example.org=alice@srs.petrel.test",
		"SRS1=Bp9M=fwd1.example==abcd=TT=orig.example=joe@srs.petrel.test",
		"SRS1=Bp9N=fwd9.example==abcd=TT=orig.example=joe@srs.petrel.test",
		/* hashes of another length */
		"SRS0=kf7=6L=example.org=alice@srs.petrel.test",
		"SRS0=kf70a=6L=example.org=alice@srs.petrel.test",
	};
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		char *out;
		const char *error;
		assert_int_equal(reverse(forged[i], NOW, &out, &error), -1);
		assert_non_null(error);
		assert_null(out);
	}
	char *out;
	const char *error;
	/* a hop that smashed case: still ours */
	assert_int_equal(reverse("srs0=KF70=6l=example.org=alice@SRS.petrel.test", NOW, &out, &error),
			 1);
	assert_string_equal(out, "alice@example.org");
	free(out);
}

static void test_reverse_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"SRS0=@srs.petrel.test",
		"SRS0=kf70@srs.petrel.test",
		"SRS0=kf70=6L@srs.petrel.test",
		"SRS0=kf70=6L=example.org@srs.petrel.test",
		"SRS0=kf70=6L=example.org=@srs.petrel.test",
		"SRS0=kf70=6L==alice@srs.petrel.test",
		"SRS0=kf70=6L=exa_mple.org=alice@srs.petrel.test",
		"SRS0=kf70=61=example.org=alice@srs.petrel.test",
		"SRS1=Bp9N@srs.petrel.test",
		"SRS1=Bp9N=fwd1.example@srs.petrel.test",
		"SRS1=Bp9N=fwd1.example=@srs.petrel.test",
		"SRS1=Bp9N==x@srs.petrel.test",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out;
		const char *error;
		assert_int_equal(reverse(bad[i], NOW, &out, &error), -1);
		assert_non_null(error);
	}
}

static void test_reverse_not_ours(void **state)
{
	(void)state;
	static const char *const others[] = {
		"alice@srs.petrel.test",
		"SRS2=kf70=6L=example.org=alice@srs.petrel.test",
		"SRS0kf70=6L=example.org=alice@srs.petrel.test",
		"SRS0=kf70=6L=example.org=alice@other.test",
		"SRS0=kf70=6L=example.org=alice@srs.petrel.test.",
		"SRS0=kf70=6L=example.org=alice@petrel.test",
		"SRS0=kf70=6L=example.org=alice",
		"",
	};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		char *out;
		const char *error;
		assert_int_equal(reverse(others[i], NOW, &out, &error), 0);
	}
	assert_true(srs_address_is_srs("SRS0+x@a", 8));
	assert_true(srs_address_is_srs("srs1-x", 6));
	assert_false(srs_address_is_srs("SRS0", 4));
	assert_false(srs_address_is_srs("SRS3=x@a", 8));
}

static void test_reverse_prefixes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const char *a = vectors[i].srs;
		for (size_t n = 0; n < strlen(a); n++) {
			char *copy = malloc(n ? n : 1);
			assert_non_null(copy);
			memcpy(copy, a, n);
			char *out = NULL;
			const char *error;
			int ret = srs_reverse(&settings, copy, n, NOW, &out, &error);
			assert_true(ret <= 0);  /* a prefix loses the domain or the hash */
			assert_null(out);
			free(copy);
		}
	}
}

static void test_forward_no_rewrite(void **state)
{
	(void)state;
	char *out = NULL;
	const char *error = NULL;
	/* the null sender stays null; our own domain needs nothing */
	assert_int_equal(srs_forward(&settings, "", NOW, &out, &error), 0);
	assert_int_equal(srs_forward(&settings, "bob@SRS.petrel.test", NOW, &out, &error), 0);
	assert_int_equal(srs_forward(&settings, "postmaster", NOW, &out, &error), 0);
	assert_null(out);
	/* what cannot be written as a plain local part is left alone */
	assert_int_equal(srs_forward(&settings, "a b@example.org", NOW, &out, &error), -1);
	assert_non_null(error);
	assert_int_equal(srs_forward(&settings, "a..b@example.org", NOW, &out, &error), -1);
	/* a domain that would not read back (found by fuzz-srs), an address literal */
	assert_int_equal(srs_forward(&settings, "LRS0=x@S0=", NOW, &out, &error), -1);
	assert_string_equal(error, "the sender's domain is not a domain name");
	assert_int_equal(srs_forward(&settings, "a@[192.0.2.1]", NOW, &out, &error), -1);
	/* 64 octets at most: SRS0=HHHH=TT= (13) + domain + "=" + local */
	char sender[128];
	snprintf(sender, sizeof(sender), "%.*s@example.org", 39, "0123456789012345678901234567890123456789");
	assert_int_equal(srs_forward(&settings, sender, NOW, &out, &error), 1);
	assert_int_equal(strchr(out, '@') - out, 64);
	free(out);
	snprintf(sender, sizeof(sender), "%.*s@example.org", 40, "0123456789012345678901234567890123456789");
	assert_int_equal(srs_forward(&settings, sender, NOW, &out, &error), -1);
	assert_string_equal(error, "the rewritten local part would be longer than 64 octets");
}

static void test_round_trip(void **state)
{
	(void)state;
	/* what we write we take back, on every day of its life */
	for (long long day = 0; day <= 21; day++) {
		char *srs = NULL, *back = NULL;
		const char *error = NULL;
		long long made = NOW + day * 7 * DAY + 5;
		assert_int_equal(srs_forward(&settings, "carol@example.com", made, &srs, &error), 1);
		assert_int_equal(reverse(srs, made + day * DAY, &back, &error), 1);
		assert_string_equal(back, "carol@example.com");
		free(srs);
		free(back);
	}
	/* another secret does not take it */
	struct srs_settings other = settings;
	other.secret = "another-secret-of-some-length";
	other.secret_len = strlen(other.secret);
	char *out;
	const char *error;
	size_t len = strlen(vectors[0].srs);
	assert_int_equal(srs_reverse(&other, vectors[0].srs, len, NOW, &out, &error), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_vectors),
		cmocka_unit_test(test_reverse_vectors),
		cmocka_unit_test(test_reverse_age),
		cmocka_unit_test(test_reverse_forged),
		cmocka_unit_test(test_reverse_malformed),
		cmocka_unit_test(test_reverse_not_ours),
		cmocka_unit_test(test_reverse_prefixes),
		cmocka_unit_test(test_forward_no_rewrite),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
