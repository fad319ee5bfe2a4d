// cuda_common.cu: the device probe and the small device/memory/stream/event/cuBLAS helpers of
// layers_cuda.h, so that C code can drive the GPU without CUDA headers.
#include "model/cuda_common.h"
#include "model/layers_cuda.h"

#include <stdlib.h>
#include <string.h>

extern "C" int cuda_device_count(void) {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();  // clear it: "no driver" must not poison later calls
        return 0;
    }
    return n > 0 ? n : 0;
}

extern "C" void cuda_set_device(int device) { CUDA_CHECK(cudaSetDevice(device)); }

extern "C" void cuda_device_info(CudaDeviceInfo *info) {
    memset(info, 0, sizeof *info);
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    snprintf(info->name, sizeof info->name, "%s", prop.name);
    info->sm_count = prop.multiProcessorCount;
    info->major = prop.major;
    info->minor = prop.minor;
    CUDA_CHECK(cudaDeviceGetAttribute(&info->clock_khz, cudaDevAttrClockRate, dev));
    // fp32 lanes per multiprocessor: 64 on sm_80 (A100), 128 on sm_86/89/90 and later
    int lanes = (prop.major == 8 && prop.minor == 0) ? 64 : (prop.major >= 8 ? 128 : 64);
    info->fp32_flops = 2.0 * lanes * info->sm_count * (double)info->clock_khz * 1e3;
    int mem_khz = 0, bus_bits = 0;
    if (cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        mem_khz = bus_bits = 0;
    }
    info->mem_bytes_per_s = 2.0 * (double)mem_khz * 1e3 * (bus_bits / 8.0);  // double data rate
}

extern "C" void *cuda_malloc(size_t bytes) {
    void *p = NULL;
    cudaError_t err = cudaMalloc(&p, bytes ? bytes : 1);
    if (err != cudaSuccess) eir_die("cudaMalloc of %zu bytes failed: %s", bytes, cudaGetErrorString(err));
    return p;
}
extern "C" void cuda_free(void *p) {
    if (p) CUDA_CHECK(cudaFree(p));
}
extern "C" void cuda_memcpy_h2d(void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
    // from pageable memory cudaMemcpy may return before the DMA lands, and kernels queued next on
    // a non-blocking stream are not ordered after the legacy stream: wait for it, so the copy is
    // complete when this returns, as the C API promises
    CUDA_CHECK(cudaStreamSynchronize(0));
}
extern "C" void cuda_memcpy_d2h(void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
extern "C" void cuda_memcpy_d2d(void *dst, const void *src, size_t bytes, void *stream) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, STREAM(stream)));
}
extern "C" void cuda_memset_zero(void *p, size_t bytes, void *stream) {
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, STREAM(stream)));
}

extern "C" void cuda_memcpy_h2d_async(void *dst, const void *src, size_t bytes, void *stream) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, STREAM(stream)));
}
extern "C" void cuda_memcpy_d2h_async(void *dst, const void *src, size_t bytes, void *stream) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, STREAM(stream)));
}
extern "C" void *cuda_host_alloc(size_t bytes) {
    void *p = NULL;
    cudaError_t err = cudaMallocHost(&p, bytes ? bytes : 1);
    if (err != cudaSuccess) eir_die("cudaMallocHost of %zu bytes (pinned memory) failed: %s", bytes, cudaGetErrorString(err));
    memset(p, 0, bytes ? bytes : 1);
    return p;
}
extern "C" void cuda_host_free(void *p) {
    if (p) CUDA_CHECK(cudaFreeHost(p));
}

