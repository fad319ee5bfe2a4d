// tests/gpu/emu/cuda_runtime.h: a CPU emulation of the slice of CUDA the eir-dist kernels use,
// so that their LOGIC (indexing, layouts, barriers, warp ballots and shuffles, the Philox
// streams, the reduction orders) can be run against the CPU layers on a machine without a GPU
// (tests/gpu/emu/run.sh). It replaces the real <cuda_runtime.h>, <cublas_v2.h> and <nccl.h> on the
// include path of a g++ build of src/model/*.cu (launches rewritten from <<<...>>> by run.sh).
//
// Model: blocks run one after another; the threads of a block are fibers (ucontext) of one OS
// thread, switched at __syncthreads and at warp-synchronous intrinsics, which are real barriers
// here: a barrier that not every live thread of the block (warp) reaches is reported as a
// deadlock, and a full-mask warp intrinsic with exited lanes is reported as an error.
// cudaMalloc'd and dynamic shared memory start as 0xFF bytes (NaN floats), so reads of memory
// nobody wrote show up. Streams are synchronous; timings are meaningless.
// What it cannot show: data races between threads (fibers switch only at barriers), the
// memory model, fma contraction (g++ does not contract here; nvcc does), performance, resource
// limits (registers, shared memory size), or anything of the real hardware and libraries.
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <functional>
#include <vector>

// ---- qualifiers ---------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))  // as nvcc: __inline__ + always_inline
#define __launch_bounds__(...)
#define __shared__ static  // blocks run one at a time: one copy serves every block in turn

// ---- vector types -------------------------------------------------------------------------------------
struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct float4 {
    float x, y, z, w;
};
struct uint4 {
    unsigned x, y, z, w;
};
inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return uint4{a, b, c, d}; }

