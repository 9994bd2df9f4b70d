/* cassnn.h - libcassnn's public C API in one include, for programs that
 * embed cassnn (a model server, another front end, a notebook kernel).
 *
 * cassnn trains image classifiers (PyTorch's MNIST tutorial and others
 * described in text) on images stored in Apache Cassandra, and keeps its
 * checkpoints in Cassandra as a model registry. Build an embedder with
 *
 *   cc prog.c $(pkg-config --cflags --libs --static cassnn)
 *
 * (libcassnn is a static library: --static brings in what it links).
 * examples/train_idx.c is a complete program.
 *
 * ---- The headers, from the top down ----
 *
 *   run.h          training, predict and ingest runs: what `cassnn train`,
 *                  `predict` and `ingest` do between their flags and output
 *   conn.h         connection options (contact points, port, login, TLS,
 *                  LZ4, timeout) and opening a session from them
 *   serve.h        the HTTP prediction service (`cassnn serve`)
 *   report.h       the HTML training report (`cassnn report`)
 *   registry.h     models_train / models_test: checkpoints, best/list/get,
 *                  import and export of model files
 *   registry_alias.h  names for models (model_aliases; "best" built in)
 *   schema.h       the keyspace and tables (creating, checking)
 *   cql.h          the CQL client: session, statements, async, batches,
 *   cql_types.h    paging, results, values and types
 *   nn.h           nets from a text description, the executor
 *   nn_optim.h     SGD, Adam, AdamW with PyTorch's update rules
 *   nn_train.h     batch sources, the training loop, schedules, evaluation
 *   blob.h         network / optimizer blobs and files (safetensors,
 *   blob_dict.h    PyTorch pickles) and the state_dict view of one
 *   images.h       image sets in memory
 *   idx.h csv.h png_dir.h dataset.h   their files (and MNIST's downloads)
 *   feed.h stream.h table_plan.h ingest.h   raw tables: load, stream,
 *                  size and plan, write and verify
 *   error.h        cassnn_err
 *
 * Everything else (the protocol codec, the pickle machine, the layer
 * kernels, ...) is internal to the library (src/) and not installed.
 *
 * ---- Errors ----
 *
 * A function that can fail returns 0 (or a valid pointer) on success and -1
 * (or NULL) on failure, filling the caller's cassnn_err with one line that
 * says what failed and where (file and line, row id, host, layer).
 * cassnn_err is a plain struct on the caller's stack; nothing to free. The
 * library never prints and never exits.
 *
 * ---- Ownership: who frees what ----
 *
 * Objects a call creates belong to the caller, who frees each with its
 * pair (a close or free of a handle accepts NULL; one of a struct filled by
 * a call accepts a zeroed struct):
 *
 *   cql_session_open, conn_open        -> cql_session_close
 *   cql_execute, cql_query, cql_future_wait: the cql_result
 *                                      -> cql_result_free
 *   cql_execute_async: the future      -> cql_future_wait (exactly once)
 *   cql_pager_open                     -> cql_pager_close (pages are the pager's)
 *   cql_options: the multimap          -> cql_multimap_free
 *   run_train_open                     -> run_train_close
 *   run_ingest_load                    -> run_ingest_free
 *   run_predict: the predictions       -> run_predictions_free
 *   nn_net_create, blob_net_decode, blob_net_load_file, registry_load_checkpoint,
 *   registry_load_net                  -> nn_net_free
 *   nn_optim_sgd, nn_optim_adam, blob_optim_decode, registry_load_checkpoint
 *                                      -> nn_optim_free
 *   nn_exec_create                     -> nn_exec_free
 *   nn_memory_source_init              -> nn_memory_source_free
 *   data_images_alloc, data_images_split, data_idx_load, data_csv_load,
 *   data_png_dir_load, data_table_load -> data_images_free
 *   data_feed_init                     -> data_feed_free
 *   data_stream_open                   -> data_stream_close
 *   blob_parse: the dict               -> blob_dict_free
 *   blob_net_encode, blob_optim_encode, blob_file_read: the buffer -> free()
 *   registry_get, registry_best, registry_checkpoint, registry_train_row,
 *   registry_test_row: the row         -> registry_model_free
 *   registry_list: the array           -> free() (its rows hold no blobs)
 *   registry_writer_open               -> registry_writer_close
 *   registry_alias_list: the array     -> free()
 *   serve_start                        -> serve_stop
 *
 * What is not in that list is borrowed. A prepared statement (cql_prepare)
 * belongs to the session's cache and lives until the session closes.
 * Pointers into an object (a result's cells and columns, run_train_describe,
 * a session's host names) live as long as that object. Options structs and
 * the strings in them are read during the call that takes them, except that
 * a run and a data_feed borrow their options' strings, their session and
 * their images for their whole life: those must outlive them.
 *
 * ---- Threads ----
 *
 *   - cql_session: every cql_* function may be called from any thread at
 *     once. Callbacks (cql_callback, cql_config.on_event) run on the
 *     session's own threads and must not block or call the session
 *     synchronously. One session per process and cluster is enough; runs,
 *     registry calls and ingest may share it.
 *   - Runs (run.h): one thread drives a run; its run_events callbacks run
 *     on that thread. Separate runs may go on at once on separate threads.
 *   - nn_exec is not reentrant: one call at a time per executor. It runs
 *     its batches on its own worker threads (nn_exec_create's threads), and
 *     the net it was created for must not be changed by anyone else while
 *     it is in use. oneDNN runs single-threaded inside each worker: the
 *     library sets the OpenMP thread count of that worker only, and puts it
 *     back, so the embedder's OpenMP settings elsewhere stay as they are.
 *     Two executors at once (two runs) share the cores: give each a share
 *     through threads.
 *   - Plain objects (nn_net, nn_optim, data_images, data_feed,
 *     nn_memory_source, data_stream, blob_dict, registry_model, options) have
 *     no locks: use each from one thread at a time. Reading one from
 *     several threads at once is fine while nobody writes it.
 *   - The file readers and writers (idx, csv, png_dir, blob) and the pure
 *     functions (descriptions, plans, formatting, cql_types) are reentrant.
 *   - conn_options_from_env reads the environment: not safe against a
 *     concurrent setenv.
 *   - Process-wide, chosen once and thread-safely: the instruction set of
 *     the kernels (CASSNN_ISA or the processor's best; src/nn), oneDNN's
 *     engine, libcurl's global init. The library installs no signal
 *     handlers; a connection that breaks never raises SIGPIPE in the
 *     embedder.
 */
#ifndef CASSNN_H
#define CASSNN_H

#include "cassnn/error.h"

#include "cassnn/cql_types.h"
#include "cassnn/cql.h"
#include "cassnn/conn.h"

#include "cassnn/images.h"
#include "cassnn/idx.h"
#include "cassnn/csv.h"
#include "cassnn/png_dir.h"
#include "cassnn/dataset.h"

#include "cassnn/nn.h"
#include "cassnn/nn_optim.h"
#include "cassnn/nn_train.h"

#include "cassnn/blob_dict.h"
#include "cassnn/blob.h"

#include "cassnn/feed.h"
#include "cassnn/table_plan.h"
#include "cassnn/stream.h"
#include "cassnn/augment.h"
#include "cassnn/ingest.h"

#include "cassnn/schema.h"
#include "cassnn/registry.h"
#include "cassnn/registry_alias.h"

#include "cassnn/run.h"

#include "cassnn/serve.h"
#include "cassnn/report.h"

#endif
