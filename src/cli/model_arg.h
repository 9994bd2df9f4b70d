/* model_arg.h - a model description given on the command line: --model
 * DESC|@FILE for the commands that build a net, and with --input CxHxW the
 * network of a blob that names none (a tutorial row, a plain PyTorch
 * state_dict). */
#ifndef CASSNN_CLI_MODEL_ARG_H
#define CASSNN_CLI_MODEL_ARG_H

#include "args.h"
#include "cassnn/blob.h"
#include "cassnn/error.h"

/* The description an argument names: a built-in name or description text
 * as is, @FILE the file's text. Returns a malloc'ed string, NULL on error. */
char *cli_model_arg(const char *arg, cassnn_err *err);

/* --model DESC|@FILE [--input CxHxW]: the network of blobs that name none. */
typedef struct cli_model_flags {
    const char *model;          /* --model as given; NULL: none */
    blob_model given;           /* its description (read from @FILE) and --input (1x28x28) */
    char *text;                 /* that description (malloc'ed) */
    int input;                  /* 1: --input was given */
} cli_model_flags;

void cli_model_flags_init(cli_model_flags *f);

/* --input CxHxW (a cli_flag call; out: the cli_model_flags). */
int cli_input_flag(void *out, const char *name, const char *value);

/* The two flags' entries in a command's flag table. */
#define CLI_MODEL_FLAGS(f)                                                                         \
    CLI_FLAG("model", CLI_TEXT, &(f)->model),                                                      \
    {"input", CLI_CALL, (f), 0, 0, NULL, cli_input_flag}

/* The network --model names: 0 with *out the model, or NULL when none was
 * given; -1 when its @FILE cannot be read or --input came without --model. */
int cli_model_flags_resolve(cli_model_flags *f, const blob_model **out, cassnn_err *err);

void cli_model_flags_free(cli_model_flags *f);

#endif
