/* util/fileio - small blocking file helpers (call them from workers only). */
#ifndef PETREL_UTIL_FILEIO_H
#define PETREL_UTIL_FILEIO_H

#include <stddef.h>

/* fd_write_all - write all LEN bytes, retrying short writes and EINTR;
 * 0, or -1 with errno set */
int fd_write_all(int fd, const void *data, size_t len);

/* path_fsync - open PATH (a file or a folder) and fsync it; 0, or -1 with
 * errno set */
int path_fsync(const char *path);

#endif
