/* model_arg.c - the --model and --input arguments (see model_arg.h). */
#include "model_arg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cli_model_arg(const char *arg, cassnn_err *err) {
    if (arg[0] != '@') return strdup(arg);
    uint8_t *buf;
    size_t len;
    if (blob_file_read(arg + 1, &buf, &len, err)) return NULL;
    char *text = realloc(buf, len + 1);
    if (!text) {
        free(buf);
        cassnn_err_set(err, "%s: out of memory", arg + 1);
        return NULL;
    }
    text[len] = '\0';
    if (strlen(text) != len) {
        free(text);
        cassnn_err_set(err, "%s: model description contains a NUL byte", arg + 1);
        return NULL;
    }
    return text;
}

void cli_model_flags_init(cli_model_flags *f) {
    *f = (cli_model_flags){.given = blob_tutorial_model};
    f->given.description = NULL;
}

int cli_input_flag(void *out, const char *name, const char *value) {
    cli_model_flags *f = out;
    blob_model *m = &f->given;
    char tail;
    f->input = 1;
    if (sscanf(value, "%dx%dx%d%c", &m->in_c, &m->in_h, &m->in_w, &tail) == 3 && m->in_c > 0 &&
        m->in_h > 0 && m->in_w > 0)
        return 0;
    fprintf(stderr, "cassnn: --%s '%s': expected CxHxW, e.g. 1x28x28\n", name, value);
    return -1;
}

int cli_model_flags_resolve(cli_model_flags *f, const blob_model **out, cassnn_err *err) {
    *out = NULL;
    if (!f->model)
        return f->input ? cassnn_err_set(err, "--input CxHxW goes with --model DESC|@FILE") : 0;
    if (!f->text && !(f->text = cli_model_arg(f->model, err))) return -1;
    f->given.description = f->text;
    *out = &f->given;
    return 0;
}

void cli_model_flags_free(cli_model_flags *f) {
    free(f->text);
    f->text = NULL;
}
