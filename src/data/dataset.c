/* dataset.c - locating, downloading and checksumming the official
 * MNIST/Fashion-MNIST files. */
#include "cassnn/dataset.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/curl_global.h"

static const char *const file_names[DATA_FILES] = {
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
};

/* The published MD5 of each file (as torchvision and the Fashion-MNIST
 * repository list them), in file_names order. */
static const char *const mnist_md5[DATA_FILES] = {
    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "d53e105ee54ea40749a09fcbcd1e9432",
    "9fb629c4189551a2d022fa330f9573f3",
    "ec29112dd5afa0611ce80d1b7f02629c",
};
static const char *const fashion_md5[DATA_FILES] = {
    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "25c81989df183df01b3e8a0aad5dffbe",
    "bef4ecab320f06d8554ea6380940ec79",
    "bb300cfdad3c16e7a12a480ee83cd310",
};

static const data_dataset datasets[] = {
    {"mnist", "mnist_digits",
     {"https://ossci-datasets.s3.amazonaws.com/mnist/",
      "https://storage.googleapis.com/cvdf-datasets/mnist/"}},
    {"fashion", "mnist_fashion", {"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"}},
};

const data_dataset *data_dataset_named(const char *name) {
    for (size_t i = 0; i < sizeof datasets / sizeof datasets[0]; i++)
        if (!strcmp(name, datasets[i].name)) return &datasets[i];
    return NULL;
}

int data_file_md5(const char *path, char hex[33], cassnn_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return cassnn_err_set(err, "%s: cannot open: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1
                 ? 0
                 : cassnn_err_set(err, "%s: cannot start MD5 (OpenSSL)", path);
    unsigned char buf[1 << 16];
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, f)) > 0)
        if (EVP_DigestUpdate(ctx, buf, n) != 1) rc = cassnn_err_set(err, "%s: MD5 failed", path);
    if (rc == 0 && ferror(f)) rc = cassnn_err_set(err, "%s: read error", path);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (rc == 0 && EVP_DigestFinal_ex(ctx, digest, &len) != 1)
        rc = cassnn_err_set(err, "%s: MD5 failed", path);
    for (unsigned i = 0; rc == 0 && i < len && i < 16; i++) sprintf(hex + 2 * i, "%02x", digest[i]);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return rc;
}

/* root/name/file into path; the root defaults as data_dataset_locate says. */
static int file_path(char *path, size_t cap, const char *root, const data_dataset *ds, int i,
                     cassnn_err *err) {
    int n = snprintf(path, cap, "%s/%s/%s", root, ds->name, file_names[i]);
    if (n < 0 || (size_t)n >= cap) return cassnn_err_set(err, "data folder path too long: %s", root);
    return 0;
}

static const char *default_root(const char *root) {
    if (!root) root = getenv("CASSNN_DATA");
    return root && *root ? root : "./data";
}

static int check_md5(const data_dataset *ds, int i, const char *path, cassnn_err *err) {
    const char *const *md5 = !strcmp(ds->name, "fashion") ? fashion_md5 : mnist_md5;
    char found[33];
    if (data_file_md5(path, found, err)) return -1;
    if (strcmp(found, md5[i]))
        return cassnn_err_set(err, "%s: MD5 is %s, the published file's is %s: the file is "
                                   "damaged, partial or not the official one; refusing it",
                              path, found, md5[i]);
    return 0;
}

int data_dataset_locate(const data_dataset *ds, const char *root, data_dataset_paths *out,
                        cassnn_err *err) {
    root = default_root(root);
    for (int i = 0; i < DATA_FILES; i++) {
        char *path = out->path[i];
        if (file_path(path, sizeof out->path[i], root, ds, i, err)) return -1;
        if (access(path, F_OK) != 0)
            return cassnn_err_set(err, "%s dataset: %s is missing; download it from %s%s into "
                                       "%s/%s/ (or set CASSNN_DATA)",
                                  ds->name, path, ds->mirrors[0], file_names[i], root, ds->name);
        if (check_md5(ds, i, path, err)) return -1;
    }
    return 0;
}

/* Writes url's body to path (created or truncated). Any failure, an HTTP
 * status >= 400 included, is an error naming the URL and curl's reason. */
static int download(const char *url, const char *path, cassnn_err *err) {
    if (cassnn_curl_global(err)) return -1;
    FILE *f = fopen(path, "wb");
    if (!f) return cassnn_err_set(err, "%s: cannot create: %s", path, strerror(errno));
    CURL *curl = curl_easy_init();
    if (!curl) {
        fclose(f);
        return cassnn_err_set(err, "%s: cannot start libcurl", url);
    }
    char reason[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, f); /* the default callback fwrite()s there */
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, reason);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
    /* A stalled transfer (under 1 kB/s for 60 s) fails instead of hanging. */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    int closed = fclose(f);
    if (rc != CURLE_OK)
        return cassnn_err_set(err, "%s: download failed: %s", url,
                              reason[0] ? reason : curl_easy_strerror(rc));
    if (closed) return cassnn_err_set(err, "%s: write error: %s", path, strerror(errno));
    return 0;
}

/* mkdir -p for the one or two levels root/name needs. */
static int make_dirs(const char *dir, cassnn_err *err) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST)
            return cassnn_err_set(err, "%s: cannot create folder: %s", buf, strerror(errno));
        if (!c) return 0;
        *p = c;
    }
}

/* Downloads file i from each mirror in turn until one gives the published
 * bytes, into path: the transfer lands in path.part, which becomes path only
 * once its MD5 is right, so path never holds a partial or wrong file. */
static int fetch_file(const data_dataset *ds, int i, const char *const *mirrors, int n_mirrors,
                      const char *path, data_fetch_note note, void *user, cassnn_err *err) {
    char part[1100], url[1024];
    snprintf(part, sizeof part, "%s.part", path);
    for (int m = 0; m < n_mirrors; m++) {
        size_t len = strlen(mirrors[m]);
        snprintf(url, sizeof url, "%s%s%s", mirrors[m],
                 len && mirrors[m][len - 1] == '/' ? "" : "/", file_names[i]);
        if (note) note(user, url, path);
        int rc = download(url, part, err);
        if (rc == 0) rc = check_md5(ds, i, part, err);
        if (rc == 0 && rename(part, path))
            rc = cassnn_err_set(err, "%s: cannot rename to %s: %s", part, path, strerror(errno));
        if (rc == 0) return 0;
        unlink(part);
        if (m + 1 < n_mirrors && note) note(user, err->msg, NULL);
    }
    return -1;
}

int data_dataset_fetch(const data_dataset *ds, const char *root, const char *mirror,
                       data_fetch_note note, void *user, data_dataset_paths *out,
                       cassnn_err *err) {
    root = default_root(root);
    const char *const *mirrors = mirror ? &mirror : ds->mirrors;
    int n_mirrors = mirror ? 1 : 0;
    while (!mirror && n_mirrors < DATA_MIRRORS && mirrors[n_mirrors]) n_mirrors++;
    for (int i = 0; i < DATA_FILES; i++) {
        char *path = out->path[i];
        if (file_path(path, sizeof out->path[i], root, ds, i, err)) return -1;
        if (access(path, F_OK) == 0) continue;
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", root, ds->name);
        if (make_dirs(dir, err) ||
            fetch_file(ds, i, mirrors, n_mirrors, path, note, user, err))
            return -1;
    }
    return data_dataset_locate(ds, root, out, err);
}
