// layers_loss.cu: per-target losses on the GPU (spec §4.1; the CPU twin is layers_loss.c):
// cross-entropy with label smoothing and squared error, with the mixup pairing through perm.
// Batches are small (tens to hundreds of rows, a few classes): one thread per row runs the CPU's
// loop in double, and one thread then adds the row losses in row order, so sum and count come
// out as the CPU's (up to the last bits of device vs libm exp/log in double).
#include "model/cuda_common.h"
#include "model/layers_cuda.h"

// row_loss[b] = the row's loss, row_loss[B + b] = 1 when the row is used, 0 when skipped (label
// missing; a NaN loss of a used row still counts, as on the CPU).
__global__ void crossentropy_rows_kernel(float *dlogits, double *row_loss, const float *logits, const int32_t *labels,
                                         const int32_t *perm, int B, int K, float smoothing, float grad_scale) {
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    int y = labels[perm ? perm[b] : b];
    row_loss[B + b] = y >= 0;
    if (y < 0) return;
    if (y >= K) y = K - 1;  // as the CPU: never happens with a consistent label encoder
    const float *x = logits + (size_t)b * K;
    double m = x[0];
    for (int k = 1; k < K; k++) m = x[k] > m ? x[k] : m;
    double se = 0.0;
    for (int k = 0; k < K; k++) se += exp((double)x[k] - m);
    double lse = m + log(se);
    double sum_logp = 0.0;
    for (int k = 0; k < K; k++) sum_logp += (double)x[k] - lse;
    double nll = lse - (double)x[y];
    row_loss[b] = (1.0 - smoothing) * nll - smoothing * sum_logp / K;
    if (dlogits) {
        float *g = dlogits + (size_t)b * K;
        for (int k = 0; k < K; k++) {
            double p = exp((double)x[k] - lse);
            double t = (k == y ? 1.0 - smoothing : 0.0) + smoothing / K;
            g[k] += grad_scale * (float)(p - t);
        }
    }
}

__global__ void mse_rows_kernel(float *dpred, double *row_loss, const float *pred, const float *target,
                                const int32_t *perm, int B, float grad_scale) {
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    float y = target[perm ? perm[b] : b];
    row_loss[B + b] = !isnan(y);
    if (isnan(y)) return;
    double diff = (double)pred[b] - (double)y;
    row_loss[b] = diff * diff;
    if (dpred) dpred[b] += grad_scale * (float)(2.0 * diff);
}

// result = {sum of the used rows' losses in row order, number of used rows}
__global__ void row_loss_sum_kernel(double *result, const double *row_loss, int B) {
    double total = 0.0;
    int n = 0;
    for (int b = 0; b < B; b++)
        if (row_loss[B + b] != 0.0) {
            total += row_loss[b];
            n++;
        }
    result[0] = total;
    result[1] = (double)n;
}

static void sum_rows(double *result, const double *row_scratch, int B, void *stream) {
    row_loss_sum_kernel<<<1, 1, 0, STREAM(stream)>>>(result, row_scratch, B);
    CUDA_LAUNCH_CHECK("row_loss_sum_kernel");
}

extern "C" void crossentropy_forward_backward_cuda(float *dlogits, double *result, double *row_scratch,
                                                   const float *logits, const int32_t *labels, const int32_t *perm,
                                                   int B, int K, float smoothing, float grad_scale, void *stream) {
    if (!result || !row_scratch) eir_die("crossentropy_forward_backward_cuda: result and row_scratch are required");
    if (B > 0 && K > 0) {
        crossentropy_rows_kernel<<<cdiv((size_t)B, 128), 128, 0, STREAM(stream)>>>(dlogits, row_scratch, logits, labels,
                                                                                    perm, B, K, smoothing, grad_scale);
        CUDA_LAUNCH_CHECK("crossentropy_rows_kernel");
    }
    sum_rows(result, row_scratch, B > 0 && K > 0 ? B : 0, stream);
}

extern "C" void mse_forward_backward_cuda(float *dpred, double *result, double *row_scratch, const float *pred,
                                          const float *target, const int32_t *perm, int B, float grad_scale,
                                          void *stream) {
    if (!result || !row_scratch) eir_die("mse_forward_backward_cuda: result and row_scratch are required");
    if (B > 0) {
        mse_rows_kernel<<<cdiv((size_t)B, 128), 128, 0, STREAM(stream)>>>(dpred, row_scratch, pred, target, perm, B,
                                                                           grad_scale);
        CUDA_LAUNCH_CHECK("mse_rows_kernel");
    }
    sum_rows(result, row_scratch, B > 0 ? B : 0, stream);
}
