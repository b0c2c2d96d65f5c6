/* mailauth/spf - check_host() of RFC 7208 section 4, as a resumable state
 * machine without I/O.
 *
 * The check keeps a stack of frames, one per record being evaluated: the
 * first for the identity's domain, one more per include (RFC 7208 5.2);
 * a redirect (6.1) replaces its frame's domain and record.  Each frame walks
 * its terms; a term that needs DNS goes through numbered steps, and a step
 * that needs an answer asks for it (spf_dns) and returns.  When the answer
 * comes the same step runs again and finds it: steps before a query have
 * no side effect that a second run would repeat.  One query at a time.
 *
 * After the result, a fail whose deciding record has exp= fetches its
 * explanation (6.2); nothing that goes wrong there changes the result.
 * %{p} (7.3) needs the client's validated names: found once per check,
 * when a macro first asks for them.
 */
#include "mailauth/mailauth.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/domain.h"
#include "util/xalloc.h"

#define SPF_FRAMES_MAX (SPF_LOOKUP_MAX + 1)

enum spf_step_ret {
	SPF_STEP_CONTINUE,   /* state moved on: run the next step */
	SPF_STEP_WAIT,       /* a query is asked */
};

enum spf_frame_state { SPF_FRAME_FETCH, SPF_FRAME_TERMS, SPF_FRAME_REDIRECT };

struct spf_frame {
	enum spf_frame_state state;
	char *domain;
	struct spf_record *record;
	bool redirected;          /* entered by redirect=: no record is a permerror */
	bool included;            /* entered by include: the result goes to the parent */
	size_t term;              /* the term being evaluated */
	unsigned step;            /* within it: 0 = not started */
	char *target;             /* the term's expanded target name; NULL = no valid name */
	char **names;             /* MX hosts, PTR names to check */
	size_t name_count, name_index;
	enum spf_result child;    /* the result an include came back with */
};

struct spf_answer {
	enum spf_dns_status status;
	char **items;
	size_t *lengths;           /* octets of each item (a TXT text may hold NUL) */
	size_t count;
};

enum spf_phase { SPF_PHASE_EVAL, SPF_PHASE_EXP, SPF_PHASE_DONE };
enum spf_p_state { SPF_P_START, SPF_P_PTR, SPF_P_ADDR, SPF_P_DONE };

struct spf_check {
	/* the identity */
	bool v6;
	unsigned char addr[16];
	char ip[INET6_ADDRSTRLEN];
	char *sender, *local, *sender_domain, *helo, *receiver;
	long long now;
	unsigned void_max;

	struct spf_frame frames[SPF_FRAMES_MAX];
	size_t depth;             /* frames in use */
	enum spf_phase phase;

	/* the one query in flight, and its answer */
	char *qname;
	enum spf_dns_type qtype;
	bool asked, answered;
	struct spf_answer answer;

	/* %{p}: the PTR names and which of them validated */
	enum spf_p_state p_state;
	char *p_names[SPF_NAMES_MAX];
	bool p_valid[SPF_NAMES_MAX];
	size_t p_count, p_index;

	/* exp= of the deciding record (6.2) */
	char *exp_spec, *exp_domain;
	unsigned exp_step;
	char *exp_target;

	char *mechanism, *decided_domain, *explanation;
	struct spf_outcome outcome;
};

static void spf_finish(struct spf_check *check, enum spf_result result, const char *problem);
static enum spf_step_ret spf_eval_step(struct spf_check *check);
static enum spf_step_ret spf_exp_step(struct spf_check *check);
static enum spf_step_ret spf_frame_fetch(struct spf_check *check, struct spf_frame *frame);
static enum spf_step_ret spf_frame_term(struct spf_check *check, struct spf_frame *frame);
static enum spf_step_ret spf_frame_redirect(struct spf_check *check, struct spf_frame *frame);
static void spf_frame_push(struct spf_check *check, const char *domain, bool included);
static void spf_frame_result(struct spf_check *check, enum spf_result result,
			     const char *problem);
static void spf_frame_clear_term(struct spf_frame *frame);
static void spf_frame_free(struct spf_frame *frame);
static int spf_dns(struct spf_check *check, const char *name, enum spf_dns_type type,
		   struct spf_answer *answer_r);
static void spf_answer_free(struct spf_answer *answer);
static int spf_target(struct spf_check *check, const char *domain, const char *spec,
		      size_t spec_len, unsigned flags, char **target_r);
static enum spf_step_ret spf_p_resolve(struct spf_check *check);
static const char *spf_p_choose(const struct spf_check *check, const char *domain);
static bool spf_count_lookup(struct spf_check *check);
static bool spf_count_void(struct spf_check *check, enum spf_dns_status status);
static bool spf_addr_matches(const struct spf_check *check, const char *text, unsigned cidr4,
			     unsigned cidr6);
