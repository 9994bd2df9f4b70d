/* dataset.c - locating and checksumming the official MNIST/Fashion-MNIST files. */
#include "cassnn/dataset.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    {"mnist", "mnist_digits", "https://ossci-datasets.s3.amazonaws.com/mnist/"},
    {"fashion", "mnist_fashion", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"},
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

int data_dataset_locate(const data_dataset *ds, const char *root, data_dataset_paths *out,
                        cassnn_err *err) {
    if (!root) root = getenv("CASSNN_DATA");
    if (!root || !*root) root = "./data";
    const char *const *md5 = !strcmp(ds->name, "fashion") ? fashion_md5 : mnist_md5;
    for (int i = 0; i < DATA_FILES; i++) {
        char *path = out->path[i];
        int n = snprintf(path, sizeof out->path[i], "%s/%s/%s", root, ds->name, file_names[i]);
        if (n < 0 || (size_t)n >= sizeof out->path[i])
            return cassnn_err_set(err, "data folder path too long: %s", root);
        if (access(path, F_OK) != 0)
            return cassnn_err_set(err, "%s dataset: %s is missing; download it from %s%s into "
                                       "%s/%s/ (or set CASSNN_DATA)",
                                  ds->name, path, ds->mirror, file_names[i], root, ds->name);
        char found[33];
        if (data_file_md5(path, found, err)) return -1;
        if (strcmp(found, md5[i]))
            return cassnn_err_set(err, "%s: MD5 is %s, the published file's is %s: the file is "
                                       "damaged, partial or not the official one; refusing it",
                                  path, found, md5[i]);
    }
    return 0;
}
