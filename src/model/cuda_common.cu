// cuda_common.cu: the device probe and the small device/memory/stream/event/cuBLAS helpers of
// layers_cuda.h, so that C code can drive the GPU without CUDA headers.
#include "model/cuda_common.h"
#include "model/layers_cuda.h"

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
extern "C" float cuda_event_elapsed_ms(void *start, void *stop) {
    CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)stop));
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, (cudaEvent_t)start, (cudaEvent_t)stop));
    return ms;
}

extern "C" void *cuda_blas_create(void) {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    // Plain fp32 sgemm: the default math mode never uses TF32 tensor ops for fp32 inputs (that
    // needs CUBLAS_TF32_TENSOR_OP_MATH, a later opt-in mode), so the GPU matches the CPU to fp32
    // rounding. Said explicitly so that a changed library default cannot slip in.
    CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    return (void *)h;
}
extern "C" void cuda_blas_destroy(void *blas) {
    if (blas) CUBLAS_CHECK(cublasDestroy((cublasHandle_t)blas));
}
