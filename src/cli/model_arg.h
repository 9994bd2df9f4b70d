/* model_arg.h - a model description given on the command line. */
#ifndef CASSNN_CLI_MODEL_ARG_H
#define CASSNN_CLI_MODEL_ARG_H

#include "cassnn/error.h"

/* The description an argument names: a built-in name or description text
 * as is, @FILE the file's text. Returns a malloc'ed string, NULL on error. */
char *cli_model_arg(const char *arg, cassnn_err *err);

#endif