static bool spf_prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits);
static bool spf_name_is_queryable(char *name);
static bool spf_name_ends_with(const char *name, const char *domain);
static char *spf_reverse_name(const struct spf_check *check);

const char *spf_result_name(enum spf_result result)
{
	switch (result) {
	case SPF_RESULT_NONE: return "none";
	case SPF_RESULT_NEUTRAL: return "neutral";
	case SPF_RESULT_PASS: return "pass";
	case SPF_RESULT_FAIL: return "fail";
	case SPF_RESULT_SOFTFAIL: return "softfail";
	case SPF_RESULT_TEMPERROR: return "temperror";
	case SPF_RESULT_PERMERROR: return "permerror";
	}
	return "permerror";
}

/* ---- the check ----------------------------------------------------------- */

struct spf_check *spf_check_new(const struct spf_params *params)
{
	struct spf_check *check = xcalloc(1, sizeof(*check));
	check->now = params->now;
	check->void_max = params->void_lookups_max ? params->void_lookups_max : SPF_VOID_MAX;
	check->helo = params->helo ? xstrdup(params->helo) : NULL;
	check->receiver = params->receiver ? xstrdup(params->receiver) : NULL;

	/* RFC 7208 5: an IPv4-mapped IPv6 address is IPv4 */
	struct in_addr a4;
	if (params->ip != NULL && inet_pton(AF_INET, params->ip, &a4) == 1) {
		memcpy(check->addr, &a4, 4);
	} else if (params->ip != NULL && inet_pton(AF_INET6, params->ip, check->addr) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(check->addr, mapped, 12) == 0)
			memmove(check->addr, check->addr + 12, 4);
		else
			check->v6 = true;
	} else {
		check->sender = xstrdup("");
		check->local = xstrdup("");
		check->sender_domain = xstrdup("");
		spf_finish(check, SPF_RESULT_NONE, "the client address does not parse");
		return check;
	}
	if (inet_ntop(check->v6 ? AF_INET6 : AF_INET, check->addr, check->ip,
		      sizeof(check->ip)) == NULL)
		abort();

	/* RFC 7208 2.4: an empty MAIL FROM is checked as postmaster@HELO;
	 * 4.3: no local part is "postmaster" */
	const char *sender = params->sender ? params->sender : "";
	const char *domain;
	if (sender[0] == '\0') {
		domain = params->helo ? params->helo : "";
		check->local = xstrdup("postmaster");
	} else {
		const char *at = strrchr(sender, '@');
		if (at == NULL) {
			domain = sender;
			check->local = xstrdup("postmaster");
		} else {
			domain = at + 1;
			check->local = at == sender ? xstrdup("postmaster")
						    : xstrndup(sender, (size_t)(at - sender));
		}
	}
	size_t dlen = strlen(domain);
	if (dlen > 1 && domain[dlen - 1] == '.')
		dlen--;
	check->sender_domain = xstrndup(domain, dlen);
	check->sender = xasprintf("%s@%s", check->local, check->sender_domain);

	/* RFC 7208 4.3: a malformed domain, or one of a single label, is none */
	if (!domain_name_is_valid(check->sender_domain, dlen, 0) ||
	    strchr(check->sender_domain, '.') == NULL) {
		spf_finish(check, SPF_RESULT_NONE, "the identity is not a fully qualified domain name");
		return check;
	}
	spf_frame_push(check, check->sender_domain, false);
	return check;
}

int spf_check_next(struct spf_check *check, struct spf_query *query_r)
{
	for (;;) {
		if (check->phase == SPF_PHASE_DONE)
			return 1;
		if (check->asked && !check->answered)
			abort();   /* the caller must answer first */
		enum spf_step_ret ret = check->phase == SPF_PHASE_EVAL ? spf_eval_step(check)
									: spf_exp_step(check);
		if (ret == SPF_STEP_WAIT) {
			query_r->name = check->qname;
			query_r->type = check->qtype;
			return 0;
		}
	}
}

void spf_check_answer(struct spf_check *check, enum spf_dns_status status,
		      const char *const *items, const size_t *lengths, size_t count)
{
	if (!check->asked || check->answered)
		abort();
	check->answered = true;
	check->answer.status = status;
	check->answer.count = 0;
	check->answer.items = NULL;
	check->answer.lengths = NULL;
	if (status == SPF_DNS_OK) {
		check->answer.items = xcalloc(count + 1, sizeof(char *));
		check->answer.lengths = xcalloc(count + 1, sizeof(size_t));
		for (size_t i = 0; i < count; i++) {
			size_t len = lengths ? lengths[i] : strlen(items[i]);
			check->answer.items[i] = xmalloc(len + 1);   /* NUL octets kept */
			memcpy(check->answer.items[i], items[i], len);
			check->answer.items[i][len] = '\0';
			check->answer.lengths[i] = len;
		}
		check->answer.count = count;
		if (count == 0)
			check->answer.status = SPF_DNS_NODATA;
	}
}