// ---- runtime types --------------------------------------------------------------------------------------
typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorNoDevice = 100 };
typedef struct emu_stream *cudaStream_t;
typedef struct emu_event *cudaEvent_t;
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
enum { cudaStreamNonBlocking = 1, cudaEventDisableTiming = 2 };
enum cudaDeviceAttr {
    cudaDevAttrClockRate = 13,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrMemoryClockRate = 36,
    cudaDevAttrGlobalMemoryBusWidth = 37,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
struct cudaDeviceProp {
    char name[256];
    int multiProcessorCount, major, minor;
};

namespace emu {
// ---- fibers --------------------------------------------------------------------------------------------
enum { RUN = 0, AT_BLOCK = 1, AT_WARP = 2 };
struct Fiber {
    ucontext_t ctx;
    char *stack;
    bool done;
    int wait;
    uint3 tid;
};
struct Block {
    std::vector<Fiber> f;
    ucontext_t sched;
    int cur = 0;
    uint3 bid;
    dim3 bdim, gdim;
    std::function<void()> body;
    std::vector<unsigned char> smem;
    std::vector<uint64_t> slots;  // one 8-byte slot per thread for warp exchanges
};
inline Block *&current() {
    static Block *b = nullptr;
    return b;
}
[[noreturn]] inline void fail(const char *msg) {
    Block *b = current();
    fprintf(stderr, "cuda emu: %s (block %u,%u,%u thread %u,%u,%u)\n", msg, b ? b->bid.x : 0, b ? b->bid.y : 0,
            b ? b->bid.z : 0, b ? b->f[b->cur].tid.x : 0, b ? b->f[b->cur].tid.y : 0, b ? b->f[b->cur].tid.z : 0);
    abort();
}
inline int linear_tid(const Block *b, int i) {
    const uint3 &t = b->f[i].tid;
    return (int)(t.x + t.y * b->bdim.x + t.z * b->bdim.x * b->bdim.y);
}
inline void yield(int why) {
    Block *b = current();
    b->f[b->cur].wait = why;
    swapcontext(&b->f[b->cur].ctx, &b->sched);
}
inline void fiber_entry() {
    Block *b = current();
    b->body();
    b->f[b->cur].done = true;  // uc_link returns to the scheduler
}
inline void *dynamic_smem() { return current()->smem.data(); }

// Runs one block to completion; barriers are released when every live thread (warp lane) waits.
// getcontext only initialises each fiber here (it never returns twice), so GCC's setjmp-style
// -Wclobbered warning about the loop variable does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wclobbered"
inline void run_block(Block &b) {
    const int n = (int)b.f.size();
    const size_t stack_bytes = 256 * 1024;
    for (int i = 0; i < n; i++) {
        Fiber &f = b.f[i];
        f.done = false;
        f.wait = RUN;
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack;
        f.ctx.uc_stack.ss_size = stack_bytes;
        f.ctx.uc_link = &b.sched;
        makecontext(&f.ctx, fiber_entry, 0);
    }
    const int warps = (n + 31) / 32;
    for (;;) {
        bool ran = false;
        for (int i = 0; i < n; i++)
            if (!b.f[i].done && b.f[i].wait == RUN) {
                b.cur = i;
                swapcontext(&b.sched, &b.f[i].ctx);
                ran = true;
            }
        int live = 0, at_block = 0;
        for (int i = 0; i < n; i++)
            if (!b.f[i].done) {
                live++;
                at_block += b.f[i].wait == AT_BLOCK;
            }
        if (live == 0) return;
        bool released = false;
        if (at_block == live) {
            for (int i = 0; i < n; i++) b.f[i].wait = RUN;
            released = true;
        }
        for (int w = 0; w < warps; w++) {
            int lanes = 0, at_warp = 0, done = 0;
            for (int i = 32 * w; i < n && i < 32 * w + 32; i++) {
                if (b.f[i].done) done++;
                else {
                    lanes++;
                    at_warp += b.f[i].wait == AT_WARP;
                }
            }
            if (at_warp > 0 && at_warp == lanes) {
                if (done > 0 || lanes < 32) {
                    b.cur = 32 * w;
                    fail("full-mask warp intrinsic with exited or missing lanes");
                }
                for (int i = 32 * w; i < 32 * w + 32; i++) b.f[i].wait = RUN;
                released = true;
            }
        }
        if (!ran && !released) fail("deadlock: threads wait at barriers that not every live thread reaches");
    }
}
#pragma GCC diagnostic pop

template <class F>
struct Launch {
    F kernel;
    dim3 grid, block;
    size_t smem;
    template <class... A>
    void operator()(A... args) {
        if (block.x * block.y * block.z == 0 || block.x * block.y * block.z > 1024) fail("bad block size");
        if (grid.y > 65535 || grid.z > 65535) fail("grid y/z > 65535");
        static std::vector<char> stacks;
        const int n = (int)(block.x * block.y * block.z);
        const size_t stack_bytes = 256 * 1024;
        if (stacks.size() < (size_t)n * stack_bytes) stacks.resize((size_t)n * stack_bytes);
        Block b;
        b.f.resize(n);
        for (int i = 0; i < n; i++) {
            b.f[i].stack = stacks.data() + (size_t)i * stack_bytes;
            b.f[i].tid = uint3{(unsigned)(i % block.x), (unsigned)((i / block.x) % block.y),
                               (unsigned)(i / (block.x * block.y))};
        }
        b.bdim = block;
        b.gdim = grid;
        b.slots.resize(n);
        F k = kernel;
        b.body = [k, args...]() { k(args...); };
        Block *saved = current();
        current() = &b;
        for (unsigned z = 0; z < grid.z; z++)
            for (unsigned y = 0; y < grid.y; y++)
                for (unsigned x = 0; x < grid.x; x++) {
                    b.bid = uint3{x, y, z};
                    b.smem.assign(smem, 0xFF);  // uninitialised shared memory reads as NaN
                    run_block(b);
                }
        current() = saved;
    }
};
template <class F>
inline Launch<F> launch(F kernel, dim3 grid, dim3 block, size_t smem = 0, cudaStream_t = nullptr) {
    return Launch<F>{kernel, grid, block, smem};
}

inline uint3 tid() { return current()->f[current()->cur].tid; }
inline uint3 bid() { return current()->bid; }
inline uint3 bdim() { return uint3{current()->bdim.x, current()->bdim.y, current()->bdim.z}; }
inline uint3 gdim() { return uint3{current()->gdim.x, current()->gdim.y, current()->gdim.z}; }

// Warp exchange: every lane posts a value, all meet, each reads the one it wants, all meet again.
template <class T>
inline T exchange(T v, int (*src)(int lane, int arg), int arg, bool *ok = nullptr) {
    static_assert(sizeof(T) <= 8, "8-byte slots");
    Block *b = current();
    int me = linear_tid(b, b->cur), lane = me & 31, base = me - lane;
    uint64_t s = 0;
    memcpy(&s, &v, sizeof(T));
    b->slots[me] = s;
    yield(AT_WARP);
    int from = src(lane, arg);
    if (ok) *ok = from >= 0 && from < 32;
    T r;
    uint64_t got = b->slots[base + (from >= 0 && from < 32 ? from : lane)];
    memcpy(&r, &got, sizeof(T));
    yield(AT_WARP);
    return r;
}
inline int src_idx(int, int arg) { return arg; }
inline int src_xor(int lane, int arg) { return lane ^ arg; }
}  // namespace emu

#define threadIdx (emu::tid())
#define blockIdx (emu::bid())
#define blockDim (emu::bdim())
#define gridDim (emu::gdim())
#define EMU_LAUNCH(k, ...) emu::launch(k, __VA_ARGS__)

inline void __syncthreads() { emu::yield(emu::AT_BLOCK); }
template <class T>
inline T __shfl_sync(unsigned mask, T v, int src) {
    if (mask != 0xFFFFFFFFu) emu::fail("only full-mask shuffles are emulated");
    return emu::exchange<T>(v, emu::src_idx, src & 31);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int m) {
    if (mask != 0xFFFFFFFFu) emu::fail("only full-mask shuffles are emulated");
    return emu::exchange<T>(v, emu::src_xor, m);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
    if (mask != 0xFFFFFFFFu) emu::fail("only full-mask ballots are emulated");
    emu::Block *b = emu::current();
    int me = emu::linear_tid(b, b->cur), base = me & ~31;
    b->slots[me] = pred != 0;
    emu::yield(emu::AT_WARP);
    unsigned r = 0;
    for (int l = 0; l < 32; l++) r |= (unsigned)(b->slots[base + l] != 0) << l;
    emu::yield(emu::AT_WARP);
    return r;
}

// ---- device intrinsics --------------------------------------------------------------------------------
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline float __int_as_float(int i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}
inline int __ffs(int x) { return __builtin_ffs(x); }
// g++ here does not contract a*b+c (no FMA in the baseline target, -ffp-contract=off): the _rn
// intrinsics are plain IEEE operations.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }

// ---- runtime API -----------------------------------------------------------------------------------------
inline cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char *cudaGetErrorString(cudaError_t e) { return e ? "emulated error" : "no error"; }
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaGetDevice(int *d) {
    *d = 0;
    return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CPU emulation (tests/gpu/emu)");
    p->multiProcessorCount = 1;
    p->major = 9;
    return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int) {
    *v = a == cudaDevAttrMaxSharedMemoryPerBlockOptin ? 227 * 1024 : a == cudaDevAttrClockRate ? 1000000 : 1;
    return cudaSuccess;
}
inline cudaError_t cudaFuncSetAttribute(const void *, cudaFuncAttribute, int) { return cudaSuccess; }
inline cudaError_t cudaMalloc(void **p, size_t bytes) {
    if (posix_memalign(p, 256, bytes ? bytes : 1) != 0) return cudaErrorInvalidValue;  // exact size: ASan sees overruns
    memset(*p, 0xFF, bytes);  // uninitialised device memory reads as NaN
    return cudaSuccess;
}
template <class T>
inline cudaError_t cudaMalloc(T **p, size_t bytes) {
    return cudaMalloc((void **)p, bytes);
}
inline cudaError_t cudaFree(void *p) {
    free(p);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind) {
    memmove(d, s, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind k, cudaStream_t = nullptr) {
    return cudaMemcpy(d, s, n, k);
}
inline cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t = nullptr) {
    memset(p, v, n);
    return cudaSuccess;
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) {
    *s = (cudaStream_t)malloc(1);
    return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
    free(s);
    return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = (cudaEvent_t)malloc(1);
    return cudaSuccess;
}
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned) { return cudaEventCreate(e); }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
    free(e);
    return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t = nullptr) { return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t, cudaEvent_t) {
    *ms = 0.0f;
    return cudaSuccess;
}
inline cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
