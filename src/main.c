/* fileserver's entry point: command line, signals, and the node's life cycle. SIGTERM and
 * SIGINT stop accepting connections and let requests in flight finish before exiting 0. */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "build_info.h"
#include "cfg.h"
#include "log.h"
#include "meta.h"
#include "server.h"

#define DRAIN_MS 30000

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fileserver [options]\n"
            "  --root DIR        data root (conf/, files/, data/, log/); default: env\n"
            "                    FILESERVER_ROOT or GO_FASTDFS_DIR, else the current directory\n"
            "  --config FILE     configuration file (default ROOT/conf/cfg.json; generated\n"
            "                    on first start)\n"
            "  --check-config    validate the configuration and exit (0 valid, 2 invalid)\n"
            "  --rebuild-meta    rebuild the metadata index from ROOT/files and exit\n"
            "  --restore-meta F  read a backup (data/backup/<day>.jsonl) into the index, exit\n"
            "  --config-keys     print every cfg.json key with its default and meaning\n"
            "  --version         print the version and exit\n"
            "  --help            this text\n"
            "Every cfg.json key can be set with FILESERVER_<KEY>, e.g. FILESERVER_ADDR=:9000.\n");
}

/* glibc raises its mmap threshold to the largest block freed so far, so after one big
 * buffer (a 4 MiB hash ring, a 1 MiB small upload) every later one comes from an arena and
 * stays resident; and it gives each of our ~40 threads an arena of its own. A fixed
 * threshold and a few arenas keep the resident set close to what is in use. */
static void tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_ARENA_MAX, 4);
}

int main(int argc, char **argv)
{
    tune_malloc();
    enum { OPT_ROOT = 1, OPT_CONFIG, OPT_CHECK, OPT_REBUILD, OPT_VERSION, OPT_HELP, OPT_KEYS,
           OPT_RESTORE };
    static const struct option opts[] = {
        {"root", required_argument, NULL, OPT_ROOT},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"rebuild-meta", no_argument, NULL, OPT_REBUILD},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, OPT_HELP},
        {"config-keys", no_argument, NULL, OPT_KEYS},
        {"restore-meta", required_argument, NULL, OPT_RESTORE},
        {NULL, 0, NULL, 0},
    };
    const char *root = getenv("FILESERVER_ROOT");
    if (!root || !*root)
        root = getenv("GO_FASTDFS_DIR");
    const char *config = NULL;
    int check = 0, rebuild = 0, c;
    const char *restore = NULL;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ROOT: root = optarg; break;
        case OPT_CONFIG: config = optarg; break;
        case OPT_CHECK: check = 1; break;
        case OPT_REBUILD: rebuild = 1; break;
        case OPT_VERSION: printf("fileserver %s\n", FS_VERSION); return 0;
        case OPT_HELP: usage(stdout); return 0;
        case OPT_KEYS: cfg_print_keys(stdout); return 0;
        case OPT_RESTORE: restore = optarg; break;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc && strcmp(argv[optind], "server") != 0) {
        /* "fileserver server" is how go-fastdfs is started; accept it, refuse the rest */
        fprintf(stderr, "fileserver: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    if (check) {
        struct cfg cfg;
        char err[4096] = "", path[1200];
        memset(&cfg, 0, sizeof cfg);
        if (!config)
            snprintf(path, sizeof path, "%s/conf/cfg.json", root && *root ? root : ".");
        if (access(config ? config : path, F_OK) != 0) {
            /* checking must not create the file a first start would generate */
            fprintf(stderr, "fileserver: %s does not exist\n", config ? config : path);
            return 2;
        }
        int rc = cfg_load(&cfg, config ? config : path, err, sizeof err);
        cfg_fini(&cfg);
        if (rc) {
            fprintf(stderr, "fileserver: invalid configuration:\n%s\n", err);
            return 2;
        }
        printf("configuration ok\n");
        return 0;
    }

    if (rebuild || restore)
        meta_map_tables(); /* a batch: its speed matters, not its resident memory */
    struct server *srv = calloc(1, sizeof *srv);
    char err[4096] = "";
    if (!srv)
        return 1;
    if (server_init(srv, root, config, err, sizeof err) < 0) {
        fprintf(stderr, "fileserver: %s\n", err);
        server_fini(srv);
        free(srv);
        return 2;
    }
    if (rebuild || restore) {
        long long n = restore ? server_restore_meta(srv, restore) : server_rebuild_meta(srv);
        server_fini(srv);
        free(srv);
        if (n < 0)
            return 1;
        printf("%s %lld records\n", restore ? "restored" : "rebuilt", n);
        return 0;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (server_start(srv) < 0) {
        server_fini(srv);
        free(srv);
        return 1;
    }
    struct timespec tick = {0, 50 * 1000 * 1000};
    while (!stop_flag)
        nanosleep(&tick, NULL);
    log_info("main", "stopping: draining requests in flight");
    server_stop(srv, DRAIN_MS);
    server_fini(srv);
    free(srv);
    log_info("main", "stopped");
    return 0;
}