void spf_check_expire(struct spf_check *check)
{
	spf_answer_free(&check->answer);
	check->asked = check->answered = false;
	if (check->phase == SPF_PHASE_EVAL) {
		free(check->exp_spec);
		check->exp_spec = NULL;
		spf_finish(check, SPF_RESULT_TEMPERROR, "the check took longer than its time limit");
	}
	check->phase = SPF_PHASE_DONE;
}

const struct spf_outcome *spf_check_outcome(const struct spf_check *check)
{
	return &check->outcome;
}

void spf_check_free(struct spf_check **checkp)
{
	struct spf_check *check = *checkp;
	if (check == NULL)
		return;
	for (size_t i = 0; i < check->depth; i++)
		spf_frame_free(&check->frames[i]);
	spf_answer_free(&check->answer);
	for (size_t i = 0; i < check->p_count; i++)
		free(check->p_names[i]);
	free(check->qname);
	free(check->sender);
	free(check->local);
	free(check->sender_domain);
	free(check->helo);
	free(check->receiver);
	free(check->exp_spec);
	free(check->exp_domain);
	free(check->exp_target);
	free(check->mechanism);
	free(check->decided_domain);
	free(check->explanation);
	free(check);
	*checkp = NULL;
}

/* spf_finish - the result is known: a fail may still fetch its explanation */
static void spf_finish(struct spf_check *check, enum spf_result result, const char *problem)
{
	check->outcome.result = result;
	check->outcome.problem = problem;
	for (size_t i = 0; i < check->depth; i++)
		spf_frame_free(&check->frames[i]);
	check->depth = 0;
	check->phase = result == SPF_RESULT_FAIL && check->exp_spec != NULL ? SPF_PHASE_EXP
									      : SPF_PHASE_DONE;
	check->outcome.mechanism = check->mechanism;
	check->outcome.domain = check->decided_domain;
}

/* ---- DNS ----------------------------------------------------------------- */

/* spf_dns - 1 and the answer to NAME/TYPE in *ANSWER_R (the caller frees
 * it) if it came; else 0: the query is asked */
static int spf_dns(struct spf_check *check, const char *name, enum spf_dns_type type,
		   struct spf_answer *answer_r)
{
	if (check->answered) {
		*answer_r = check->answer;
		memset(&check->answer, 0, sizeof(check->answer));
		check->answered = check->asked = false;
		return 1;
	}
	if (check->outcome.queries >= SPF_QUERIES_MAX) {
		/* cannot happen within the limits above; a bound all the same */
		*answer_r = (struct spf_answer){ .status = SPF_DNS_TEMPFAIL };
		return 1;
	}
	free(check->qname);
	check->qname = xstrdup(name);
	check->qtype = type;
	check->asked = true;
	check->outcome.queries++;
	return 0;
}

static void spf_answer_free(struct spf_answer *answer)
{
	for (size_t i = 0; i < answer->count; i++)
		free(answer->items[i]);
	free(answer->items);
	free(answer->lengths);
	answer->items = NULL;
	answer->lengths = NULL;
	answer->count = 0;
}

/* spf_count_lookup - one more term that queries DNS; false (and the check
 * finished) past SPF_LOOKUP_MAX (RFC 7208 4.6.4) */
static bool spf_count_lookup(struct spf_check *check)
{
	if (check->outcome.lookups >= SPF_LOOKUP_MAX) {
		spf_finish(check, SPF_RESULT_PERMERROR, "more than 10 DNS lookups");
		return false;
	}
	check->outcome.lookups++;
	return true;
}

/* spf_count_void - a lookup answered NXDOMAIN or no records: false (and
 * the check finished) past the void lookup limit (RFC 7208 4.6.4) */
static bool spf_count_void(struct spf_check *check, enum spf_dns_status status)
{
	if (status != SPF_DNS_NODATA && status != SPF_DNS_NXDOMAIN)
		return true;
	if (++check->outcome.void_lookups > check->void_max) {
		spf_finish(check, SPF_RESULT_PERMERROR, "too many void DNS lookups");
		return false;
	}
	return true;
}

/* ---- evaluation ---------------------------------------------------------- */

static void spf_frame_push(struct spf_check *check, const char *domain, bool included)
{
	/* each include counts as a lookup: the limit bounds the depth */
	if (check->depth == SPF_FRAMES_MAX)
		abort();
	struct spf_frame *frame = &check->frames[check->depth++];
	memset(frame, 0, sizeof(*frame));
	frame->domain = xstrdup(domain);
	frame->included = included;
	frame->state = SPF_FRAME_FETCH;
}

