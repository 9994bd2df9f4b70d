/* cmd_cql.c - `cassnn cql [flags] "STATEMENT"`: runs one CQL statement
 * through libcassnn's client and prints every row of every page, as an
 * aligned table (like cqlsh) or as RFC 4180 CSV. Values print in cqlsh
 * notation (uuid, timestamp, blob 0x.., list [1, 2]). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/cql.h"
#include "args.h"
#include "commands.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn cql [--keyspace KS] [--format table|csv] [--page-size N]\n"
            "                  [connection flags] \"STATEMENT\"\n"
            "Runs one CQL statement and prints all result rows (every page).\n"
            "  --format table    aligned columns like cqlsh (default)\n"
            "  --format csv      RFC 4180: header line, CRLF line ends, quoted when needed\n"
            "  --page-size N     rows fetched per page (default 5000)\n");
}

/* RFC 4180: quote a field that contains a comma, quote, CR or LF (or
 * starts/ends with a space, which some readers trim); double the quotes. */
static void csv_field(FILE *out, const char *p, size_t n) {
    int quote = n && (p[0] == ' ' || p[n - 1] == ' ');
    for (size_t i = 0; i < n && !quote; i++) quote = p[i] == ',' || p[i] == '"' || p[i] == '\r' || p[i] == '\n';
    if (!quote) {
        fwrite(p, 1, n, out);
        return;
    }
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"') fputc('"', out);
        fputc(p[i], out);
    }
    fputc('"', out);
}

/* Table output keeps every formatted cell (text offsets into one buffer) so
 * columns can be aligned over all pages, as cqlsh does for one page. */
typedef struct table {
    int32_t n_cols;
    cql_buf text;
    size_t *cells; /* (offset, length) pairs, row-major */
    size_t n_cells, cap_cells;
    size_t *width;
    char **names;
    int64_t n_rows;
} table;

static int table_add(table *t, const char *p, size_t n, int32_t col) {
    if (t->n_cells == t->cap_cells) {
        size_t cap = t->cap_cells ? 2 * t->cap_cells : 1024;
        size_t *c = realloc(t->cells, cap * 2 * sizeof *c);
        if (!c) return -1;
        t->cells = c;
        t->cap_cells = cap;
    }
    t->cells[2 * t->n_cells] = t->text.len;
    t->cells[2 * t->n_cells + 1] = n;
    t->n_cells++;
    cql_buf_bytes_raw(&t->text, p, n);
    if (n > t->width[col]) t->width[col] = n;
    return t->text.oom ? -1 : 0;
}

static void pad(FILE *out, size_t n) {
    while (n--) fputc(' ', out);
}

static void table_print(const table *t, FILE *out) {
    for (int32_t c = 0; c < t->n_cols; c++) {
        fputc(' ', out);
        pad(out, t->width[c] - strlen(t->names[c]));
        fputs(t->names[c], out);
        fputs(c + 1 < t->n_cols ? " |" : "\n", out);
    }
    for (int32_t c = 0; c < t->n_cols; c++) {
        for (size_t k = 0; k < t->width[c] + 2; k++) fputc('-', out);
        if (c + 1 < t->n_cols) fputc('+', out);
    }
    fputc('\n', out);
    for (size_t i = 0; i < t->n_cells; i++) {
        int32_t c = (int32_t)(i % (size_t)t->n_cols);
        size_t off = t->cells[2 * i], len = t->cells[2 * i + 1];
        fputc(' ', out);
        pad(out, t->width[c] - len);
        fwrite(t->text.data + off, 1, len, out);
        fputs(c + 1 < t->n_cols ? " |" : "\n", out);
    }
    fprintf(out, "\n(%lld rows)\n", (long long)t->n_rows);
}

/* What a statement's rows become: CSV written as they come, or a table
 * printed at the end. */
typedef struct output {
    int csv;
    int header_done;
    table t;
    cql_buf cell;
} output;

static int out_of_memory(cassnn_err *err) { return cassnn_err_set(err, "out of memory"); }

