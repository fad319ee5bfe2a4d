// metrics.c: MCC, accuracy, ROC-AUC, average precision and cross-entropy on a validation set.
#include "infer/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

double mcc_multiclass(const int32_t *pred, const int32_t *truth, int n, int K) {
    // sklearn: cov(yt,yp) / sqrt(cov(yt,yt) cov(yp,yp)) from the confusion matrix marginals.
    double *t = calloc_check((size_t)K, sizeof(double));
    double *p = calloc_check((size_t)K, sizeof(double));
    double correct = 0, s = 0;
    for (int i = 0; i < n; i++) {
        if (truth[i] < 0) continue;
        t[truth[i]] += 1;
        p[pred[i]] += 1;
        correct += (pred[i] == truth[i]);
        s += 1;
    }
    double tp = 0, pp = 0, tt = 0;
    for (int k = 0; k < K; k++) {
        tp += t[k] * p[k];
        pp += p[k] * p[k];
        tt += t[k] * t[k];
    }
    free(t);
    free(p);
    double cov_ytyp = correct * s - tp, cov_ypyp = s * s - pp, cov_ytyt = s * s - tt;
    if (cov_ypyp * cov_ytyt == 0) return 0.0;
    return cov_ytyp / sqrt(cov_ytyt * cov_ypyp);
}

typedef struct {
    double score;
    uint8_t pos;
} Scored;

static int cmp_score_desc(const void *a, const void *b) {
    double x = ((const Scored *)a)->score, y = ((const Scored *)b)->score;
    return (x < y) - (x > y);
}

static Scored *sorted_scores(const double *score, const uint8_t *positive, int n) {
    Scored *s = malloc_check((size_t)n * sizeof(Scored));
    for (int i = 0; i < n; i++) {
        s[i].score = score[i];
        s[i].pos = positive[i];
    }
    qsort(s, (size_t)n, sizeof(Scored), cmp_score_desc);
    return s;
}

double roc_auc_binary(const double *score, const uint8_t *positive, int n) {
    Scored *s = sorted_scores(score, positive, n);
    // Walk tie groups from the top; each negative in a group ranks below all positives seen
    // before the group and ties (counted half) with positives inside it.
    double n_pos = 0, n_neg = 0, area = 0;
    for (int i = 0; i < n;) {
        int j = i;
        double gp = 0, gn = 0;
        while (j < n && s[j].score == s[i].score) {
            if (s[j].pos) gp++; else gn++;
            j++;
        }
        area += gn * (n_pos + 0.5 * gp);
        n_pos += gp;
        n_neg += gn;
        i = j;
    }
    free(s);
    if (n_pos == 0 || n_neg == 0) return NAN;
    return area / (n_pos * n_neg);
}

double average_precision_binary(const double *score, const uint8_t *positive, int n) {
    Scored *s = sorted_scores(score, positive, n);
    double total_pos = 0;
    for (int i = 0; i < n; i++) total_pos += s[i].pos;
    if (total_pos == 0) {
        free(s);
        return NAN;
    }
    double tp = 0, fp = 0, prev_recall = 0, ap = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && s[j].score == s[i].score) {
            if (s[j].pos) tp++; else fp++;
            j++;
        }
        double recall = tp / total_pos, precision = tp / (tp + fp);
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
        i = j;
    }
    free(s);
    return ap;
}

static void softmax_row(const float *logits, int K, double *out) {
    double mx = logits[0];
    for (int k = 1; k < K; k++) mx = fmax(mx, logits[k]);
    double sum = 0;
    for (int k = 0; k < K; k++) {
        out[k] = exp((double)logits[k] - mx);
        sum += out[k];
    }
    for (int k = 0; k < K; k++) out[k] /= sum;
}

void cat_metrics_compute(CatMetrics *m, const float *logits, const int32_t *labels, int n, int K) {
    memset(m, 0, sizeof *m);
    int used = 0;
    for (int i = 0; i < n; i++) used += (labels[i] >= 0);
    m->n_used = used;
    if (used == 0) {
        m->mcc = m->acc = m->roc_auc = m->ap = m->loss = NAN;
        return;
    }
    // compact the labelled rows: probabilities, truth, argmax
    double *prob = malloc_check((size_t)used * K * sizeof(double));
    int32_t *truth = malloc_check((size_t)used * sizeof(int32_t));
    int32_t *pred = malloc_check((size_t)used * sizeof(int32_t));
    double loss = 0, correct = 0;
    for (int i = 0, u = 0; i < n; i++) {
        if (labels[i] < 0) continue;
        const float *row = logits + (size_t)i * K;
        softmax_row(row, K, prob + (size_t)u * K);
        int best = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[best]) best = k;
        truth[u] = labels[i];
        pred[u] = best;
        correct += (best == labels[i]);
        // log-softmax in double for a stable loss
        double mx = row[0], sum = 0;
        for (int k = 1; k < K; k++) mx = fmax(mx, row[k]);
        for (int k = 0; k < K; k++) sum += exp((double)row[k] - mx);
        loss += -((double)row[labels[i]] - mx - log(sum));
        u++;
    }
    m->acc = correct / used;
    m->loss = loss / used;
    m->mcc = mcc_multiclass(pred, truth, used, K);

    double *score = malloc_check((size_t)used * sizeof(double));
    uint8_t *pos = malloc_check((size_t)used);
    if (K == 2) {
        for (int u = 0; u < used; u++) {
            score[u] = prob[(size_t)u * K + 1];
            pos[u] = (truth[u] == 1);
        }
        m->roc_auc = roc_auc_binary(score, pos, used);
        m->ap = average_precision_binary(score, pos, used);
    } else {
        // one-vs-one macro ROC-AUC (Hand & Till): mean over class pairs of the two directed AUCs
        double auc_sum = 0;
        int pairs = 0, undefined = 0;
        for (int a = 0; a < K && !undefined; a++) {
            for (int b = a + 1; b < K; b++) {
                int c = 0;
                double auc2 = 0;
                for (int dir = 0; dir < 2; dir++) {
                    int cls = dir ? b : a;
                    c = 0;
                    for (int u = 0; u < used; u++) {
                        if (truth[u] != a && truth[u] != b) continue;
                        score[c] = prob[(size_t)u * K + cls];
                        pos[c] = (truth[u] == cls);
                        c++;
                    }
                    double auc = roc_auc_binary(score, pos, c);
                    if (isnan(auc)) { undefined = 1; break; }
                    auc2 += auc;
                }
                if (undefined) break;
                auc_sum += auc2 / 2;
                pairs++;
            }
        }
        m->roc_auc = undefined ? NAN : auc_sum / pairs;
        // one-vs-rest macro AP
        double ap_sum = 0;
        int ap_undefined = 0;
        for (int k = 0; k < K; k++) {
            for (int u = 0; u < used; u++) {
                score[u] = prob[(size_t)u * K + k];
                pos[u] = (truth[u] == k);
            }
            double ap = average_precision_binary(score, pos, used);
            if (isnan(ap)) { ap_undefined = 1; break; }
            ap_sum += ap;
        }
        m->ap = ap_undefined ? NAN : ap_sum / K;
    }
    free(score);
    free(pos);
    free(prob);
    free(truth);
    free(pred);
}

void running_average_update(RunningAverage *ra, double x) {
    if (isnan(x)) return;
    if (!ra->has_value) {
        ra->value = x;
        ra->has_value = 1;
    } else {
        ra->value = 0.98 * ra->value + 0.02 * x;
    }
}