static void spf_frame_clear_term(struct spf_frame *frame)
{
	free(frame->target);
	frame->target = NULL;
	for (size_t i = 0; i < frame->name_count; i++)
		free(frame->names[i]);
	free(frame->names);
	frame->names = NULL;
	frame->name_count = frame->name_index = 0;
	frame->step = 0;
}

static void spf_frame_free(struct spf_frame *frame)
{
	spf_frame_clear_term(frame);
	spf_record_free(&frame->record);
	free(frame->domain);
	frame->domain = NULL;
}

/* spf_frame_result - the top frame's check_host() ended with RESULT: back
 * to the include that asked, or the end of the check */
static void spf_frame_result(struct spf_check *check, enum spf_result result,
			     const char *problem)
{
	if (check->depth == 1) {
		spf_finish(check, result, problem);
		return;
	}
	struct spf_frame *frame = &check->frames[--check->depth];
	spf_frame_free(frame);
	struct spf_frame *parent = &check->frames[check->depth - 1];
	parent->child = result;
	if (result == SPF_RESULT_PERMERROR || result == SPF_RESULT_TEMPERROR)
		check->outcome.problem = problem;
}

static enum spf_step_ret spf_eval_step(struct spf_check *check)
{
	struct spf_frame *frame = &check->frames[check->depth - 1];
	switch (frame->state) {
	case SPF_FRAME_FETCH:
		return spf_frame_fetch(check, frame);
	case SPF_FRAME_TERMS:
		return spf_frame_term(check, frame);
	case SPF_FRAME_REDIRECT:
		return spf_frame_redirect(check, frame);
	}
	abort();
}

/* spf_frame_fetch - the frame's record: exactly one TXT record starting
 * with "v=spf1" (RFC 7208 4.4, 4.5; type SPF (99) is not asked, 3.1) */
static enum spf_step_ret spf_frame_fetch(struct spf_check *check, struct spf_frame *frame)
{
	/* an include or redirect target that is no domain name, or has no
	 * record, is a permerror (5.2, 6.1); the first domain is none */
	bool nested = frame->redirected || frame->included;
	char *name = xstrdup(frame->domain);
	bool queryable = spf_name_is_queryable(name);
	free(name);
	if (!queryable) {
		spf_frame_result(check, nested ? SPF_RESULT_PERMERROR : SPF_RESULT_NONE,
				 "no SPF record: the domain is not a valid name");
		return SPF_STEP_CONTINUE;
	}
	struct spf_answer answer;
	if (!spf_dns(check, frame->domain, SPF_DNS_TXT, &answer))
		return SPF_STEP_WAIT;
	if (answer.status == SPF_DNS_TEMPFAIL) {
		spf_answer_free(&answer);
		spf_frame_result(check, SPF_RESULT_TEMPERROR, "DNS error looking up the SPF record");
		return SPF_STEP_CONTINUE;
	}
	const char *found = NULL;
	size_t n = 0, found_len = 0;
	for (size_t i = 0; i < answer.count; i++) {
		if (spf_record_is_spf(answer.items[i], answer.lengths[i])) {
			found = answer.items[i];
			found_len = answer.lengths[i];
			n++;
		}
	}
	if (n != 1) {
		spf_frame_result(check, n == 0 ? (nested ? SPF_RESULT_PERMERROR : SPF_RESULT_NONE)
					       : SPF_RESULT_PERMERROR,
				 n == 0 ? "no SPF record" : "more than one SPF record");
		spf_answer_free(&answer);
		return SPF_STEP_CONTINUE;
	}
	const char *error;
	frame->record = spf_record_parse(found, found_len, &error);
	spf_answer_free(&answer);
	if (frame->record == NULL) {
		spf_frame_result(check, SPF_RESULT_PERMERROR, error);
		return SPF_STEP_CONTINUE;
	}
	frame->state = SPF_FRAME_TERMS;
	frame->term = 0;
	frame->step = 0;
	return SPF_STEP_CONTINUE;
}

/* spf_frame_matched - TERM of the top frame matched: its qualifier is the
 * result (RFC 7208 4.6.2) */
static void spf_frame_matched(struct spf_check *check, struct spf_frame *frame,
			      const struct spf_term *term)
{
	if (check->depth == 1) {
		free(check->mechanism);
		check->mechanism = xstrndup(term->text, term->text_len);
		free(check->decided_domain);
		check->decided_domain = xstrdup(frame->domain);
		if (term->qualifier == SPF_RESULT_FAIL && frame->record->exp != NULL) {
			check->exp_spec = xstrndup(frame->record->exp, frame->record->exp_len);
			check->exp_domain = xstrdup(frame->domain);
		}
	}
	spf_frame_result(check, term->qualifier, NULL);
}

