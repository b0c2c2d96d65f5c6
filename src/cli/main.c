/* cli/main - the petrel command: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd-admin.h"

static void usage(FILE *out);

static void usage(FILE *out)
{
	fputs("usage: petrel COMMAND [OPTIONS]\n"
	      "\n"
	      "commands:\n"
	      "  serve [-c FILE]                  run the mail server in the foreground\n"
	      "  queue list [-c FILE] [--json]    list the messages in the queue, as it reads\n"
	      "      them; filters: --limit N, --state new|deferred|held|corrupt,\n"
	      "      --older-than DURATION (30m, 2h, 3d), --sender ADDR, --domain DOMAIN\n"
	      "  queue show ID [-c FILE] [--json] show one message's envelope and headers\n"
	      "  queue stats [-c FILE] [--json]   the running queue's counters\n"
	      "  queue flush [ID]                 retry now (every message without ID)\n"
	      "  queue hold|release|delete|bounce ID  (the running server does these)\n"
	      "  keys list                        the DKIM keys of DATA_DIR/dkim/ and the DNS\n"
	      "      records to publish (the running server's keys process)\n"
	      "  keys test ID                     sign and verify a random digest with key ID\n"
	      "  keys sign ID SHA256-HEX          print key ID's signature of a digest, base64\n"
	      "  spf check IP SENDER [--helo NAME] [--json]  the SPF check (RFC 7208) of\n"
	      "      a client at IP sending as SENDER (\"\" checks HELO NAME), with [dns]\n"
	      "  dkim verify [FILE] [--json]      verify a message's DKIM signatures (stdin\n"
	      "      without FILE); 0 if one passes\n"
	      "  dkim keygen DOMAIN [--selector S] [--algorithm rsa-2048|rsa-3072|rsa-4096|\n"
	      "      ed25519]  a signing key for DOMAIN's mail in DATA_DIR/dkim/, and the\n"
	      "      TXT record to publish; a running server signs with it at once\n"
	      "  dkim list                        the signing keys: DOMAIN SELECTOR\n"
	      "      ALGORITHM BITS RECORD\n"
	      "  dkim remove DOMAIN [--selector S]  remove the domain's key(s)\n"
	      "  arc verify [FILE] [--json]       validate a message's ARC chain (RFC 8617;\n"
	      "      stdin without FILE); 0 if it passes\n"
	      "  dmarc check FROM-DOMAIN [--spf RESULT --spf-domain D] [--dkim RESULT\n"
	      "      --dkim-domain D ...] [--json]  the DMARC record of a From domain (RFC\n"
	      "      7489), alignment, result, policy and disposition, with [dns]\n"
	      "  dmarc report [--date YYYY-MM-DD] [--domain D] [--xml|--json] [--send]\n"
	      "      the DMARC aggregate reports of a day (default yesterday); --send\n"
	      "      has the running server mail them (RFC 7489 7.2)\n"
	      "  check-domain DOMAIN [--selector S ...] [--json]  the MX, SPF, DKIM, DMARC,\n"
	      "      MTA-STS and TLS-RPT records of DOMAIN: what is wrong, what to publish;\n"
	      "      0 if all is well\n"
	      "  sendmail [-t] [-i] [-f ADDR] [-F NAME] [ADDR...]  submit stdin (also\n"
	      "      as /usr/sbin/sendmail; sysexits.h exit codes)\n"
	      "  domain add|remove DOMAIN         the domains Petrel receives mail for\n"
	      "  domain list [--json]\n"
	      "  account add USER [--password-stdin|--password-hash HASH] [--plan NAME]\n"
	      "      [--daily-limit N] [--per-minute N] [--sandbox] [--any-from]\n"
	      "  account set USER [--plan NAME] [--daily-limit N|plan] [--per-minute N|plan]\n"
	      "      [--sandbox|--no-sandbox] [--any-from|--no-any-from]\n"
	      "  account passwd USER [--password-stdin|--password-hash HASH]\n"
	      "  account show USER [--json] | list [--json]\n"
	      "  account disable|enable|remove USER\n"
	      "  sender allow|deny|remove ACCOUNT ADDRESS|@DOMAIN\n"
	      "  sender list ACCOUNT [--json]     the MAIL FROM addresses an account may use\n"
	      "  plan set NAME [--daily-limit N] [--per-minute N]\n"
	      "  plan list [--json]               sending limits (free: 100 a day)\n"
	      "  alias add ADDRESS TARGET...      local addresses delivering elsewhere\n"
	      "  alias remove ADDRESS [TARGET] | alias list [--json]\n"
	      "  apikey add ACCOUNT [--scope S]... [--name N]   an API key, shown once\n"
	      "  apikey list ACCOUNT [--json] | apikey del ID\n"
	      "  suppression list ACCOUNT [--type LIST] [--json]   addresses not sent to\n"
	      "  suppression add ACCOUNT EMAIL [--type LIST] [--reason TEXT]\n"
	      "  suppression del ACCOUNT EMAIL|--all [--type LIST]  (LIST: bounces, blocks,\n"
	      "      unsubscribes, spam_reports; default bounces)\n"
	      "  events [--account A] [--since T] [--follow] [--json] [--limit N]\n"
	      "  nodes [--json]                   the servers sharing this store: live, stale\n"
	      "      or stopped, and how long ago each reported\n"
	      "  nodes forget NAME                remove a node that is gone (frees its number)\n"
	      "  migrate                          apply the store's schema migrations ([store];\n"
	      "      petrel serve applies them at start too) and print its version\n"
	      "  store copy --from sqlite:DATA_DIR [--to postgresql://...]  copy a node's\n"
	      "      store (not its counters or passwords) into an empty PostgreSQL database\n"
	      "      (without --to: FILE's [store] url)\n"
	      "  version                          print the version\n"
	      "  help                             print this help\n"
	      "\n"
	      "Every command takes -c FILE; FILE defaults to " CLI_DEFAULT_CONFIG ".\n"
	      "Exit status: 0 done, 1 not found or failed, 2 usage error.\n", out);
}

int main(int argc, char **argv)
{
	/* Installed as /usr/sbin/sendmail (a symbolic link): be sendmail. */
	const char *base = argv[0] ? strrchr(argv[0], '/') : NULL;
	base = base ? base + 1 : argv[0];
	if (base && strcmp(base, "sendmail") == 0)
		return cmd_sendmail(argc, argv);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "queue") == 0)
		return cmd_queue(argc - 1, argv + 1);
	if (strcmp(cmd, "sendmail") == 0)
		return cmd_sendmail(argc - 1, argv + 1);
	if (strcmp(cmd, "keys") == 0)
		return cmd_keys(argc - 1, argv + 1);
	if (strcmp(cmd, "spf") == 0)
		return cmd_spf(argc - 1, argv + 1);
	if (strcmp(cmd, "dkim") == 0)
		return cmd_dkim(argc - 1, argv + 1);
	if (strcmp(cmd, "dmarc") == 0)
		return cmd_dmarc(argc - 1, argv + 1);
	if (strcmp(cmd, "arc") == 0)
		return cmd_arc(argc - 1, argv + 1);
	if (strcmp(cmd, "check-domain") == 0)
		return cmd_check_domain(argc - 1, argv + 1);
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} admin[] = {
		{ "domain", cmd_domain }, { "account", cmd_account }, { "sender", cmd_sender },
		{ "plan", cmd_plan }, { "alias", cmd_alias }, { "apikey", cmd_apikey },
		{ "events", cmd_events },
		{ "migrate", cmd_migrate }, { "store", cmd_store }, { "nodes", cmd_nodes },
		{ "suppression", cmd_suppression },
	};
	for (size_t i = 0; i < sizeof(admin) / sizeof(admin[0]); i++)
		if (strcmp(cmd, admin[i].name) == 0)
			return admin[i].run(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("petrel %s\n", PETREL_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "petrel: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
