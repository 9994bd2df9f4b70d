/* report.c - a run's tables as the `cassnn` program shows them (report.h). */
#include "report.h"

/* "47.6 MB" into buf; returns buf. */
static const char *human_bytes(size_t n, char *buf, size_t cap) {
    const char *units[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)n;
    int u = 0;
    for (; v >= 1024.0 && u < 4; u++) v /= 1024.0;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

static void print_plan(void *user, const run_tables_plan *p) {
    FILE *out = user;
    char size[160], a[32], b[32], c[32];
    for (int i = 0; i < p->n; i++)
        fprintf(out, "%s.%s: %s, %s in memory, %s while loading: %s\n", p->keyspace,
                p->tables[i], data_table_size_text(&p->sizes[i], size, sizeof size),
                human_bytes(p->plan.load_bytes[i] / 2, a, sizeof a),
                human_bytes(p->plan.load_bytes[i], b, sizeof b),
                p->plan.stream_budget[i] ? "streaming" : "load-once");
    human_bytes(p->memory_budget, c, sizeof c);
    const char *what = p->n == 1 ? "the table" : "both tables";
    if (p->plan.kind == DATA_PLAN_LOAD_ALL)
        fprintf(out, "%s fit%s the memory budget %s: loaded once\n", what, p->n == 1 ? "s" : "", c);
    else if (p->n == 1)
        fprintf(out, "the table exceeds the memory budget %s: streamed in token order\n", c);
    else if (p->plan.kind == DATA_PLAN_STREAM_TRAIN)
        fprintf(out, "both tables exceed the memory budget %s: %s (at most a quarter of it) is "
                     "loaded once, %s streams in the rest\n", c, p->tables[1], p->tables[0]);
    else
        fprintf(out, "both tables exceed the memory budget %s, %s more than a quarter of it: "
                     "both stream, %s in a quarter\n", c, p->tables[1], p->tables[1]);
    fflush(out);
}

static void print_loaded(void *user, size_t rows, double seconds) {
    fprintf(user, "read %zu rows into memory in %.2f s (%.0f rows/s)\n", rows, seconds,
            seconds > 0 ? (double)rows / seconds : 0.0);
}

static void print_stream(void *user, const run_stream_info *s) {
    char a[32], b[32];
    fprintf(user, "%s.%s: streaming %ld rows (counted) ", s->keyspace, s->table, s->rows);
    if (s->shuffled) fprintf(user, "through a shuffle buffer of %zu rows", s->buffer_rows);
    else fprintf(user, "in token order");
    fprintf(user, "; the stream holds at most %s of its %s budget\n",
            human_bytes(s->memory, a, sizeof a), human_bytes(s->budget, b, sizeof b));
}

run_events cli_table_events(FILE *out) {
    return (run_events){.user = out, .planned = print_plan, .loaded = print_loaded,
                        .streaming = print_stream};
}

void cli_print_node_stats(FILE *out, cql_session *s) {
    if (!s) return;
    const int n = cql_session_hosts(s, NULL);
    fprintf(out, "requests per node (--stats):\n");
    for (int i = 0; i < n; i++) {
        cql_host_stats st;
        if (cql_session_host_stats(s, i, &st)) continue;
        fprintf(out, "  %s:%d  dc %s  %-4s  %llu requests, %llu retries, %llu errors\n", st.address,
                st.port, st.dc[0] ? st.dc : "?", st.up ? "up" : "down",
                (unsigned long long)st.requests, (unsigned long long)st.retries,
                (unsigned long long)st.errors);
    }
}
