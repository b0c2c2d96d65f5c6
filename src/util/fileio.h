/* util/fileio - small blocking file helpers (call them from workers only). */
#ifndef PETREL_UTIL_FILEIO_H
#define PETREL_UTIL_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* fd_write_all - write all LEN bytes, retrying short writes and EINTR;
 * 0, or -1 with errno set */
int fd_write_all(int fd, const void *data, size_t len);

/* fd_pread_full - LEN bytes of FD at OFFSET into BUF, retrying short reads
 * and EINTR: fewer only at the end of the file; the count, or -1 with errno
 * set */
ssize_t fd_pread_full(int fd, void *buf, size_t len, off_t offset);

/* path_fsync - open PATH (a file or a folder) and fsync it; 0, or -1 with
 * errno set */
int path_fsync(const char *path);

#endif