/* spf_frame_next_term - TERM did not match: on to the next */
static void spf_frame_next_term(struct spf_frame *frame)
{
	spf_frame_clear_term(frame);
	frame->term++;
}

static enum spf_step_ret spf_frame_term(struct spf_check *check, struct spf_frame *frame)
{
	struct spf_record *record = frame->record;
	if (frame->term == record->term_count) {
		if (record->redirect != NULL) {
			frame->state = SPF_FRAME_REDIRECT;
			frame->step = 0;
			return SPF_STEP_CONTINUE;
		}
		/* RFC 7208 4.7: nothing matched, no redirect: neutral */
		if (check->depth == 1) {
			free(check->decided_domain);
			check->decided_domain = xstrdup(frame->domain);
		}
		spf_frame_result(check, SPF_RESULT_NEUTRAL, "no mechanism matched");
		return SPF_STEP_CONTINUE;
	}
	const struct spf_term *term = &record->terms[frame->term];
	struct spf_answer answer;

	switch (term->mechanism) {
	case SPF_MECH_ALL:
		spf_frame_matched(check, frame, term);
		return SPF_STEP_CONTINUE;
	case SPF_MECH_IP4:
	case SPF_MECH_IP6:
		/* RFC 7208 5.6: ip4 matches IPv4 clients only, ip6 IPv6 */
		if ((term->mechanism == SPF_MECH_IP6) == check->v6 &&
		    spf_prefix_equal(check->addr, term->addr,
				     check->v6 ? term->cidr6 : term->cidr4))
			spf_frame_matched(check, frame, term);
		else
			spf_frame_next_term(frame);
		return SPF_STEP_CONTINUE;
	default:
		break;
	}

	/* the DNS mechanisms: step 0 counts, step 1 expands the target
	 * (which %{p} may need queries for), the next steps query */
	if (frame->step == 0) {
		if (!spf_count_lookup(check))
			return SPF_STEP_CONTINUE;
		frame->step = 1;
	}
	if (frame->step == 1) {
		int ret = spf_target(check, frame->domain, term->spec, term->spec_len, 0,
				     &frame->target);
		if (ret == 0)
			return SPF_STEP_WAIT;
		if (ret < 0) {
			spf_frame_result(check, SPF_RESULT_PERMERROR, "invalid macro");
			return SPF_STEP_CONTINUE;
		}
		frame->step = 2;
		if (frame->target == NULL) {
			/* not a name DNS can be asked: an include finds no
			 * record (permerror, 5.2); the others do not match
			 * (4.3, 4.8) */
			if (term->mechanism == SPF_MECH_INCLUDE) {
				spf_frame_result(check, SPF_RESULT_PERMERROR,
						 "include: the target is not a valid domain name");
				return SPF_STEP_CONTINUE;
			}
			spf_frame_next_term(frame);
			return SPF_STEP_CONTINUE;
		}
	}

