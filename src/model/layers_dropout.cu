// layers_dropout.cu: dropout on the GPU with the CPU's masks (layers_dropout.c). Element k of
// row b keeps when its 16-bit half of Philox block k/8 of RngStream(seed, purpose, step,
// sample_ids[b]) is >= the threshold; the device Philox is cuda_common.h's port of rng.c, so the
// mask words are bit-identical to dropout_keep_bits'.
#include "model/cuda_common.h"
#include "model/layers_cuda.h"

// One thread per mask word; the warp's 32 words (1024 elements) are then applied with coalesced
// loads, lane = element within each word. Generating (key != NULL) or reusing (mask read) the bits.
__global__ void dropout_apply_kernel(float *out, uint32_t *mask, const float *inp, size_t D, size_t words,
                                     uint32_t thr, float scale, bool generate, uint64_t seed, uint32_t purpose,
                                     uint64_t step, const uint64_t *sample_ids) {
    const int b = blockIdx.y, lane = threadIdx.x & 31;
    const size_t w = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    uint32_t word = 0;
    if (w < words) {
        if (generate) {
            PhiloxStream s = philox_stream(seed, purpose, step, sample_ids[b]);
            int n = D - 32 * w < 32 ? (int)(D - 32 * w) : 32;
            word = philox_keep_word(s, 32 * (uint64_t)w, n, thr);
            mask[(size_t)b * words + w] = word;
        } else {
            word = mask[(size_t)b * words + w];
        }
    }
    const size_t w0 = w - (size_t)lane;
    const float *x = inp + (size_t)b * D;
    float *o = out + (size_t)b * D;
    for (int jw = 0; jw < 32; jw++) {
        uint32_t bits = __shfl_sync(0xFFFFFFFFu, word, jw);
        size_t e = (w0 + (size_t)jw) * 32 + (size_t)lane;
        if (e < D) {
            float keep = (float)((bits >> lane) & 1u);
            o[e] = x[e] * keep * scale;  // as apply_keep_bits: (x * keep) * scale
        }
    }
}

static void dropout_launch(float *out, uint32_t *mask, const float *inp, int B, size_t D, float p, bool generate,
                           const DropoutKey *key, void *stream) {
    if (B <= 0 || D == 0) return;
    if (B > 65535) eir_die("dropout_cuda: batch %d > 65535 rows", B);
    size_t words = dropout_mask_words(D);
    dim3 grid(cdiv(words, 256), (unsigned)B);
    dropout_apply_kernel<<<grid, 256, 0, STREAM(stream)>>>(
        out, mask, inp, D, words, dropout_threshold(p), dropout_keep_scale(p), generate, generate ? key->seed : 0,
        generate ? key->purpose : 0, generate ? key->step : 0, generate ? key->sample_ids : NULL);
    CUDA_LAUNCH_CHECK("dropout_apply_kernel");
}

extern "C" void dropout_forward_cuda(float *out, uint32_t *mask, const float *inp, int B, size_t D, float p,
                                     const DropoutKey *key, void *stream) {
    if (!(p > 0.0f)) {
        if (out != inp) CUDA_CHECK(cudaMemcpyAsync(out, inp, (size_t)B * D * sizeof(float), cudaMemcpyDeviceToDevice,
                                                   STREAM(stream)));
        return;
    }
    if (!mask || !key || !key->sample_ids) eir_die("dropout_forward_cuda: dropout needs a mask buffer and a key");
    dropout_launch(out, mask, inp, B, D, p, true, key, stream);
}

extern "C" void dropout_backward_cuda(float *dinp, const float *dout, const uint32_t *mask, int B, size_t D, float p,
                                      void *stream) {
    if (!(p > 0.0f)) {
        if (dinp != dout) CUDA_CHECK(cudaMemcpyAsync(dinp, dout, (size_t)B * D * sizeof(float),
                                                     cudaMemcpyDeviceToDevice, STREAM(stream)));
        return;
    }
    dropout_launch(dinp, (uint32_t *)mask, dout, B, D, p, false, NULL, stream);
}
