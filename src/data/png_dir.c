/* png_dir.c - reads DIR/<class>/<name>.png into an image set with libpng.
 *
 * All file names are gathered and sorted before any image is decoded, so the
 * set is allocated once and ids follow a documented order rather than the
 * order the file system happens to list.
 */
#include "cassnn/png_dir.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum { SIDE = 28 };

static const char *const fashion_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

const char *data_fashion_class_name(int label) {
    return label >= 0 && label < 10 ? fashion_classes[label] : NULL;
}

/* Lower-case letters and digits of s, the rest dropped: "Ankle boot" and
 * "ankle_boot" both become "ankleboot". */
static void fold_name(const char *s, char *out, size_t size) {
    size_t n = 0;
    for (; *s && n + 1 < size; s++)
        if (isalnum((unsigned char)*s)) out[n++] = (char)tolower((unsigned char)*s);
    out[n] = '\0';
}

int data_class_label(const char *folder_name) {
    if (folder_name[0] >= '0' && folder_name[0] <= '9' && folder_name[1] == '\0')
        return folder_name[0] - '0';
    char name[64], known[64];
    fold_name(folder_name, name, sizeof name);
    if (!name[0]) return -1;
    for (int label = 0; label < 10; label++) {
        fold_name(fashion_classes[label], known, sizeof known);
        if (!strcmp(name, known)) return label;
    }
    /* Folder names cannot hold the '/' of "T-shirt/top"; people shorten it. */
    if (!strcmp(name, "tshirt") || !strcmp(name, "top")) return 0;
    return -1;
}

typedef struct png_entry {
    char *path;
    char *folder; /* for ordering only */
    int label;
} png_entry;

typedef struct png_list {
    png_entry *items;
    size_t count, cap;
} png_list;

static int list_add(png_list *list, const char *dir, const char *folder, const char *file,
                    int label, cassnn_err *err) {
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 1024;
        png_entry *grown = realloc(list->items, cap * sizeof *grown);
        if (!grown) return cassnn_err_set(err, "out of memory listing %s", dir);
        list->items = grown;
        list->cap = cap;
    }
    size_t size = strlen(dir) + strlen(folder) + (file ? strlen(file) : 0) + 3;
    png_entry *e = &list->items[list->count];
    e->path = malloc(size);
    e->folder = strdup(folder);
    if (!e->path || !e->folder) {
        free(e->path);
        free(e->folder);
        return cassnn_err_set(err, "out of memory listing %s", dir);
    }
    if (file) snprintf(e->path, size, "%s/%s/%s", dir, folder, file);
    else snprintf(e->path, size, "%s/%s", dir, folder);
    e->label = label;
    list->count++;
    return 0;
}

static void list_free(png_list *list) {
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].path);
        free(list->items[i].folder);
    }
    free(list->items);
    memset(list, 0, sizeof *list);
}

static int by_label_folder_name(const void *a, const void *b) {
    const png_entry *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    int c = strverscmp(x->folder, y->folder);
    return c ? c : strverscmp(x->path, y->path);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int has_png_suffix(const char *name) {
    size_t n = strlen(name);
    return n > 4 && !strcasecmp(name + n - 4, ".png");
}

/* Lists the images of one class folder. A stray file is a bad record. */
static int list_folder(const char *dir, const char *folder, int label, int skip_bad,
                       png_list *list, data_load_stats *stats, cassnn_err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, folder);
    DIR *d = opendir(path);
    if (!d) return cassnn_err_set(err, "%s: cannot open folder: %s", path, strerror(errno));
    int rc = 0;
    struct dirent *ent;
    while (rc == 0 && (ent = readdir(d))) {
        if (ent->d_name[0] == '.') continue;
        if (has_png_suffix(ent->d_name)) {
            rc = list_add(list, dir, folder, ent->d_name, label, err);
            continue;
        }
        stats->records++;
        cassnn_err bad;
        cassnn_err_set(&bad, "%s/%s: not a .png file", path, ent->d_name);
        if (!skip_bad) {
            *err = bad;
            rc = -1;
        } else if (stats->skipped++ == 0) {
            memcpy(stats->first_bad, bad.msg, sizeof stats->first_bad);
        }
    }
    closedir(d);
    return rc;
}

/* libpng reports errors by calling back; we keep the text and jump out. */
typedef struct png_failure {
    jmp_buf jump;
    char msg[200];
} png_failure;

