/* cli - the petrel command's subcommands.  Each returns the process exit
 * status: 0 success, 1 failure at run time, 2 usage or configuration error. */
#ifndef PETREL_CLI_H
#define PETREL_CLI_H

#include <stdbool.h>
#include <stddef.h>

#define CLI_DEFAULT_CONFIG "/etc/petrel/petrel.conf"

int cmd_serve(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_spf(int argc, char **argv);
int cmd_dkim(int argc, char **argv);
/* cmd_dkim_keys - dkim keygen|list|remove, ARGV[0] the action (cmd-dkim-keys.c) */
int cmd_dkim_keys(int argc, char **argv);
int cmd_dmarc(int argc, char **argv);
int cmd_arc(int argc, char **argv);
int cmd_check_domain(int argc, char **argv);
/* cmd_dmarc_report - petrel dmarc report (ARGV[1] is "report") */
int cmd_dmarc_report(int argc, char **argv);
/* cmd_sendmail - exits with sysexits.h codes, not 0/1/2 (see cmd-sendmail.c) */
int cmd_sendmail(int argc, char **argv);

/* The server's node in the store (serve-node.c).  serve_node_register -
 * register CONFIG's [server] node (blocking: at start), and give the queue
 * IDs its number; NULL with *error_r (the store's text, valid until its
 * next call on this thread) when refused: another server runs the name, or
 * the store failed.  serve_node_start - report every INTERVAL seconds on
 * POOL, with QUEUE's active count; -1 if the timer cannot start.  serve_node_stop -
 * record a clean stop (blocking: after the loop).  */
struct serve_node;
struct store;
struct pool;
struct queue;
struct event_base;
struct config;
struct serve_node *serve_node_register(struct store *store, const struct config *config,
				       const char **error_r);
int serve_node_start(struct serve_node *sn, struct event_base *base, struct pool *pool,
		     struct queue *queue, unsigned interval);
void serve_node_stop(struct serve_node *sn);
/* serve_node_name - the registered name (lower-cased) */
const char *serve_node_name(const struct serve_node *sn);
void serve_node_free(struct serve_node **sn);

/* cli_psl_load - read the Public Suffix List that [auth] public_suffix_list
 * names; NULL after printing why, with CONFIG:LINE of the setting (the
 * caller exits 2: a setting to fix) */
struct config;
struct mailauth_psl;
struct mailauth_psl *cli_psl_load(const struct config *config);

/* cli_dns_create - a resolver on BASE with petrel.conf's [dns] (resolver,
 * special_zones, timeout); NULL after printing why */
struct event_base;
struct dns_resolver;
struct dns_resolver *cli_dns_create(struct event_base *base, const struct config *config);

/* A message verifier for cli_verify_message, its object passed as VERIFY:
 * dkim verify's and arc verify's (mailauth.h's functions of the same names) */
struct dkim_key_lookup;
struct cli_verifier {
	int (*usage)(void);                       /* prints it; returns 2 */
	void *(*create)(const struct config *config);
	void (*feed)(void *verify, const void *data, size_t len);
	bool (*headers_done)(const void *verify);
	struct dkim_key_lookup *(*lookup_keys)(void *verify, struct dns_resolver *resolver,
					       void (*cb)(void *ctx), void *ctx);
	void (*finish)(void *verify);
	int (*print)(void *verify, const struct config *config, bool json); /* exit status */
	void (*free)(void *verify);
};
/* cli_verify_message - `petrel dkim|arc verify [FILE] [--json] [-c FILE]`
 * (ARGV[2] on): the message of FILE or stdin verified by OPS, with its
 * keys looked up through [dns]; OPS->print's status, 1 when the file
 * cannot be read, 2 on a usage, configuration or resolver error */
int cli_verify_message(int argc, char **argv, const struct cli_verifier *ops);

/* cli_control_request - send REQUEST (one line, without its LF) to the
 * server on DATA_DIR's control socket (queue/control.h) and print the
 * answer: data lines and an ok text to stdout, the rest to stderr (a
 * "notfound" as NOTFOUND_TEXT when not NULL); the exit status: 0 ok, 1 not
 * found, failed, or no server */
int cli_control_request(const char *data_dir, const char *request, const char *notfound_text);
/* cli_control_exchange - send REQUEST and append the whole answer to REPLY
 * (NUL-terminated past its length once not empty); 0, or 1 after printing
 * why there is none (no server, permission, timeout) */
struct buf;
int cli_control_exchange(const char *data_dir, const char *request, struct buf *reply);
/* cli_control_answer - print an answer as cli_control_request does; its
 * exit status */
int cli_control_answer(const char *reply, const char *notfound_text);

#endif
