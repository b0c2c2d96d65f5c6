/* dnsmasq-fixture - a throwaway dnsmasq on 127.0.0.1 for unit tests that
 * resolve through dns/ (a free port, the records the test gives). */
#ifndef PETREL_TEST_DNSMASQ_FIXTURE_H
#define PETREL_TEST_DNSMASQ_FIXTURE_H

#include <sys/types.h>

/* test_dnsmasq_start - dnsmasq answering RECORDS (a NULL-terminated list of
 * its own options: "--local=/test/", "--txt-record=NAME,TEXT" ...) on
 * 127.0.0.1 at a port free for UDP and TCP (another one if it finds its
 * port taken meanwhile, 5 tries); 0 with *PID_R and *PORT_R once it listens,
 * -1 (with dnsmasq's own message and ours on stderr) if it did not within
 * 20 s */
int test_dnsmasq_start(const char *const *records, pid_t *pid_r, unsigned *port_r);

/* test_free_udp_port - a UDP port on 127.0.0.1 nobody holds right now, 0 if none
 * (also a forwarder that never answers) */
unsigned test_free_udp_port(void);

/* test_dns_resolver - a resolver on BASE forwarding to 127.0.0.1@PORT, the
 * "test" zone answered by it, TIMEOUT_MS per query; exits the test when it
 * cannot be made */
struct event_base;
struct dns_resolver;
struct dns_resolver *test_dns_resolver(struct event_base *base, unsigned port,
				       unsigned timeout_ms);
/* test_loop_run - BASE's loop until a callback breaks it, at most MS */
void test_loop_run(struct event_base *base, unsigned ms);

#endif