/* The column names, once: a CSV line, or the table's header. */
static int output_header(output *o, const cql_result *page, cassnn_err *err) {
    const int32_t nc = cql_result_column_count(page);
    o->header_done = 1;
    if (o->csv) {
        for (int32_t c = 0; c < nc; c++) {
            if (c) fputc(',', stdout);
            csv_field(stdout, cql_result_column(page, c)->name.p, cql_result_column(page, c)->name.len);
        }
        fputs("\r\n", stdout);
        return 0;
    }
    table *t = &o->t;
    t->n_cols = nc;
    t->width = calloc((size_t)nc + 1, sizeof *t->width);
    t->names = calloc((size_t)nc + 1, sizeof *t->names);
    if (!t->width || !t->names) return out_of_memory(err);
    for (int32_t c = 0; c < nc; c++) {
        const cql_str *name = &cql_result_column(page, c)->name;
        t->width[c] = name->len;
        if (!(t->names[c] = strndup(name->p, name->len))) return out_of_memory(err);
    }
    return 0;
}

static int output_rows(output *o, const cql_result *page, cassnn_err *err) {
    const int32_t nc = cql_result_column_count(page);
    for (int32_t r = 0; r < cql_result_row_count(page); r++, o->t.n_rows++) {
        for (int32_t c = 0; c < nc; c++) {
            o->cell.len = 0;
            cql_cell_format(cql_result_cell(page, r, c), cql_result_column(page, c)->type,
                            &o->cell, o->csv ? "" : "null");
            if (o->cell.oom || (!o->csv && table_add(&o->t, (const char *)o->cell.data,
                                                     o->cell.len, c)))
                return cassnn_err_set(err, "out of memory formatting row %lld",
                                      (long long)o->t.n_rows);
            if (o->csv) {
                if (c) fputc(',', stdout);
                csv_field(stdout, (const char *)o->cell.data, o->cell.len);
            }
        }
        if (o->csv) fputs("\r\n", stdout);
    }
    return 0;
}

static void output_free(output *o) {
    cql_buf_free(&o->cell);
    cql_buf_free(&o->t.text);
    free(o->t.cells);
    free(o->t.width);
    for (int32_t c = 0; o->t.names && c < o->t.n_cols; c++) free(o->t.names[c]);
    free(o->t.names);
}

/* Every page of the statement into o; a DDL statement waits for schema
 * agreement. */
static int run_statement(cql_session *s, const cql_statement *st, output *o, cassnn_err *err) {
    cql_pager *pg;
    const cql_result *page;
    if (cql_pager_open(s, st, &pg, err)) return -1;
    int more;
    while ((more = cql_pager_next(pg, &page, err)) == 1) {
        if (cql_result_kind_of(page) == CQL_RESULT_SCHEMA_CHANGE && cql_wait_schema_agreement(s, 10000, err)) {
            more = -1;
            break;
        }
        if (cql_result_kind_of(page) != CQL_RESULT_ROWS) continue;
        if ((!o->header_done && output_header(o, page, err)) || output_rows(o, page, err)) {
            more = -1;
            break;
        }
    }
    cql_pager_close(pg);
    return more < 0 ? -1 : 0;
}

int cmd_cql(int argc, char **argv) {
    static const char *const formats[] = {"table", "csv", NULL};
    conn_options conn;
    conn_options_init(&conn);
    const char *keyspace = NULL, *statement = NULL;
    int page_size = 0;
    output o = {0};
    const cli_flag flags[] = {
        CLI_FLAG("keyspace", CLI_TEXT, &keyspace),
        CLI_CHOICES("format", &o.csv, formats),
        CLI_RANGE("page-size", CLI_INT, &page_size, 1, 1000000),
        CLI_END,
    };
    cli_command cmd = {.name = "cql", .usage = usage, .flags = flags, .conn = &conn,
                       .args = &statement, .max_args = 1};
    const int st = cli_parse(&cmd, argc, argv);
    if (st != CLI_GO) return st;
    if (!statement) return cli_usage_error(&cmd, "give one statement (quote it)");
    cql_session *s;
    if (cli_connect(&cmd, keyspace, 0, &s)) return 1;
    if (cli_use_consistency(&cmd, s, keyspace)) {
        cql_session_close(s);
        return 1;
    }
    cassnn_err err = {0};
    cql_statement stmt = cql_stmt(statement, NULL, 0);
    stmt.page_size = page_size;
    int status = 0;
    if (run_statement(s, &stmt, &o, &err)) {
        fprintf(stderr, "cassnn cql: %s\n", err.msg);
        status = 1;
    } else if (!o.csv && o.header_done) {
        table_print(&o.t, stdout);
    }
    if (fflush(stdout)) {
        perror("cassnn cql: writing output");
        status = 1;
    }
    output_free(&o);
    cql_session_close(s);
    return status;
}
