// test_batch_invariance.c: an eval-mode forward gives each sample bit-identical logits whatever
// batch it is part of (1 to 12 rows, 1 or 2 threads). eir-serve batches items of different
// requests together and must answer exactly as eir-predict does (issue 5).
#include <omp.h>

#include "model/model.h"
#include "test_util.h"

int main(void) {
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 1;
    ModelInputSpec *s = &mc.inputs[0];
    strcpy(s->name, "b");
    s->vocab = 261, s->max_length = 120, s->d = 64, s->heads = 8, s->layers = 2, s->ffn = 256, s->window = 64;
    s->position = POS_EMBED, s->pool = POOL_AVG, s->dropout = 0.1f, s->position_dropout = 0.1f;
    mc.fusion_layers = 2, mc.fusion_dim = 256, mc.fusion_rb_do = 0.1f, mc.fusion_sd_p = 0.1f;
    mc.n_targets = 1;
    strcpy(mc.targets[0].output_name, "o");
    strcpy(mc.targets[0].column, "c");
    mc.targets[0].n_classes = 3, mc.targets[0].layers = 2, mc.targets[0].dim = 256;
    char err[256];
    CHECK(model_config_finish(&mc, err, sizeof err) == 0);
    Model m;
    model_build(&m, &mc);
    model_init_params(&m, 3);
    // LayerScale starts at 1e-5: raise it so the transformer really shapes the logits
    for (int i = 0; i < m.n_param_tensors; i++)
        if (strstr(m.params[i].name, "gamma"))
            for (size_t j = 0; j < m.params[i].numel; j++) m.params_memory[m.params[i].offset + j] = 0.5f;
    model_alloc_activations(&m, 12);
    const int B = 12, L = 120, K = 3;
    static int32_t tok[12 * 120];
    for (int i = 0; i < B * L; i++) tok[i] = (int32_t)((i * 2654435761u >> 9) % 261);
    float ref[12 * 3], got[12 * 3];
    ForwardCtx ctx = {.train = false};
    const int32_t *t7[1] = {tok};
    model_forward(&m, t7, B, &ctx);
    memcpy(ref, model_logits(&m, 0), sizeof ref);
    int splits[][3] = {{1, 1, 1}, {5, 7, 0}, {3, 9, 0}, {11, 1, 0}};
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        for (size_t sp = 0; sp < sizeof splits / sizeof splits[0]; sp++) {
            int first = 0;
            while (first < B) {
                int n = splits[sp][0] == 1 ? 1 : (first == 0 ? splits[sp][0] : B - first);
                const int32_t *tt[1] = {tok + first * L};
                model_forward(&m, tt, n, &ctx);
                memcpy(got + first * K, model_logits(&m, 0), sizeof(float) * n * K);
                first += n;
            }
            CHECK_MSG(memcmp(ref, got, sizeof ref) == 0, "split %zu with %d thread(s): logits differ from the batch of 12", sp,
                      threads);
        }
    }
    model_free(&m);
    TEST_MAIN_END();
}
