// metrics.h: validation metrics of spec §4.5 for categorical targets (MCC, accuracy, ROC-AUC, AP,
// cross-entropy) computed on the whole validation set, plus EIR's running average for train loss.
#pragma once
#include <stdint.h>

// For one categorical target with K classes over n samples. logits: n x K row-major;
// labels: class index or -1 (missing; excluded). Results NaN where undefined (no labels, one
// class only for ROC-AUC/AP).
typedef struct {
    double mcc, acc, roc_auc, ap, loss;
    int n_used;
} CatMetrics;

// eir-dist scores ROC-AUC and AP on softmax probabilities (spec §10; EIR uses the raw class-1
// logit for binary targets). K == 2: binary on p(class 1); K > 2: one-vs-one macro ROC-AUC
// (Hand & Till, as sklearn multi_class="ovo") and one-vs-rest macro AP.
void cat_metrics_compute(CatMetrics *m, const float *logits, const int32_t *labels, int n, int K);

// Multiclass Matthews correlation from predicted and true labels (sklearn's formula; 0 if undefined).
double mcc_multiclass(const int32_t *pred, const int32_t *truth, int n, int K);
// Binary ROC-AUC with average ranks for ties (Mann-Whitney U); NaN if a class is absent.
double roc_auc_binary(const double *score, const uint8_t *positive, int n);
// Average precision as sklearn computes it (step-wise, ties grouped); NaN if no positives.
double average_precision_binary(const double *score, const uint8_t *positive, int n);

// Exponential running average of EIR's train-loss logging (alpha 0.98, first value taken as is,
// NaN updates skipped).
typedef struct {
    double value;
    int has_value;
} RunningAverage;
void running_average_update(RunningAverage *ra, double x);