	enum spf_dns_type addr_type = check->v6 ? SPF_DNS_AAAA : SPF_DNS_A;
	switch (term->mechanism) {
	case SPF_MECH_INCLUDE:
		/* RFC 7208 5.2: a recursive check_host() on the target */
		if (frame->step == 2) {
			frame->step = 3;
			spf_frame_push(check, frame->target, true);
			return SPF_STEP_CONTINUE;
		}
		switch (frame->child) {
		case SPF_RESULT_PASS:
			spf_frame_matched(check, frame, term);
			break;
		case SPF_RESULT_FAIL:
		case SPF_RESULT_SOFTFAIL:
		case SPF_RESULT_NEUTRAL:
			spf_frame_next_term(frame);
			break;
		case SPF_RESULT_TEMPERROR:
			spf_frame_result(check, SPF_RESULT_TEMPERROR, check->outcome.problem);
			break;
		case SPF_RESULT_PERMERROR:
		case SPF_RESULT_NONE:
			spf_frame_result(check, SPF_RESULT_PERMERROR, check->outcome.problem);
			break;
		}
		return SPF_STEP_CONTINUE;

	case SPF_MECH_A:
	case SPF_MECH_EXISTS: {
		/* 5.3: the target's addresses of the client's family;
		 * 5.7: exists asks for A whatever the family */
		bool exists = term->mechanism == SPF_MECH_EXISTS;
		if (!spf_dns(check, frame->target, exists ? SPF_DNS_A : addr_type, &answer))
			return SPF_STEP_WAIT;
		bool match = false;
		if (answer.status == SPF_DNS_TEMPFAIL) {
			spf_answer_free(&answer);
			spf_frame_result(check, SPF_RESULT_TEMPERROR, "DNS error");
			return SPF_STEP_CONTINUE;
		}
		if (!spf_count_void(check, answer.status)) {
			spf_answer_free(&answer);
			return SPF_STEP_CONTINUE;
		}
		for (size_t i = 0; i < answer.count && !match; i++)
			match = exists || spf_addr_matches(check, answer.items[i], term->cidr4,
							   term->cidr6);
		spf_answer_free(&answer);
		if (match)
			spf_frame_matched(check, frame, term);
		else
			spf_frame_next_term(frame);
		return SPF_STEP_CONTINUE;
	}

	case SPF_MECH_MX:
		/* 5.4: the MX hosts, then each one's addresses */
		if (frame->step == 2) {
			if (!spf_dns(check, frame->target, SPF_DNS_MX, &answer))
				return SPF_STEP_WAIT;
			if (answer.status == SPF_DNS_TEMPFAIL) {
				spf_answer_free(&answer);
				spf_frame_result(check, SPF_RESULT_TEMPERROR, "DNS error");
				return SPF_STEP_CONTINUE;
			}
			if (!spf_count_void(check, answer.status)) {
				spf_answer_free(&answer);
				return SPF_STEP_CONTINUE;
			}
			/* 4.6.4: more than 10 MX records is a permerror */
			if (answer.count > SPF_NAMES_MAX) {
				spf_answer_free(&answer);
				spf_frame_result(check, SPF_RESULT_PERMERROR,
						 "more than 10 MX records");
				return SPF_STEP_CONTINUE;
			}
			frame->names = xcalloc(answer.count + 1, sizeof(char *));
			for (size_t i = 0; i < answer.count; i++) {
				const char *host = strchr(answer.items[i], ' ');
				host = host ? host + 1 : answer.items[i];
				char *name = xstrdup(host);
				/* a null MX (RFC 7505) names no host */
				if (strcmp(name, ".") == 0 || !spf_name_is_queryable(name))
					free(name);
				else
					frame->names[frame->name_count++] = name;
			}
			spf_answer_free(&answer);
			frame->step = 3;
		}
		while (frame->name_index < frame->name_count) {
			if (!spf_dns(check, frame->names[frame->name_index], addr_type, &answer))
				return SPF_STEP_WAIT;
			frame->name_index++;
			if (answer.status == SPF_DNS_TEMPFAIL) {
				spf_answer_free(&answer);
				spf_frame_result(check, SPF_RESULT_TEMPERROR, "DNS error");
				return SPF_STEP_CONTINUE;
			}
			bool match = false;
			for (size_t i = 0; i < answer.count && !match; i++)
				match = spf_addr_matches(check, answer.items[i], term->cidr4,
							 term->cidr6);
			spf_answer_free(&answer);
			if (match) {
				spf_frame_matched(check, frame, term);
				return SPF_STEP_CONTINUE;
			}
		}
		spf_frame_next_term(frame);
		return SPF_STEP_CONTINUE;

	case SPF_MECH_PTR:
		/* 5.5: the client's PTR names (the first 10) that end in the
		 * target, each validated by its addresses; DNS errors make
		 * the PTR lookup not match and skip a name */
		if (frame->step == 2) {
			char *rev = spf_reverse_name(check);
			int got = spf_dns(check, rev, SPF_DNS_PTR, &answer);
			free(rev);
			if (!got)
				return SPF_STEP_WAIT;
			if (!spf_count_void(check, answer.status)) {
				spf_answer_free(&answer);
				return SPF_STEP_CONTINUE;
			}
			size_t n = answer.count < SPF_NAMES_MAX ? answer.count : SPF_NAMES_MAX;
			frame->names = xcalloc(n + 1, sizeof(char *));
			for (size_t i = 0; i < n; i++) {
				char *name = xstrdup(answer.items[i]);
				if (spf_name_is_queryable(name) &&
				    spf_name_ends_with(name, frame->target))
					frame->names[frame->name_count++] = name;
				else
					free(name);
			}
			spf_answer_free(&answer);
			frame->step = 3;
		}
		while (frame->name_index < frame->name_count) {
			if (!spf_dns(check, frame->names[frame->name_index], addr_type, &answer))
				return SPF_STEP_WAIT;
			frame->name_index++;
			bool match = false;
			for (size_t i = 0; i < answer.count && !match; i++)
				match = spf_addr_matches(check, answer.items[i], 32, 128);
			spf_answer_free(&answer);
			if (match) {
				spf_frame_matched(check, frame, term);
				return SPF_STEP_CONTINUE;
			}
		}
		spf_frame_next_term(frame);
		return SPF_STEP_CONTINUE;

	default:
		abort();
	}
}

/* spf_frame_redirect - RFC 7208 6.1: no mechanism matched; the target's
 * check_host() result is this record's, and its own exp= counts, not ours */
