/* csv.c - Kaggle-style MNIST CSV reader.
 *
 * The file is mapped into memory and parsed in one pass with a hand-written
 * integer scanner: the format is a fixed grid of small decimal integers, so a
 * general CSV parser (quoting, escapes) would only add ways to be slow. The
 * number of newlines bounds the number of rows, which sizes the output once.
 */
#include "cassnn/csv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { IMAGE_SIDE = 28, IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE };

/* One line of the file, without its line end (LF or CRLF). */
typedef struct csv_line {
    const char *at, *end;
    size_t number; /* 1-based, the header is line 1 */
} csv_line;

/* Finds the line starting at *pos, moves *pos past its line end. */
static csv_line next_line(const char **pos, const char *file_end, size_t number) {
    csv_line line = {*pos, NULL, number};
    const char *nl = memchr(*pos, '\n', (size_t)(file_end - *pos));
    line.end = nl ? nl : file_end;
    *pos = nl ? nl + 1 : file_end;
    if (line.end > line.at && line.end[-1] == '\r') line.end--;
    return line;
}

static int is_blank(csv_line line) {
    for (const char *p = line.at; p < line.end; p++)
        if (*p != ' ' && *p != '\t') return 0;
    return 1;
}

/* Error text quotes at most this much of a bad field. */
#define FIELD_QUOTE 24

static int field_error(cassnn_err *err, const char *path, csv_line line, int column,
                       const char *field, size_t len, const char *what) {
    int shown = len > FIELD_QUOTE ? FIELD_QUOTE : (int)len;
    return cassnn_err_set(err, "%s line %zu: column %d '%.*s%s' %s", path, line.number, column,
                          shown, field, len > FIELD_QUOTE ? "..." : "", what);
}

/* Parses one row of ncols integers into label (column 1 when labeled) and
 * pixels. Values must be plain decimal integers, optionally surrounded by
 * spaces; range checks come after the integer check so the message names the
 * first thing wrong. */
static int parse_row(const char *path, csv_line line, int labeled, int16_t *label,
                     uint8_t *pixels, cassnn_err *err) {
    const int ncols = IMAGE_PIXELS + (labeled ? 1 : 0);
    const char *p = line.at;
    for (int col = 0; col < ncols; col++) {
        if (col > 0) {
            if (p >= line.end)
                return cassnn_err_set(err, "%s line %zu: %d columns, expected %d", path,
                                      line.number, col, ncols);
            p++; /* the comma that stopped the previous field */
        }
        const char *field = p;
        while (p < line.end && *p != ',') p++;
        const char *a = field, *b = p;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        if (a == b)
            return field_error(err, path, line, col + 1, field, (size_t)(p - field),
                               "is empty");
        int negative = *a == '-';
        if (*a == '-' || *a == '+') a++;
        unsigned value = 0;
        const char *d = a;
        for (; d < b && *d >= '0' && *d <= '9'; d++)
            if (value < 100000) value = value * 10 + (unsigned)(*d - '0');
        if (d == a || d != b)
            return field_error(err, path, line, col + 1, field, (size_t)(p - field),
                               "is not an integer");
        int is_label = labeled && col == 0;
        unsigned max = is_label ? 9 : 255;
        if (negative && value != 0) value = max + 1;
        if (value > max)
            return field_error(err, path, line, col + 1, field, (size_t)(p - field),
                               is_label ? "is not a label in 0..9" : "is not a pixel in 0..255");
        if (is_label) *label = (int16_t)value;
        else pixels[col - (labeled ? 1 : 0)] = (uint8_t)value;
    }
    if (p < line.end) {
        int extra = 0;
        for (; p < line.end; p++) extra += *p == ',';
        return cassnn_err_set(err, "%s line %zu: %d columns, expected %d", path, line.number,
                              ncols + extra, ncols);
    }
    return 0;
}

