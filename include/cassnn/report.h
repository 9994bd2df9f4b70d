/* report.h - a training report as one self-contained HTML file: every chart
 * is inline SVG drawn here, every image an inline PNG, nothing fetched.
 *
 * From a keyspace's registry rows: the training loss against examples seen
 * with the test losses as points (the PyTorch MNIST example's plot), test
 * accuracy per epoch, and the checkpoint table - each number as the row has
 * it. From the chosen model (default: best by accuracy) run over the test
 * table: its confusion matrix, accuracy per class and the test images it
 * gets wrong most confidently. With a second keyspace the two reports stand
 * side by side (e.g. digits beside Fashion-MNIST).
 *
 * Examples seen: a models_train row at epoch e and batch_percent p% is at
 * (e - 1 + p/100) x the rows of the train table; a models_test row sits at
 * the epoch boundary nearest the last train row written before it (rows in
 * upload_date order). A train row whose position goes back starts another
 * run (a second training in the same keyspace), drawn in its own colour.
 */
#ifndef CASSNN_REPORT_H
#define CASSNN_REPORT_H

#include <stdio.h>

#include "cassnn/cql.h"

typedef struct report_options {
    const char *keyspace;
    const char *compare;        /* a second keyspace, or NULL */
    const char *model;          /* model of the confusion matrix: id, alias or "best" (NULL) */
    const char *train_table;    /* NULL: raw_train, or raw_train_blob when that is the one with rows */
    const char *test_table;     /* NULL: raw_test, or raw_test_blob likewise */
    int wrong;                  /* images in the most-confidently-wrong grid (<= 0: 24) */
    int threads;                /* inference threads (<= 0: 2) */
} report_options;

/* Writes the report to out. Fails (nothing useful written) when a keyspace
 * has no checkpoints or its test table no rows. */
int report_write(cql_session *s, const report_options *o, FILE *out, cassnn_err *err);

#endif
