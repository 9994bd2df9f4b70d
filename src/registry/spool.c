/* spool.c - checkpoints the cluster could not take, kept on local disk until
 * it can (see registry.h).
 *
 * One file per checkpoint, named by its uuid, written to a temporary name,
 * fsync'd, renamed and the directory fsync'd: after a crash a file is either
 * absent or whole. A replay inserts each file's row (an upsert by id, so a
 * replay that is interrupted and run again writes the same rows) and
 * deletes the file only once the insert succeeded. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cassnn/registry.h"
#include "cassnn/schema.h"

static const char spool_magic[8] = {'C', 'S', 'N', 'S', 'P', 'L', '0', '1'};

/* The fixed part of a file, written field by field in host order (the spool
 * never leaves the machine that wrote it). */
typedef struct spool_header {
    char magic[8];
    int32_t table, epoch;
    int64_t upload_ms;
    char batch_percent[16];
    float loss, accuracy;
    uint64_t network_len, optimizer_len;
} spool_header;

/* mkdir -p for the spool's path (0700: checkpoints are the user's). */
static int make_dirs(char *path, cassnn_err *err) {
    for (char *p = path + 1;; p++) {
        const char c = *p;
        if (c != '/' && c) continue;
        *p = '\0';
        const int rc = mkdir(path, 0700);
        const int e = errno;
        *p = c;
        if (rc && e != EEXIST) return cassnn_err_set(err, "spool directory %s: %s", path, strerror(e));
        if (!c) return 0;
    }
}

int registry_spool_dir(const char *keyspace, char *out, size_t cap, cassnn_err *err) {
    if (!registry_valid_name(keyspace))
        return cassnn_err_set(err, "spool: '%s' is not a keyspace name", keyspace);
    const char *root = getenv("CASSNN_SPOOL"), *home = getenv("HOME");
    int n;
    if (root && *root) n = snprintf(out, cap, "%s/%s", root, keyspace);
    else if (home && *home) n = snprintf(out, cap, "%s/.cassnn/spool/%s", home, keyspace);
    else return cassnn_err_set(err, "spool: neither CASSNN_SPOOL nor HOME is set");
    if (n < 0 || (size_t)n >= cap) return cassnn_err_set(err, "spool: directory name too long");
    return 0;
}