static void on_png_error(png_structp png, png_const_charp msg) {
    png_failure *failure = png_get_error_ptr(png);
    snprintf(failure->msg, sizeof failure->msg, "%s", msg);
    longjmp(failure->jump, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* benign (e.g. an unknown chunk); errors are what matter */
}

static const char *color_type_name(int color) {
    switch (color) {
    case PNG_COLOR_TYPE_GRAY: return "grayscale";
    case PNG_COLOR_TYPE_GRAY_ALPHA: return "grayscale+alpha";
    case PNG_COLOR_TYPE_PALETTE: return "palette";
    case PNG_COLOR_TYPE_RGB: return "RGB";
    case PNG_COLOR_TYPE_RGB_ALPHA: return "RGBA";
    default: return "unknown colour type";
    }
}

/* Decodes one 28x28 8-bit grayscale PNG into pixels (784 bytes). */
static int decode_png(const char *path, uint8_t *pixels, cassnn_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return cassnn_err_set(err, "%s: cannot open: %s", path, strerror(errno));
    uint8_t signature[8];
    if (fread(signature, 1, sizeof signature, f) != sizeof signature ||
        png_sig_cmp(signature, 0, sizeof signature)) {
        fclose(f);
        return cassnn_err_set(err, "%s: not a PNG file (bad signature)", path);
    }
    png_failure failure = {.msg = ""};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &failure, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        fclose(f);
        return cassnn_err_set(err, "%s: out of memory", path);
    }
    if (setjmp(failure.jump)) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        return cassnn_err_set(err, "%s: corrupt PNG (%s)", path, failure.msg);
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, sizeof signature);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), color = png_get_color_type(png, info);
    int rc = 0;
    if (width != SIDE || height != SIDE)
        rc = cassnn_err_set(err, "%s: image is %ux%u, expected %dx%d", path, (unsigned)width,
                            (unsigned)height, SIDE, SIDE);
    else if (color != PNG_COLOR_TYPE_GRAY || depth != 8)
        rc = cassnn_err_set(err, "%s: image is %d-bit %s, expected 8-bit grayscale", path, depth,
                            color_type_name(color));
    if (rc == 0) {
        png_set_interlace_handling(png);
        png_read_update_info(png, info);
        png_bytep rows[SIDE];
        for (int r = 0; r < SIDE; r++) rows[r] = pixels + r * SIDE;
        png_read_image(png, rows);
        png_read_end(png, NULL);
    }
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return rc;
}

static int load_listed(const png_list *list, int skip_bad, data_images *out,
                       data_load_stats *stats, cassnn_err *err) {
    if (data_images_alloc(out, list->count, 1, SIDE, SIDE, err)) return -1;
    size_t kept = 0;
    for (size_t i = 0; i < list->count; i++) {
        stats->records++;
        cassnn_err bad = {0};
        if (decode_png(list->items[i].path, out->pixels + kept * SIDE * SIDE, &bad) == 0) {
            out->labels[kept++] = (int16_t)list->items[i].label;
            continue;
        }
        if (!skip_bad) {
            *err = bad;
            return -1;
        }
        if (stats->skipped++ == 0) memcpy(stats->first_bad, bad.msg, sizeof stats->first_bad);
    }
    out->count = kept;
    return 0;
}

int data_png_dir_load(const char *dir, int skip_bad, data_images *out, data_load_stats *stats,
                      cassnn_err *err) {
    data_load_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    memset(out, 0, sizeof *out);

    png_list folders = {0}, images = {0};
    DIR *d = opendir(dir);
    if (!d) return cassnn_err_set(err, "%s: cannot open folder: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *ent;
    while (rc == 0 && (ent = readdir(d))) {
        if (ent->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        if (!is_dir(path)) continue;
        int label = data_class_label(ent->d_name);
        if (label < 0)
            rc = cassnn_err_set(err, "%s: folder name is not a class (a digit 0..9 or a "
                                     "Fashion-MNIST class name such as 'Sneaker')",
                                path);
        else rc = list_add(&folders, dir, ent->d_name, NULL, label, err);
    }
    closedir(d);
    if (rc == 0 && folders.count == 0)
        rc = cassnn_err_set(err, "%s: no class folders (expected %s/<label>/*.png)", dir, dir);
    if (rc == 0) qsort(folders.items, folders.count, sizeof *folders.items, by_label_folder_name);
    for (size_t i = 0; rc == 0 && i < folders.count; i++)
        rc = list_folder(dir, folders.items[i].folder, folders.items[i].label, skip_bad, &images,
                         stats, err);
    if (rc == 0 && images.count == 0)
        rc = cassnn_err_set(err, "%s: no PNG images in the class folders", dir);
    if (rc == 0) {
        qsort(images.items, images.count, sizeof *images.items, by_label_folder_name);
        rc = load_listed(&images, skip_bad, out, stats, err);
    }
    if (rc == 0 && out->count == 0)
        rc = cassnn_err_set(err, "%s: no usable PNG images (%zu bad files skipped)", dir,
                            stats->skipped);
    list_free(&folders);
    list_free(&images);
    if (rc != 0) data_images_free(out);
    return rc;
}
