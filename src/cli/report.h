/* report.h - how the `cassnn` program shows a run's tables: the load-once
 * or streaming choice and why, rows read, streams opened. Shared by train
 * (on stdout) and predict (on stderr: its stdout is the predictions). */
#ifndef CASSNN_CLI_REPORT_H
#define CASSNN_CLI_REPORT_H

#include <stdio.h>

#include "cassnn/run.h"

/* run_events whose table callbacks print on out (the other callbacks
 * NULL). */
run_events cli_table_events(FILE *out);

/* --stats: what the session sent each node (requests, retries, errors),
 * one line per node, on out. */
void cli_print_node_stats(FILE *out, cql_session *s);

#endif
