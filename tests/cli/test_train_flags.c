/* `cassnn train --idx DIR` with the optimizer and schedule flags, on small
 * IDX files generated here (no database, no downloaded data): Adam with a
 * one-cycle schedule trains a BatchNorm2d net to a high accuracy, the
 * header names the optimizer and schedule, a recipe's choices give way to
 * the flags given beside it, and bad values or combinations are usage
 * errors (exit 2) that name the flag. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cassnn_run.h"
#include "../data/test_dir.h"
#include "../test_idx.h"

enum { SIDE = 10, TRAIN = 600, TEST = 200 };

static int setup(void **state) {
    if (test_dir_make(state)) return -1;
    if (test_idx_write(dir, "train", TRAIN, SIDE, 1) || test_idx_write(dir, "t10k", TEST, SIDE, 2))
        return -1;
    return 0;
}

#define BN_MODEL "'conv(8,k=3) bn relu maxpool(2) flatten linear(10) logsoftmax'"

static void test_adam_onecycle_trains(void **state) {
    (void)state;
    char *out;
    const int rc = cassnn_run(&out, RUN_STDERR_MERGED,
                              "train --idx '%s' --model " BN_MODEL " --epochs 3 --batch-size 20 "
                              "--threads 2 --log-interval 0 --optimizer adam --schedule onecycle "
                              "--lr 0.02 --betas 0.9,0.99 --weight-decay 1e-4",
                              dir);
    fputs(out, stdout);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "optimizer: adam lr "));
    assert_non_null(strstr(out, "betas 0.95,0.99")); /* one-cycle starts beta1 at 0.95 */
    assert_non_null(strstr(out, "schedule: onecycle peak 0.02 at 0.3 of 90 steps"));
    assert_non_null(strstr(out, "bn1=batchnorm2d"));
    const char *done = strstr(out, "Done: 3 epochs");
    assert_non_null(done);
    long correct, total;
    double pct;
    const char *final = strstr(done, "final accuracy ");
    assert_non_null(final);
    assert_int_equal(sscanf(final, "final accuracy %ld/%ld (%lf%%)", &correct, &total, &pct), 3);
    assert_int_equal(total, TEST);
    /* chance is 10% */
    if (correct < TEST * 9 / 10) fail_msg("accuracy %ld/%ld after 3 epochs", correct, total);
    free(out);
}

/* Each must exit 2 and print `needle`. */
static void expect_usage_error(const char *flags, const char *needle) {
    char *out;
    const int rc = cassnn_run(&out, RUN_STDERR_MERGED, "train --idx '%s' %s", dir, flags);
    if (rc != 2 || !strstr(out, needle))
        fail_msg("'%s': exit %d, output lacks '%s':\n%s", flags, rc, needle, out);
    free(out);
}

static void test_bad_flags(void **state) {
    (void)state;
    expect_usage_error("--optimizer rmsprop", "--optimizer 'rmsprop': expected sgd, adam or adamw");
    expect_usage_error("--schedule linear", "--schedule 'linear': expected constant");
    expect_usage_error("--optimizer adam --betas 0.9", "--betas '0.9': expected B1,B2");
    expect_usage_error("--optimizer adam --betas 0.9,1", "--betas '0.9,1'");
    expect_usage_error("--lr -1", "--lr '-1': expected a number");
    expect_usage_error("--weight-decay abc", "--weight-decay 'abc'");
    expect_usage_error("--optimizer adam --nesterov", "--nesterov applies to --optimizer sgd");
    expect_usage_error("--optimizer adamw --momentum 0.9", "--momentum applies to --optimizer sgd");
    expect_usage_error("--eps 1e-6", "--eps applies to --optimizer adam");
    expect_usage_error("--momentum 0 --nesterov", "--nesterov needs a momentum");
    expect_usage_error("--gamma 0.5", "--gamma applies to --schedule step");
    expect_usage_error("--schedule cosine --step-epochs 2", "--step-epochs applies to --schedule step");
    expect_usage_error("--min-lr 0.001", "--min-lr applies to --schedule cosine");
    expect_usage_error("--max-lr 0.1", "--max-lr applies to --schedule onecycle");
    expect_usage_error("--schedule onecycle --momentum 0.9", "one-cycle cycles the momentum");
    expect_usage_error("--schedule onecycle --pct-start 1.5", "--pct-start '1.5'");
    expect_usage_error("--schedule step --step-epochs 0", "--step-epochs '0'");
    /* a bad value of a flag of another kind of optimizer still names the flag */
    expect_usage_error("--optimizer adam --betas 0.9,0.99 --eps -1", "--eps '-1'");
    expect_usage_error("--recipe slow", "recipe 'slow': expected tutorial or fast");
    expect_usage_error("--augment shift=2,zoom=1", "--augment: augmentation 'shift=2,zoom=1'");
    /* a flag beside a recipe is checked against the recipe's choices */
    expect_usage_error("--recipe fast --momentum 0.9", "one-cycle cycles the momentum");
    /* a resumed run's optimizer is the checkpoint's (refused before connecting) */
    char *out;
    const int rc = cassnn_run(&out, RUN_STDERR_MERGED, "train --keyspace ks --resume "
                              "00000000-0000-0000-0000-000000000000 --optimizer adam");
    if (rc != 2 || !strstr(out, "--optimizer with --resume"))
        fail_msg("--resume --optimizer: exit %d:\n%s", rc, out);
    free(out);
}

static int count(const char *out, const char *needle) {
    int n = 0;
    for (const char *p = out; (p = strstr(p, needle)); p++) n++;
    return n;
}

/* --recipe fast sets its choices; each flag given beside it (before or
 * after it) overrides one. */
static void test_recipe_with_overrides(void **state) {
    (void)state;
    char *out;
    int rc = cassnn_run(&out, RUN_STDERR_MERGED,
                        "train --idx '%s' --model " BN_MODEL " --lr 0.05 --recipe fast "
                        "--batch-size 20 --threads 2 --augment shift=1", dir);
    fputs(out, stdout);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "nesterov; schedule: onecycle peak 0.05 at 0.3 of 60 steps"));
    assert_non_null(strstr(out, "batch size 20, augmentation: shift=1"));
    assert_non_null(strstr(out, "Done: 2 epochs")); /* the recipe's epochs */
    assert_int_equal(count(out, "Test set:"), 2);  /* after each epoch only */
    free(out);
    rc = cassnn_run(&out, RUN_STDERR_MERGED,
                    "train --idx '%s' --recipe fast --model " BN_MODEL " --epochs 1 "
                    "--initial-test yes --augment none --log-interval 0", dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "peak 0.3 at 0.3 of 5 steps"));
    assert_non_null(strstr(out, "batch size 128, augmentation: none"));
    assert_int_equal(count(out, "Test set:"), 2); /* before and after the epoch */
    free(out);
    /* without a recipe: the tutorial's choices */
    rc = cassnn_run(&out, RUN_STDERR_MERGED,
                    "train --idx '%s' --model " BN_MODEL " --epochs 0 --recipe tutorial", dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "lr 0.01 momentum 0.5 dampening 0 weight decay 0; schedule: "
                                "constant"));
    assert_non_null(strstr(out, "batch size 64, augmentation: none"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_flags),
        cmocka_unit_test(test_adam_onecycle_trains),
        cmocka_unit_test(test_recipe_with_overrides),
    };
    return cmocka_run_group_tests(tests, setup, test_dir_remove);
}