static int write_all(int fd, const void *p, size_t n) {
    for (const char *c = p; n;) {
        const ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsync_dir(const char *dir) {
    const int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    const int rc = fsync(fd);
    close(fd);
    return rc;
}

int registry_spool_put(const char *keyspace, const registry_model *m, char *path, size_t cap,
                       cassnn_err *err) {
    char dir[4096], tmp[4200], id[37];
    if (registry_spool_dir(keyspace, dir, sizeof dir, err) || make_dirs(dir, err)) return -1;
    registry_uuid_format(m->id, id);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, id);
    snprintf(path, cap, "%s/%s.checkpoint", dir, id);
    spool_header h = {.table = m->table, .epoch = m->epoch, .upload_ms = m->upload_ms,
                      .loss = m->loss, .accuracy = m->accuracy,
                      .network_len = m->network_len, .optimizer_len = m->optimizer_len};
    memcpy(h.magic, spool_magic, sizeof h.magic);
    memcpy(h.batch_percent, m->batch_percent, sizeof h.batch_percent);
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return cassnn_err_set(err, "spool: %s: %s", tmp, strerror(errno));
    int rc = write_all(fd, &h, sizeof h) || write_all(fd, m->network, m->network_len) ||
             write_all(fd, m->optimizer, m->optimizer_len) || fsync(fd);
    const int e = errno;
    if (close(fd)) rc = -1;
    if (rc == 0 && rename(tmp, path) == 0 && fsync_dir(dir) == 0) return 0;
    unlink(tmp);
    return cassnn_err_set(err, "spool: writing %s: %s", path, strerror(rc ? e : errno));
}

/* Reads one spooled checkpoint; its id is the file's name. */
static int read_spooled(const char *path, const char *name, registry_model *m, cassnn_err *err) {
    memset(m, 0, sizeof *m);
    char id[37];
    snprintf(id, sizeof id, "%.36s", name);
    if (registry_uuid_parse(id, m->id, err)) return cassnn_err_wrap(err, "spool file %s", path);
    FILE *f = fopen(path, "rb");
    if (!f) return cassnn_err_set(err, "spool file %s: %s", path, strerror(errno));
    spool_header h;
    int rc = fread(&h, sizeof h, 1, f) == 1 && !memcmp(h.magic, spool_magic, sizeof h.magic) &&
                     (h.table == REGISTRY_TRAIN || h.table == REGISTRY_TEST) &&
                     h.network_len < ((uint64_t)1 << 36) && h.optimizer_len < ((uint64_t)1 << 36)
                 ? 0 : -1;
    if (rc == 0) {
        m->table = (registry_table)h.table;
        m->epoch = h.epoch;
        m->upload_ms = h.upload_ms;
        memcpy(m->batch_percent, h.batch_percent, sizeof m->batch_percent);
        m->batch_percent[sizeof m->batch_percent - 1] = '\0';
        m->loss = h.loss;
        m->accuracy = h.accuracy;
        m->network_len = h.network_len;
        m->optimizer_len = h.optimizer_len;
        m->network = malloc(h.network_len ? h.network_len : 1);
        m->optimizer = malloc(h.optimizer_len ? h.optimizer_len : 1);
        rc = m->network && m->optimizer &&
             fread(m->network, 1, h.network_len, f) == h.network_len &&
             fread(m->optimizer, 1, h.optimizer_len, f) == h.optimizer_len && fgetc(f) == EOF
                 ? 0 : -1;
    }
    fclose(f);
    if (rc) {
        registry_model_free(m);
        return cassnn_err_set(err, "spool file %s is not a whole cassnn checkpoint (left in "
                                   "place)", path);
    }
    return 0;
}

/* A spooled checkpoint's file name: "<uuid>.checkpoint". */
static int is_spooled(const char *name) {
    const size_t n = strlen(name);
    return n == 36 + strlen(".checkpoint") && !strcmp(name + 36, ".checkpoint");
}

/* Inserts the file's row and deletes the file: 0, or -1 (file kept). */
static int replay_one(cql_session *s, const char *keyspace, const char *dir, const char *name,
                      cassnn_err *err) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    registry_model m;
    if (read_spooled(path, name, &m, err)) return -1;
    int rc = registry_insert(s, keyspace, &m, err);
    registry_model_free(&m);
    if (rc == 0 && unlink(path))
        rc = cassnn_err_set(err, "spool: written, but cannot delete %s: %s", path, strerror(errno));
    return rc;
}

int registry_spool_replay(cql_session *s, const char *keyspace, registry_spool_report *rep,
                          cassnn_err *err) {
    memset(rep, 0, sizeof *rep);
    if (registry_spool_dir(keyspace, rep->dir, sizeof rep->dir, err)) return -1;
    DIR *d = opendir(rep->dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return cassnn_err_set(err, "spool directory %s: %s", rep->dir, strerror(errno));
    }
    const struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_spooled(e->d_name)) continue;
        rep->found++;
        cassnn_err one = {0};
        if (replay_one(s, keyspace, rep->dir, e->d_name, &one) == 0) rep->written++;
        else if (rep->found - rep->written == 1)
            snprintf(rep->first_error, sizeof rep->first_error, "%s", one.msg);
    }
    closedir(d);
    if (rep->written == rep->found) return 0;
    return cassnn_err_set(err, "%ld of %ld spooled checkpoints in %s could not be written: %s",
                          rep->found - rep->written, rep->found, rep->dir, rep->first_error);
}
