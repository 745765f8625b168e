/* Whole positional reads and writes (see fileio.h). A write that returns 0 for a non-empty
 * buffer would otherwise loop forever; it is reported as -EIO. */
#include "fileio.h"

#include <errno.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

int fileio_pwrite2_all(int fd, const void *a, size_t an, const void *b, size_t bn, uint64_t off)
{
    const char *pa = a, *pb = b;
    while (an + bn > 0) {
        struct iovec v[2] = {{(void *)(uintptr_t)pa, an}, {(void *)(uintptr_t)pb, bn}};
        ssize_t w = pwritev(fd, an ? v : v + 1, an ? 2 : 1, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        size_t k = (size_t)w, ka = k < an ? k : an;
        if (ka) { /* never step a null pointer, even by 0 */
            pa += ka;
            an -= ka;
        }
        if (k > ka) {
            pb += k - ka;
            bn -= k - ka;
        }
        off += (uint64_t)w;
    }
    return 0;
}

int fileio_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    return fileio_pwrite2_all(fd, NULL, 0, p, n, off);
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
