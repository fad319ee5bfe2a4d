// test_metrics.c: metrics against values sklearn gives for the same inputs, and LR schedules.
#include "train/lr_schedule.h"
#include "infer/metrics.h"
#include "test_util.h"

int main(void) {
    // sklearn docs: roc_auc_score([0,0,1,1],[.1,.4,.35,.8]) = 0.75; average_precision_score = 0.8333
    double s1[] = {0.1, 0.4, 0.35, 0.8};
    uint8_t y1[] = {0, 0, 1, 1};
    CHECK_CLOSE(roc_auc_binary(s1, y1, 4), 0.75, 1e-12);
    CHECK_CLOSE(average_precision_binary(s1, y1, 4), 0.8333333333333333, 1e-12);
    // ties: all scores equal -> AUC 0.5, AP = prevalence
    double s2[] = {0.5, 0.5, 0.5, 0.5};
    uint8_t y2[] = {1, 0, 0, 0};
    CHECK_CLOSE(roc_auc_binary(s2, y2, 4), 0.5, 1e-12);
    CHECK_CLOSE(average_precision_binary(s2, y2, 4), 0.25, 1e-12);
    uint8_t y3[] = {0, 0, 0, 0};
    CHECK(isnan(roc_auc_binary(s2, y3, 4)));
    CHECK(isnan(average_precision_binary(s2, y3, 4)));
    // sklearn docs: matthews_corrcoef([+1,+1,+1,-1], [+1,-1,+1,+1]) = -0.333...
    int32_t t[] = {1, 1, 1, 0}, p[] = {1, 0, 1, 1};
    CHECK_CLOSE(mcc_multiclass(p, t, 4, 2), -1.0 / 3.0, 1e-12);
    // multiclass MCC, sklearn: matthews_corrcoef([0,1,2,2,1,0],[0,2,2,1,1,0]) = 0.5
    int32_t t3[] = {0, 1, 2, 2, 1, 0}, p3[] = {0, 2, 2, 1, 1, 0};
    CHECK_CLOSE(mcc_multiclass(p3, t3, 6, 3), 0.5, 1e-12);
    int32_t same[] = {1, 1, 1};
    CHECK_CLOSE(mcc_multiclass(same, same, 3, 2), 0.0, 0);

    // cat_metrics_compute: binary, with one missing label that must be ignored
    float logits[] = {2, 0, /**/ 0, 1, /**/ 1, 1.5f, /**/ 3, -1, /**/ 0, 0};
    int32_t lab[] = {0, 1, 0, 0, -1};
    CatMetrics m;
    cat_metrics_compute(&m, logits, lab, 5, 2);
    CHECK_EQ_INT(m.n_used, 4);
    CHECK_CLOSE(m.acc, 0.75, 1e-12);  // row 2 predicted 1, truth 0
    // loss = mean CE: -log softmax
    double ce = (log(1 + exp(-2.0)) + log(1 + exp(-1.0)) + log(1 + exp(0.5)) + log(1 + exp(-4.0))) / 4;
    CHECK_CLOSE(m.loss, ce, 1e-9);
    // p(class1): .119, .731, .622, .018; positives: row1 -> AUC = 1 (0.731 is the top score)
    CHECK_CLOSE(m.roc_auc, 1.0, 1e-12);
    CHECK_CLOSE(m.ap, 1.0, 1e-12);
    // 3 classes perfectly separated -> ovo AUC 1, AP 1, MCC 1
    float l3[] = {5, 0, 0, 0, 5, 0, 0, 0, 5, 4, 1, 0};
    int32_t y33[] = {0, 1, 2, 0};
    cat_metrics_compute(&m, l3, y33, 4, 3);
    CHECK_CLOSE(m.roc_auc, 1.0, 1e-12);
    CHECK_CLOSE(m.ap, 1.0, 1e-12);
    CHECK_CLOSE(m.mcc, 1.0, 1e-12);
    // a class absent -> ROC-AUC undefined
    int32_t y34[] = {0, 1, 1, 0};
    cat_metrics_compute(&m, l3, y34, 4, 3);
    CHECK(isnan(m.roc_auc));

    RunningAverage ra = {0};
    running_average_update(&ra, 2.0);
    running_average_update(&ra, NAN);
    running_average_update(&ra, 1.0);
    CHECK_CLOSE(ra.value, 0.98 * 2 + 0.02, 1e-12);

    // plateau with warmup 10: step i uses lr*(i-1)/10
    LRSchedule s;
    lr_schedule_init(&s, SCHED_PLATEAU, 1e-3, 0.0, 10, 100, 1000, 3, 0.2);
    CHECK_CLOSE(lr_schedule_lr(&s, 1), 0.0, 0);
    CHECK_CLOSE(lr_schedule_lr(&s, 6), 5e-4, 1e-12);
    CHECK_CLOSE(lr_schedule_lr(&s, 11), 1e-3, 1e-12);
    CHECK(!lr_schedule_on_validation(&s, 5, 0.1));  // in warmup: ignored
    CHECK(!lr_schedule_on_validation(&s, 20, 0.5));  // first: improvement
    CHECK(!lr_schedule_on_validation(&s, 30, 0.5));  // bad 1
    CHECK(!lr_schedule_on_validation(&s, 40, 0.50001));  // within threshold: bad 2
    CHECK(lr_schedule_on_validation(&s, 50, 0.4));   // bad 3 -> reduce (patience 3)
    CHECK_CLOSE(lr_schedule_lr(&s, 51), 2e-4, 1e-12);
    CHECK(!lr_schedule_on_validation(&s, 60, 0.6));
    // cosine: warmup 4, total 104: step 5 = lr, step 105 = lr_lb, midpoint = half
    lr_schedule_init(&s, SCHED_COSINE, 1.0, 0.0, 4, 10, 104, 10, 0.2);
    CHECK_CLOSE(lr_schedule_lr(&s, 3), 0.5, 1e-12);
    CHECK_CLOSE(lr_schedule_lr(&s, 5), 1.0, 1e-12);
    CHECK_CLOSE(lr_schedule_lr(&s, 55), 0.5, 1e-12);
    CHECK_CLOSE(lr_schedule_lr(&s, 105), 0.0, 1e-12);
    // cycle: no warmup, epoch 10 -> restarts at t = 10, 30, 70
    lr_schedule_init(&s, SCHED_CYCLE, 1.0, 0.0, 0, 10, 1000, 10, 0.2);
    CHECK_CLOSE(lr_schedule_lr(&s, 1), 1.0, 1e-12);
    CHECK_CLOSE(lr_schedule_lr(&s, 6), 0.5, 1e-12);
    CHECK_CLOSE(lr_schedule_lr(&s, 11), 1.0, 1e-12);
    CHECK_CLOSE(lr_schedule_lr(&s, 21), 0.5, 1e-12);
    CHECK_CLOSE(lr_schedule_lr(&s, 31), 1.0, 1e-12);
    TEST_MAIN_END();
}
