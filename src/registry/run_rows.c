/* run_rows.c - the checkpoint rows of a training run and where a run
 * resumed from one continues (see registry.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cassnn/registry.h"

registry_train_state registry_state_after(const registry_run *r, const nn_train_progress *p) {
    const int last = p->batch_idx + 1 >= p->batches_per_epoch;
    return (registry_train_state){.epoch = last ? p->epoch + 1 : p->epoch,
                                  .next_batch = last ? 0 : p->batch_idx + 1,
                                  .seed = r->seed,
                                  .batch_size = r->batch_size};
}

int registry_train_row(registry_model *out, const registry_run *r, const nn_train_progress *p,
                       cassnn_err *err) {
    const registry_train_state ts = registry_state_after(r, p);
    if (registry_checkpoint(out, REGISTRY_TRAIN, r->net, r->opt, &ts, r->format, err)) return -1;
    out->epoch = p->epoch;
    snprintf(out->batch_percent, sizeof out->batch_percent, "%.0f%%",
             100.0 * (double)p->batch_idx / (double)p->batches_per_epoch);
    out->loss = (float)p->loss;
    return 0;
}

int registry_test_row(registry_model *out, const registry_run *r, int next_epoch,
                      const nn_eval_stats *t, cassnn_err *err) {
    const registry_train_state ts = {next_epoch, 0, r->seed, r->batch_size};
    if (registry_checkpoint(out, REGISTRY_TEST, r->net, r->opt, &ts, r->format, err)) return -1;
    const double n = t->images ? (double)t->images : 1.0;
    out->loss = (float)(t->loss_sum / n);
    out->accuracy = (float)((double)t->correct / n);
    return 0;
}

/* Where a row without a run position stood, for a run with defaults d. */
static int place_tutorial_row(const registry_model *m, const registry_resume_defaults *d,
                              registry_train_state *ts, cassnn_err *err) {
    if (d->batch_size < 1) return cassnn_err_set(err, "resume: no batch size");
    const long per_epoch = (long)((d->train_images + (size_t)d->batch_size - 1) /
                                  (size_t)d->batch_size);
    if (registry_row_position(m, per_epoch, d->log_interval, d->batch_size, ts, err))
        return cassnn_err_wrap(err, "a row without a run position (the tutorial's own), placed "
                                    "by --batch-size %d and --log-interval %d",
                               d->batch_size, d->log_interval);
    ts->seed = d->seed;
    return 0;
}

int registry_load_checkpoint(cql_session *s, const char *keyspace, const char *id,
                             const registry_resume_defaults *d, nn_net *net, nn_optim *opt,
                             registry_train_state *ts, cassnn_err *err) {
    uint8_t uuid[16];
    registry_model m;
    if (registry_uuid_parse(id, uuid, err) || registry_get(s, keyspace, uuid, &m, err))
        return -1;
    const blob_model *fallback = d->model ? d->model : &blob_tutorial_model;
    int rc = -1, has_run = 0;
    if (!m.network || !m.optimizer) {
        cassnn_err_set(err, "model %s has no %s blob", id, m.network ? "optimizer" : "network");
    } else if (blob_net_decode(m.network, m.network_len, fallback, net, err) == 0) {
        if (blob_optim_decode(m.optimizer, m.optimizer_len, net, opt, ts, &has_run, err) == 0) {
            rc = has_run ? 0 : place_tutorial_row(&m, d, ts, err);
            if (rc) nn_optim_free(opt);
        }
        if (rc) nn_net_free(net);
    }
    registry_model_free(&m);
    return rc ? cassnn_err_wrap(err, "resume from %s", id) : 0;
}
