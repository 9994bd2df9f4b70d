/* model_arg.c - the --model argument of the commands that build a net (see model_arg.h). */
#include "model_arg.h"

#include <stdlib.h>
#include <string.h>

#include "cassnn/blob.h"

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

