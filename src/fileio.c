/* Whole positional reads and writes (see fileio.h). A write that returns 0 for a non-empty
 * buffer would otherwise loop forever; it is reported as -EIO. */
#include "fileio.h"

#include <errno.h>
#include <unistd.h>

int fileio_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = pwrite(fd, c, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        c += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

int fileio_pread_all(int fd, void *p, size_t n, uint64_t off)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = pread(fd, c, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -ENODATA; /* short: past the end */
        c += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}