extern "C" int cuda_rank_device(int rank, int local_rank, int local_size, char *why, size_t whylen) {
    int n = cuda_device_count();
    const char *env = getenv("EIR_CUDA_DEVICE");
    if (env && *env) {
        char *end;
        long d = strtol(env, &end, 10);
        if (*end || d < 0 || d >= n) {
            snprintf(why, whylen, "rank %d: EIR_CUDA_DEVICE=%s: expected a device number in [0, %d)", rank, env, n);
            return -1;
        }
        return (int)d;
    }
    if (n <= 0) {
        snprintf(why, whylen, "rank %d: no usable CUDA device on this node", rank);
        return -1;
    }
    if (n >= local_size) return local_rank;
    if (n == 1) return 0;  // one visible GPU per rank: the launcher bound them (Slurm --gpus-per-task)
    snprintf(why, whylen, "rank %d: %d ranks on this node but %d CUDA devices: one GPU per rank is needed "
             "(start fewer ranks, or set EIR_CUDA_DEVICE)", rank, local_size, n);
    return -1;
}

extern "C" int cuda_pick_device(int rank, int local_rank, int local_size) {
    char why[256];
    int d = cuda_rank_device(rank, local_rank, local_size, why, sizeof why);
    if (d < 0) eir_die_user("%s", why);
    return d;
}

extern "C" int cuda_device_bus_id(int device, char *buf, int len) {
    if (cudaDeviceGetPCIBusId(buf, len, device) != cudaSuccess) {
        (void)cudaGetLastError();
        return -1;
    }
    return 0;
}

extern "C" void *cuda_stream_create(void) {
    cudaStream_t s;
    CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return (void *)s;
}
extern "C" void cuda_stream_destroy(void *stream) {
    if (stream) CUDA_CHECK(cudaStreamDestroy(STREAM(stream)));
}
extern "C" void cuda_stream_synchronize(void *stream) { CUDA_CHECK(cudaStreamSynchronize(STREAM(stream))); }
extern "C" void cuda_device_synchronize(void) { CUDA_CHECK(cudaDeviceSynchronize()); }

extern "C" void *cuda_event_create(void) {
    cudaEvent_t e;
    CUDA_CHECK(cudaEventCreate(&e));
    return (void *)e;
}
extern "C" void cuda_event_destroy(void *event) {
    if (event) CUDA_CHECK(cudaEventDestroy((cudaEvent_t)event));
}
extern "C" void cuda_event_record(void *event, void *stream) {
    CUDA_CHECK(cudaEventRecord((cudaEvent_t)event, STREAM(stream)));
}
extern "C" void cuda_event_synchronize(void *event) { CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)event)); }
extern "C" void cuda_stream_wait_event(void *stream, void *event) {
    CUDA_CHECK(cudaStreamWaitEvent(STREAM(stream), (cudaEvent_t)event, 0));
}
extern "C" float cuda_event_elapsed_ms(void *start, void *stop) {
    CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)stop));
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, (cudaEvent_t)start, (cudaEvent_t)stop));
    return ms;
}

extern "C" void *cuda_blas_create(void) {
    EirBlas *b = (EirBlas *)calloc(1, sizeof(EirBlas));
    if (!b) eir_die("out of memory for a cuBLAS handle");
    CUBLAS_CHECK(cublasCreate(&b->h));
    // Plain fp32 sgemm until cuda_blas_set_math says otherwise: the default math mode never uses
    // TF32 tensor ops for fp32 inputs, so the GPU matches the CPU to fp32 rounding. Said
    // explicitly so that a changed library default cannot slip in.
    CUBLAS_CHECK(cublasSetMathMode(b->h, CUBLAS_DEFAULT_MATH));
    b->math = CUDA_MATH_FP32;
    return (void *)b;
}
extern "C" void cuda_blas_set_math(void *blas, CudaMath math) {
    if (math != CUDA_MATH_FP32 && math != CUDA_MATH_TF32 && math != CUDA_MATH_BF16)
        eir_die("cuda_blas_set_math: unknown mode %d", (int)math);
    ((EirBlas *)blas)->math = math;
}
extern "C" void cuda_blas_destroy(void *blas) {
    if (!blas) return;
    CUBLAS_CHECK(cublasDestroy(((EirBlas *)blas)->h));
    free(blas);
}
