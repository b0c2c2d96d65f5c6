/* keysd - the keys process: the only one that holds DKIM private keys
 * (DATA_DIR/dkim/ID.pem); signs the digests the network process sends
 * (IPC_KEYS_SIGN) and lists the public halves (IPC_KEYS_LIST). */
#ifndef PETREL_KEYSD_H
#define PETREL_KEYSD_H

struct config;

/* keysd_main - run until FD reaches EOF or SIGTERM; the exit status */
int keysd_main(const struct config *config, int fd);

#endif
