/* cmd_cql.c - `cassnn cql [flags] "STATEMENT"`: runs one CQL statement
 * through libcassnn's client and prints every row of every page, as an
 * aligned table (like cqlsh) or as RFC 4180 CSV. Values print in cqlsh
 * notation (uuid, timestamp, blob 0x.., list [1, 2]). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/cql.h"
#include "commands.h"
#include "connect.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn cql [--keyspace KS] [--format table|csv] [--page-size N]\n"
            "                  [--consistency LEVEL] [connection flags] \"STATEMENT\"\n"
            "Runs one CQL statement and prints all result rows (every page).\n"
            "  --format table    aligned columns like cqlsh (default)\n"
            "  --format csv      RFC 4180: header line, CRLF line ends, quoted when needed\n"
            "  --page-size N     rows fetched per page (default 5000)\n"
            "  --consistency L   ONE, QUORUM, LOCAL_ONE, LOCAL_QUORUM, ALL, ... (default LOCAL_ONE)\n"
            "%s",
            cli_conn_usage);
}

static int parse_consistency(const char *s, int *out) {
    static const struct { const char *name; int level; } levels[] = {
        {"ANY", CQL_ANY}, {"ONE", CQL_ONE}, {"TWO", CQL_TWO}, {"THREE", CQL_THREE}, {"QUORUM", CQL_QUORUM},
        {"ALL", CQL_ALL}, {"LOCAL_QUORUM", CQL_LOCAL_QUORUM}, {"EACH_QUORUM", CQL_EACH_QUORUM},
        {"SERIAL", CQL_SERIAL}, {"LOCAL_SERIAL", CQL_LOCAL_SERIAL}, {"LOCAL_ONE", CQL_LOCAL_ONE},
    };
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (!strcasecmp(s, levels[i].name)) {
            *out = levels[i].level;
            return 0;
        }
    return -1;
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

int cmd_cql(int argc, char **argv) {
    cli_conn_opts conn = {0};
    const char *keyspace = NULL, *format = "table", *statement = NULL;
    int page_size = 0, consistency = CQL_DEFAULT;
    cassnn_err err = {0};
    for (int i = 1; i < argc; i++) {
        int r = cli_conn_flag(&conn, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "cassnn cql: %s\n", err.msg);
            return 2;
        }
        if (r) continue;
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--keyspace") && i + 1 < argc) {
            keyspace = argv[++i];
        } else if (!strcmp(a, "--format") && i + 1 < argc) {
            format = argv[++i];
            if (strcmp(format, "table") && strcmp(format, "csv")) {
                fprintf(stderr, "cassnn cql: --format %s: expected table or csv\n", format);
                return 2;
            }
        } else if (!strcmp(a, "--page-size") && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 1000000) {
                fprintf(stderr, "cassnn cql: --page-size %s: expected 1..1000000\n", argv[i]);
                return 2;
            }
            page_size = (int)n;
        } else if (!strcmp(a, "--consistency") && i + 1 < argc) {
            if (parse_consistency(argv[++i], &consistency)) {
                fprintf(stderr, "cassnn cql: --consistency %s: unknown level\n", argv[i]);
                return 2;
            }
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "cassnn cql: unknown or incomplete option %s\n", a);
            usage(stderr);
            return 2;
        } else if (!statement) {
            statement = a;
        } else {
            fprintf(stderr, "cassnn cql: give one statement (quote it); extra argument '%s'\n", a);
            return 2;
        }
    }
    if (!statement) {
        usage(stderr);
        return 2;
    }

    cql_session *s;
    if (cli_conn_open(&conn, keyspace, 0, &s, &err)) {
        fprintf(stderr, "cassnn cql: %s\n", err.msg);
        return 1;
    }
    cql_statement st = cql_stmt(statement, NULL, 0);
    st.page_size = page_size;
    st.consistency = consistency;
    int csv = !strcmp(format, "csv");
    cql_pager *pg;
    const cql_result *page;
    int header_done = 0;
    table t = {0};
    cql_buf cell = {0};
    int rc = cql_pager_open(s, &st, &pg, &err), more = 0, status = 0;
    while (!rc && (more = cql_pager_next(pg, &page, &err)) == 1) {
        if (page->kind == CQL_RESULT_SCHEMA_CHANGE && cql_wait_schema_agreement(s, 10000, &err)) {
            more = -1;
            break;
        }
        if (page->kind != CQL_RESULT_ROWS) continue;
        int32_t nc = cql_result_column_count(page);
        if (!header_done) { /* header, once */
            if (csv) {
                for (int32_t c = 0; c < nc; c++) {
                    if (c) fputc(',', stdout);
                    csv_field(stdout, cql_result_column(page, c)->name.p, cql_result_column(page, c)->name.len);
                }
                fputs("\r\n", stdout);
            } else {
                t.n_cols = nc;
                t.width = calloc((size_t)nc + 1, sizeof *t.width);
                t.names = calloc((size_t)nc + 1, sizeof *t.names);
                if (!t.width || !t.names) {
                    more = -1;
                    cassnn_err_set(&err, "out of memory");
                    break;
                }
                for (int32_t c = 0; c < nc; c++) t.width[c] = cql_result_column(page, c)->name.len;
            }
            header_done = 1;
            for (int32_t c = 0; !csv && c < nc; c++) {
                const cql_str *name = &cql_result_column(page, c)->name;
                if (!(t.names[c] = strndup(name->p, name->len))) {
                    more = -1;
                    cassnn_err_set(&err, "out of memory");
                    break;
                }
            }
            if (more < 0) break;
        }
        for (int32_t r = 0; r < cql_result_row_count(page); r++) {
            for (int32_t c = 0; c < nc; c++) {
                cell.len = 0;
                cql_cell_format(cql_result_cell(page, r, c), cql_result_column(page, c)->type, &cell,
                                csv ? "" : "null");
                if (cell.oom || (!csv && table_add(&t, (const char *)cell.data, cell.len, c))) {
                    more = -1;
                    cassnn_err_set(&err, "out of memory formatting row %lld", (long long)t.n_rows);
                    break;
                }
                if (csv) {
                    if (c) fputc(',', stdout);
                    csv_field(stdout, (const char *)cell.data, cell.len);
                }
            }
            if (more < 0) break;
            if (csv) fputs("\r\n", stdout);
            t.n_rows++;
        }
        if (more < 0) break;
    }
    if (rc || more < 0) {
        fprintf(stderr, "cassnn cql: %s\n", err.msg);
        status = 1;
    } else if (!csv && header_done) {
        table_print(&t, stdout);
    }
    if (fflush(stdout)) {
        perror("cassnn cql: writing output");
        status = 1;
    }
    cql_buf_free(&cell);
    cql_buf_free(&t.text);
    free(t.cells);
    free(t.width);
    for (int32_t c = 0; t.names && c < t.n_cols; c++) free(t.names[c]);
    free(t.names);
    cql_pager_close(rc ? NULL : pg);
    cql_session_close(s);
    return status;
}
