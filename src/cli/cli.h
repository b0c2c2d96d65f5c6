/* cli - the petrel command's subcommands.  Each returns the process exit
 * status: 0 success, 1 failure at run time, 2 usage or configuration error. */
#ifndef PETREL_CLI_H
#define PETREL_CLI_H

#define CLI_DEFAULT_CONFIG "/etc/petrel/petrel.conf"

int cmd_serve(int argc, char **argv);
int cmd_queue(int argc, char **argv);
/* cmd_sendmail - exits with sysexits.h codes, not 0/1/2 (see cmd-sendmail.c) */
int cmd_sendmail(int argc, char **argv);

#endif
