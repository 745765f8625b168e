/* A libFuzzer-compatible driver for compilers without libFuzzer: feeds every regular file
 * of each directory argument (sorted, not recursive, at most 1 MiB read of each) to
 * LLVMFuzzerTestOneInput, so CTest replays the committed corpora on every build. A file
 * argument is fed as well, which helps when reproducing one crasher. */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xalloc.h"

#define REPLAY_FILE_MAX (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads at most REPLAY_FILE_MAX bytes of path into an exactly sized buffer, so that the
 * sanitizers catch a read past the input as libFuzzer would. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = xmalloc(REPLAY_FILE_MAX);
    size_t n = fread(buf, 1, REPLAY_FILE_MAX, f);
    int err = ferror(f);
    int more = !err && fgetc(f) != EOF;
    fclose(f);
    if (err) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    if (more)
        fprintf(stderr, "replay: %s: only the first %d bytes are used\n", path, REPLAY_FILE_MAX);
    uint8_t *exact = xmalloc(n);
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replays every regular file in dir. Returns how many, or -1 (unreadable or empty). */
static long replay_dir(const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    long done = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char *path = xasprintf("%s/%s", dir, names[i]->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(path) == 0)
                done++;
            else
                failed = 1;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    if (failed)
        return -1;
    if (done == 0) {
        fprintf(stderr, "replay: %s: no inputs\n", dir);
        return -1;
    }
    return done;
}

int main(int argc, char **argv)
{
    long total = 0;
    int rc = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            rc = 1;
        } else if (S_ISDIR(st.st_mode)) {
            long n = replay_dir(argv[i]);
            if (n < 0)
                rc = 1;
            else
                total += n;
        } else if (replay_file(argv[i]) == 0) {
            total++;
        } else {
            rc = 1;
        }
    }
    printf("replayed %ld inputs\n", total);
    return rc;
}