static enum spf_step_ret spf_frame_redirect(struct spf_check *check, struct spf_frame *frame)
{
	if (frame->step == 0) {
		if (!spf_count_lookup(check))
			return SPF_STEP_CONTINUE;
		frame->step = 1;
	}
	char *target;
	int ret = spf_target(check, frame->domain, frame->record->redirect,
			     frame->record->redirect_len, 0, &target);
	if (ret == 0)
		return SPF_STEP_WAIT;
	if (ret < 0) {
		spf_frame_result(check, SPF_RESULT_PERMERROR, "invalid macro");
		return SPF_STEP_CONTINUE;
	}
	if (target == NULL) {
		spf_frame_result(check, SPF_RESULT_PERMERROR,
				 "redirect: the target is not a valid domain name");
		return SPF_STEP_CONTINUE;
	}
	spf_frame_clear_term(frame);
	spf_record_free(&frame->record);
	free(frame->domain);
	frame->domain = target;
	frame->redirected = true;
	frame->state = SPF_FRAME_FETCH;
	return SPF_STEP_CONTINUE;
}

/* ---- targets and %{p} ---------------------------------------------------- */

/* spf_target - the target name of SPEC (NULL: DOMAIN itself) expanded:
 * 1 and *TARGET_R (NULL if it is no name DNS can be asked), 0 waiting
 * for %{p}'s queries, -1 a macro error */
static int spf_target(struct spf_check *check, const char *domain, const char *spec,
		      size_t spec_len, unsigned flags, char **target_r)
{
	char *out;
	if (spec == NULL) {
		out = xstrdup(domain);
	} else {
		bool uses_p = false;
		if (!spf_macro_check(spec, spec_len, flags, &uses_p))
			return -1;
		if (uses_p && spf_p_resolve(check) == SPF_STEP_WAIT)
			return 0;
		struct spf_macro_env env = {
			.sender = check->sender, .local = check->local,
			.sender_domain = check->sender_domain, .domain = domain,
			.ip = check->ip, .helo = check->helo, .receiver = check->receiver,
			.now = check->now,
			.ptr_name = uses_p ? spf_p_choose(check, domain) : NULL,
		};
		const char *error;
		if (spf_macro_expand(spec, spec_len, &env, flags, &out, &error) < 0)
			return -1;
	}
	if (!spf_name_is_queryable(out)) {
		free(out);
		out = NULL;
	}
	*target_r = out;
	return 1;
}

/* spf_p_resolve - the client's PTR names (the first 10) and which of them
 * resolve back to it (RFC 7208 7.3); DNS errors leave a name unvalidated */
static enum spf_step_ret spf_p_resolve(struct spf_check *check)
{
	struct spf_answer answer;
	if (check->p_state == SPF_P_START) {
		char *rev = spf_reverse_name(check);
		int got = spf_dns(check, rev, SPF_DNS_PTR, &answer);
		free(rev);
		if (!got)
			return SPF_STEP_WAIT;
		for (size_t i = 0; i < answer.count && check->p_count < SPF_NAMES_MAX; i++) {
			char *name = xstrdup(answer.items[i]);
			if (spf_name_is_queryable(name))
				check->p_names[check->p_count++] = name;
			else
				free(name);
		}
		spf_answer_free(&answer);
		check->p_state = SPF_P_ADDR;
	}
	while (check->p_index < check->p_count) {
		if (!spf_dns(check, check->p_names[check->p_index],
			     check->v6 ? SPF_DNS_AAAA : SPF_DNS_A, &answer))
			return SPF_STEP_WAIT;
		for (size_t i = 0; i < answer.count; i++) {
			if (spf_addr_matches(check, answer.items[i], 32, 128))
				check->p_valid[check->p_index] = true;
		}
		spf_answer_free(&answer);
		check->p_index++;
	}
	check->p_state = SPF_P_DONE;
	return SPF_STEP_CONTINUE;
}

/* spf_p_choose - %{p} for DOMAIN: a validated name equal to it, else one
 * of its subdomains, else any validated name, else "unknown" (7.3) */
static const char *spf_p_choose(const struct spf_check *check, const char *domain)
{
	for (size_t i = 0; i < check->p_count; i++)
		if (check->p_valid[i] && strcasecmp(check->p_names[i], domain) == 0)
			return check->p_names[i];
	for (size_t i = 0; i < check->p_count; i++)
		if (check->p_valid[i] && spf_name_ends_with(check->p_names[i], domain))
			return check->p_names[i];
	for (size_t i = 0; i < check->p_count; i++)
		if (check->p_valid[i])
			return check->p_names[i];
	return "unknown";
}

/* ---- the explanation (RFC 7208 6.2) -------------------------------------- */

