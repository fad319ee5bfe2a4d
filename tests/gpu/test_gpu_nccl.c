// test_gpu_nccl.c: the NCCL gradient all-reduce (dist/comm_nccl.h) on device buffers: the sum
// over ranks, in place, in buckets, ordered after work queued on the compute stream (a kernel
// that scales the buffer must be seen by the all-reduce) and before work queued after
// nccl_stream_wait. Under ctest it runs as one rank (NCCL with one rank still goes through the
// whole path); on a node with G GPUs: mpirun -np G build/test_gpu_nccl (ctest test_gpu_nccl_np2:
// two ranks). In the emulated build (EIR_CUDA=EMU) NCCL is MPI and any number of ranks runs.
// Exits 77 (skipped) without the CUDA backend, without a GPU, or with fewer GPUs than local ranks.
#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"

#ifdef EIR_HAVE_CUDA
#include "dist/comm.h"
#include "dist/comm_nccl.h"
#include "model/layers_cuda.h"

static int run(int *argc, char ***argv) {
    Comm c;
    comm_init(&c, argc, argv);
    // One GPU per rank (NCCL refuses two ranks on one GPU). Decided together: a rank that skipped
    // alone would leave the others waiting in the collectives. The emulation's devices are all
    // host memory: there ranks may share one (EIR_EMU_GPUS=N gives them one each).
    int ndev = cuda_device_count();
#ifdef EIR_CUDA_EMU
    int32_t skip = ndev < 1;
#else
    int32_t skip = ndev < c.local_size;
#endif
    comm_allreduce_max_i32(&c, &skip, 1);
    if (skip) {
        if (c.rank == 0) printf("SKIP: %d local ranks but %d GPU(s) on rank 0's node\n", c.local_size, ndev);
        comm_finalize(&c);
        return 77;
    }
    NcclComm *nc = nccl_comm_create(&c);
    void *compute = cuda_stream_create();
    const size_t n = ((size_t)1 << 20) + 3;  // not a multiple of anything NCCL likes
    float *h = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = (float)((c.rank + 1) * (int)(i % 11));  // small integers: exact sums
    float *d = cuda_malloc(n * sizeof(float));
    cuda_memcpy_h2d(d, h, n * sizeof(float));
    // queued, not yet run: the all-reduce must wait for it (x2), and the later scale (x0.5) for the sum
    grad_scale_cuda(d, n, 2.0f, compute);
    size_t b1 = n / 3, b2 = 2 * n / 3;  // three buckets, the tail first as backward reports them
    nccl_allreduce_sum_f32(nc, d + b2, n - b2, compute);
    nccl_allreduce_sum_f32(nc, d + b1, b2 - b1, compute);
    nccl_allreduce_sum_f32(nc, d, b1, compute);
    nccl_stream_wait(nc, compute);
    grad_scale_cuda(d, n, 0.5f, compute);
    cuda_stream_synchronize(compute);
    cuda_memcpy_d2h(h, d, n * sizeof(float));
    long ranks_sum = (long)c.size * (c.size + 1) / 2;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (h[i] != (float)(ranks_sum * (long)(i % 11))) bad++;
    CHECK_MSG(bad == 0, "%zu of %zu elements differ from the sum over %d rank(s)", bad, n, c.size);
    if (c.rank == 0)
        printf("nccl all-reduce: %d rank(s), GPU %d, %zu floats in 3 buckets: %s\n", c.size, nccl_comm_device(nc), n,
               bad ? "FAIL" : "ok");
    nccl_synchronize(nc);
    cuda_free(d);
    free(h);
    cuda_stream_destroy(compute);
    nccl_comm_destroy(nc);
    comm_finalize(&c);
    TEST_MAIN_END();
}
#endif

int main(int argc, char **argv) {
#ifndef EIR_HAVE_CUDA
    (void)argc, (void)argv;
    printf("SKIP: built without the CUDA backend (EIR_HAVE_CUDA)\n");
    return 77;
#else
    if (cuda_device_count() == 0) {
        printf("SKIP: no CUDA device (cudaGetDeviceCount failed or found none): the NCCL test needs a GPU\n");
        return 77;
    }
    return run(&argc, &argv);
#endif
}
