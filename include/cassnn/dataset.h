/* dataset.h - the published MNIST and Fashion-MNIST IDX files on local disk.
 *
 * `--dataset mnist|fashion` means the four official .gz files in
 * <root>/<name>/, where root is $CASSNN_DATA, or ./data when that is unset.
 * Each file must have its published MD5, so a damaged, partial or different
 * file is refused before anything reads it.
 *
 * data_dataset_fetch first downloads the missing ones (libcurl) from the
 * public mirrors torchvision uses, or from a mirror the user names (any URL
 * libcurl takes: https://, http://, file://).
 *
 * Threads: locating is reentrant; two fetches into the same folder at once
 * would race on its files (libcurl's global init is done once, safely).
 */
#ifndef CASSNN_DATASET_H
#define CASSNN_DATASET_H

#include "cassnn/error.h"

#define DATA_MIRRORS 2

typedef struct data_dataset {
    const char *name;     /* "mnist" or "fashion": also the folder name */
    const char *keyspace; /* default keyspace: mnist_digits or mnist_fashion */
    const char *mirrors[DATA_MIRRORS]; /* base URLs of the four files, in the order
                                          tried; unused slots NULL */
} data_dataset;

/* Index of each file in data_dataset_paths.path and in the checksum table. */
enum { DATA_TRAIN_IMAGES, DATA_TRAIN_LABELS, DATA_TEST_IMAGES, DATA_TEST_LABELS, DATA_FILES };

typedef struct data_dataset_paths {
    char path[DATA_FILES][1024];
} data_dataset_paths;

/* The dataset called name ("mnist" or "fashion"), or NULL. */
const data_dataset *data_dataset_named(const char *name);

/* Finds the four files of ds under root (NULL: $CASSNN_DATA, else ./data) and
 * checks each one's MD5. Errors name the file: missing (with its download
 * URL), unreadable, or wrong checksum (expected and found). */
int data_dataset_locate(const data_dataset *ds, const char *root, data_dataset_paths *out,
                        cassnn_err *err);

/* Told before each download (url, path) and after a mirror failed when
 * another will be tried (reason, NULL). */
typedef void (*data_fetch_note)(void *user, const char *text, const char *path);

/* data_dataset_locate after downloading each missing file from mirror (a base
 * URL; NULL: ds's mirrors in turn) into root/name/ (folders created). A
 * download goes to FILE.part, which is renamed to FILE only when its MD5 is
 * the published one; a failed, wrong or partial download is removed and is an
 * error naming the URL (and both checksums). Files already there are not
 * fetched again, only checked. note may be NULL. */
int data_dataset_fetch(const data_dataset *ds, const char *root, const char *mirror,
                       data_fetch_note note, void *user, data_dataset_paths *out,
                       cassnn_err *err);

/* The MD5 of a file as 32 lower-case hex digits. */
int data_file_md5(const char *path, char hex[33], cassnn_err *err);

#endif