static enum spf_step_ret spf_exp_step(struct spf_check *check)
{
	if (check->exp_step == 0) {
		int ret = spf_target(check, check->exp_domain, check->exp_spec,
				     strlen(check->exp_spec), 0, &check->exp_target);
		if (ret == 0)
			return SPF_STEP_WAIT;
		if (ret < 0 || check->exp_target == NULL) {
			check->phase = SPF_PHASE_DONE;
			return SPF_STEP_CONTINUE;
		}
		check->exp_step = 1;
	}
	if (check->exp_step == 1) {
		struct spf_answer answer;
		if (!spf_dns(check, check->exp_target, SPF_DNS_TXT, &answer))
			return SPF_STEP_WAIT;
		/* exactly one record, else as if there were no exp= */
		if (answer.count != 1) {
			spf_answer_free(&answer);
			check->phase = SPF_PHASE_DONE;
			return SPF_STEP_CONTINUE;
		}
		free(check->exp_spec);
		check->exp_spec = answer.items[0];
		answer.items[0] = NULL;
		spf_answer_free(&answer);
		check->exp_step = 2;
	}
	/* the explanation text is a macro-string with c, r, t and spaces */
	const char *text = check->exp_spec;
	bool uses_p = false;
	if (!spf_macro_check(text, strlen(text), SPF_MACRO_EXPLAIN, &uses_p)) {
		check->phase = SPF_PHASE_DONE;
		return SPF_STEP_CONTINUE;
	}
	if (uses_p && spf_p_resolve(check) == SPF_STEP_WAIT)
		return SPF_STEP_WAIT;
	struct spf_macro_env env = {
		.sender = check->sender, .local = check->local,
		.sender_domain = check->sender_domain, .domain = check->exp_domain,
		.ip = check->ip, .helo = check->helo, .receiver = check->receiver,
		.now = check->now,
		.ptr_name = uses_p ? spf_p_choose(check, check->exp_domain) : NULL,
	};
	const char *error;
	char *out;
	if (spf_macro_expand(text, strlen(text), &env, SPF_MACRO_EXPLAIN, &out, &error) == 0) {
		check->explanation = out;
		check->outcome.explanation = out;
	}
	check->phase = SPF_PHASE_DONE;
	return SPF_STEP_CONTINUE;
}

/* ---- names and addresses ------------------------------------------------- */

/* spf_name_is_queryable - NAME, its trailing dot removed in place and cut
 * on the left to 253 octets (RFC 7208 7.3), has labels of 1 to 63 octets
 * (RFC 1035 2.3.4) and at least two of them.  Any octet may be in a label:
 * macros expand to what the sender wrote. */
static bool spf_name_is_queryable(char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		name[--len] = '\0';
	while (len > DOMAIN_NAME_MAX) {
		char *dot = strchr(name, '.');
		if (dot == NULL)
			return false;
		len -= (size_t)(dot + 1 - name);
		memmove(name, dot + 1, len + 1);
	}
	if (len == 0)
		return false;
	size_t label = 0, labels = 1;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
			labels++;
		} else if (++label > DOMAIN_LABEL_MAX || name[i] == '\0') {
			return false;
		}
	}
	return label > 0 && labels >= 2;
}

/* spf_name_ends_with - NAME is DOMAIN or one of its subdomains (any case) */
static bool spf_name_ends_with(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);
	if (d > 0 && domain[d - 1] == '.')
		d--;
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n < d || strncasecmp(name + n - d, domain, d) != 0)
		return false;
	return n == d || name[n - d - 1] == '.';
}

static bool spf_addr_matches(const struct spf_check *check, const char *text, unsigned cidr4,
			     unsigned cidr6)
{
	unsigned char addr[16];
	if (check->v6) {
		if (inet_pton(AF_INET6, text, addr) != 1)
			return false;
		return spf_prefix_equal(check->addr, addr, cidr6);
	}
	if (inet_pton(AF_INET, text, addr) != 1)
		return false;
	return spf_prefix_equal(check->addr, addr, cidr4);
}

static bool spf_prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	size_t bytes = bits / 8;
	if (memcmp(a, b, bytes) != 0)
		return false;
	unsigned rest = bits % 8;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

/* spf_reverse_name - the client's in-addr.arpa or ip6.arpa name */
static char *spf_reverse_name(const struct spf_check *check)
{
	const unsigned char *a = check->addr;
	if (!check->v6)
		return xasprintf("%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
	static const char hex[] = "0123456789abcdef";
	char buf[32 * 2 + sizeof("ip6.arpa")];
	size_t n = 0;
	for (size_t i = 16; i-- > 0;) {
		buf[n++] = hex[a[i] & 0xf];
		buf[n++] = '.';
		buf[n++] = hex[a[i] >> 4];
		buf[n++] = '.';
	}
	memcpy(buf + n, "ip6.arpa", sizeof("ip6.arpa"));
	return xstrdup(buf);
}