/* The header must name exactly [label,]pixel0..pixel783 in that order. */
static int check_header(const char *path, csv_line line, int labeled, cassnn_err *err) {
    if (line.end - line.at >= 3 && !memcmp(line.at, "\xEF\xBB\xBF", 3)) line.at += 3;
    const char *p = line.at;
    int column = 0, pixels = 0;
    while (p <= line.end) {
        const char *field = p;
        while (p < line.end && *p != ',') p++;
        size_t len = (size_t)(p - field);
        char expected[16];
        if (labeled && column == 0) snprintf(expected, sizeof expected, "label");
        else snprintf(expected, sizeof expected, "pixel%d", pixels++);
        column++;
        while (len && (field[len - 1] == ' ' || field[len - 1] == '\t')) len--;
        while (len && (*field == ' ' || *field == '\t')) field++, len--;
        if (len != strlen(expected) || memcmp(field, expected, len))
            return cassnn_err_set(err, "%s line 1: header column %d is '%.*s', expected '%s'%s",
                                  path, column, len > FIELD_QUOTE ? FIELD_QUOTE : (int)len, field,
                                  expected,
                                  labeled && column == 1 && len >= 5 && !memcmp(field, "pixel", 5)
                                      ? " (is this an unlabeled file?)"
                                      : "");
        p++;
    }
    if (pixels != IMAGE_PIXELS)
        return cassnn_err_set(err, "%s line 1: header has %d pixel columns; an image must be "
                                   "%dx%d = %d pixels",
                              path, pixels, IMAGE_SIDE, IMAGE_SIDE, IMAGE_PIXELS);
    return 0;
}

static int parse_file(const char *path, const char *data, size_t size, int labeled,
                      int skip_bad, data_images *out, data_load_stats *stats, cassnn_err *err) {
    const char *pos = data, *end = data + size;
    if (size == 0) return cassnn_err_set(err, "%s: empty file (no header)", path);
    size_t number = 1;
    if (check_header(path, next_line(&pos, end, number), labeled, err)) return -1;

    size_t max_rows = 1;
    for (const char *p = pos; (p = memchr(p, '\n', (size_t)(end - p))); p++) max_rows++;
    if (data_images_alloc(out, max_rows, 1, IMAGE_SIDE, IMAGE_SIDE, err)) return -1;

    size_t kept = 0;
    while (pos < end) {
        csv_line line = next_line(&pos, end, ++number);
        if (is_blank(line)) continue;
        stats->records++;
        cassnn_err row_err = {0};
        if (parse_row(path, line, labeled, &out->labels[kept], out->pixels + kept * IMAGE_PIXELS,
                      &row_err) == 0) {
            kept++;
            continue;
        }
        if (!skip_bad) {
            *err = row_err;
            return -1;
        }
        if (stats->skipped++ == 0) memcpy(stats->first_bad, row_err.msg, sizeof stats->first_bad);
        out->labels[kept] = -1;
    }
    if (kept == 0)
        return cassnn_err_set(err, "%s: no %s rows (%zu bad rows skipped)", path,
                              stats->records ? "valid" : "data", stats->skipped);
    out->count = kept;
    return 0;
}

int data_csv_load(const char *path, int labeled, int skip_bad, data_images *out,
                  data_load_stats *stats, cassnn_err *err) {
    data_load_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    memset(out, 0, sizeof *out);

    int fd = open(path, O_RDONLY);
    if (fd < 0) return cassnn_err_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cassnn_err_set(err, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    const char *data = NULL;
    if (size > 0) {
        data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (data == MAP_FAILED) {
            int e = errno;
            close(fd);
            return cassnn_err_set(err, "%s: cannot map: %s", path, strerror(e));
        }
        madvise((void *)data, size, MADV_SEQUENTIAL);
    }
    close(fd);
    int rc = parse_file(path, data, size, labeled, skip_bad, out, stats, err);
    if (size > 0) munmap((void *)data, size);
    if (rc != 0) data_images_free(out);
    return rc;
}
