// tests/gpu/emu/cuda_runtime.h: a CPU emulation of the slice of CUDA the eir-dist kernels use,
// so that their LOGIC (indexing, layouts, barriers, warp ballots and shuffles, the Philox
// streams, the reduction orders) can be run against the CPU layers on a machine without a GPU
// (tests/gpu/emu/run.sh), and the whole CUDA backend with it (cmake -DEIR_CUDA=EMU). It replaces
// the real <cuda_runtime.h>, <cublas_v2.h>, <cuda_bf16.h> and <nccl.h> on the include path of a g++
// build of src/model/*.cu and src/dist/*.cu (launches rewritten from <<<...>>> by rewrite.pl).
//
// Model: blocks run one after another; the threads of a block are fibers (ucontext) of one OS
// thread, switched at __syncthreads and at warp-synchronous intrinsics, which are real barriers
// here: a barrier that not every live thread of the block (warp) reaches is reported as a
// deadlock, and a full-mask warp intrinsic with exited lanes is reported as an error.
// cudaMalloc'd and dynamic shared memory start as 0xFF bytes (NaN floats), so reads of memory
// nobody wrote show up. Streams are LAZY, the GPU's asynchrony at its least favourable to the
// host: kernels, async copies and memsets and cuBLAS calls queued on a stream run only when
// something makes them (a stream, event or device synchronisation, a stream waiting on an event,
// a synchronous copy or memset on the legacy stream, cudaFree), so a host read of results
// without the right wait sees stale memory, and a pinned buffer rewritten before its queued copy
// ran sends the new contents: the tests then fail. Copies from pageable host memory take the data
// at the call, and copies to it wait for their stream, as CUDA's do. NCCL calls run their stream's
// queue and then run at once (their MPI order stays the host's). EIR_EMU_EAGER=1 runs every call
// when it is made instead; EIR_EMU_SCHEDULE=alternate runs every other stream's work early. Timings are meaningless. Pinned host memory is plain malloc. Devices: 1, or EIR_EMU_GPUS=N of them (all share the host memory);
// EIR_EMU_NO_GPU=1 makes cudaGetDeviceCount fail as on a machine without a GPU (cudaErrorNoDevice),
// for the CPU-fallback paths.
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

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
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
// The values are the real headers' (driver_types.h).
typedef int cudaError_t;
enum {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorNotReady = 600,
};
typedef struct emu_stream *cudaStream_t;
typedef struct emu_event *cudaEvent_t;
enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};
enum { cudaStreamDefault = 0, cudaStreamNonBlocking = 1 };
enum { cudaEventDefault = 0, cudaEventBlockingSync = 1, cudaEventDisableTiming = 2 };
enum { cudaHostAllocDefault = 0, cudaHostAllocPortable = 1, cudaHostAllocMapped = 2, cudaHostAllocWriteCombined = 4 };
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
    size_t totalGlobalMem, sharedMemPerBlock, sharedMemPerBlockOptin;
    int multiProcessorCount, major, minor, warpSize, maxThreadsPerBlock;
};

namespace emu {
// ---- fibers --------------------------------------------------------------------------------------------
// Switching: with EMU_FAST_SWITCH (the default), each fiber is made once per host thread with
// ucontext and kept for every later block and launch; the switches themselves are
// __builtin_setjmp / __builtin_longjmp, which make no system call (swapcontext saves and restores
// the signal mask with one each time, which had the emulation spend most of its time in the
// kernel). Under AddressSanitizer (or -DEMU_FAST_SWITCH=0) the fibers are swapcontext'ed and made
// anew for every block, which ASan follows from stack to stack.
#ifndef EMU_FAST_SWITCH
#if defined(__SANITIZE_ADDRESS__)
#define EMU_FAST_SWITCH 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_FAST_SWITCH 0
#endif
#endif
#endif
#ifndef EMU_FAST_SWITCH
#define EMU_FAST_SWITCH 1
#endif
const size_t STACK_BYTES = 256 * 1024;
enum { RUN = 0, AT_BLOCK = 1, AT_WARP = 2 };
// One fiber of the host thread's pool: fiber i runs thread i of whatever block is current.
struct Slot {
    ucontext_t ctx;
    char *stack;
    void *jb[5];   // __builtin_setjmp buffer: where the fiber was left
    bool started;  // fast switch: made and entered once, then only jumped to
};
struct Pool {
    std::vector<Slot *> slots;
    ~Pool() {  // at the thread's exit: no fiber runs any more
        for (Slot *s : slots) {
            free(s->stack);
            free(s);
        }
    }
};
inline std::vector<Slot *> &pool() {
    static thread_local Pool p;
    return p.slots;
}
struct Fiber {
    Slot *slot;
    bool done;
    int wait;
    uint3 tid;
};
struct Block {
    std::vector<Fiber> f;
    ucontext_t sched;
    void *sched_jb[5];  // fast switch: the scheduler's place, where fibers jump back to
    int cur = 0;
    uint3 bid;
    dim3 bdim, gdim;
    std::function<void()> body;
    std::vector<unsigned char> smem;
    std::vector<uint64_t> slots;  // one 8-byte slot per thread for warp exchanges
};
inline Block *&current() {
    static thread_local Block *b = nullptr;
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
// The first n fibers of the pool (made as needed; their stacks are committed as they are used).
inline void pool_reserve(int n) {
    std::vector<Slot *> &p = pool();
    while ((int)p.size() < n) {
        Slot *s = (Slot *)calloc(1, sizeof(Slot));
        if (!s || !(s->stack = (char *)malloc(STACK_BYTES))) fail("out of memory for fiber stacks");
        p.push_back(s);
    }
}
#if EMU_FAST_SWITCH
[[gnu::noinline]] inline void jump(void **jb) { __builtin_longjmp(jb, 1); }
// The calling fiber waits (`why`) and the scheduler goes on; returns when the scheduler resumes it.
[[gnu::noinline]] inline void yield(int why) {
    Block *b = current();
    Fiber &f = b->f[b->cur];
    f.wait = why;
    if (__builtin_setjmp(f.slot->jb) == 0) jump(b->sched_jb);
}
// A pool fiber's life: thread `cur` of the current block, then park (done) until the next block
// (of this launch or a later one) resumes it. It never returns.
inline void fiber_main() {
    for (;;) {
        Block *b = current();
        b->body();
        b->f[b->cur].done = true;
        yield(RUN);
    }
}
// The scheduler runs fiber i until it waits or is done.
[[gnu::noinline]] inline void resume(Block &b, int i) {
    b.cur = i;
    Slot *s = b.f[i].slot;
    if (__builtin_setjmp(b.sched_jb) == 0) {
        if (s->started) jump(s->jb);
        s->started = true;
        getcontext(&s->ctx);
        s->ctx.uc_stack.ss_sp = s->stack;
        s->ctx.uc_stack.ss_size = STACK_BYTES;
        s->ctx.uc_link = nullptr;
        makecontext(&s->ctx, fiber_main, 0);
        setcontext(&s->ctx);
    }
}
inline void start_block(Block &) {}
#else
inline void yield(int why) {
    Block *b = current();
    b->f[b->cur].wait = why;
    swapcontext(&b->f[b->cur].slot->ctx, &b->sched);
}
inline void fiber_entry() {
    Block *b = current();
    b->body();
    b->f[b->cur].done = true;  // uc_link returns to the scheduler
}
inline void resume(Block &b, int i) {
    b.cur = i;
    swapcontext(&b.sched, &b.f[i].slot->ctx);
}
// Every fiber made anew at its entry point.
// getcontext only initialises each fiber here (it never returns twice), so GCC's setjmp-style
// -Wclobbered warning about the loop variable does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wclobbered"
inline void start_block(Block &b) {
    for (size_t i = 0; i < b.f.size(); i++) {
        Slot *s = b.f[i].slot;
        getcontext(&s->ctx);
        s->ctx.uc_stack.ss_sp = s->stack;
        s->ctx.uc_stack.ss_size = STACK_BYTES;
        s->ctx.uc_link = &b.sched;
        makecontext(&s->ctx, fiber_entry, 0);
    }
}
#pragma GCC diagnostic pop
#endif
inline void *dynamic_smem() { return current()->smem.data(); }

// Runs one block to completion; barriers are released when every live thread (warp lane) waits.
inline void run_block(Block &b) {
    const int n = (int)b.f.size();
    for (int i = 0; i < n; i++) {
        b.f[i].done = false;
        b.f[i].wait = RUN;
    }
    start_block(b);
    const int warps = (n + 31) / 32;
    for (;;) {
        bool ran = false;
        for (int i = 0; i < n; i++)
            if (!b.f[i].done && b.f[i].wait == RUN) {
                resume(b, i);
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

// ---- lazy streams ---------------------------------------------------------------------------------------
inline bool eager() {
    static const bool e = getenv("EIR_EMU_EAGER") && strcmp(getenv("EIR_EMU_EAGER"), "1") == 0;
    return e;
}
// EIR_EMU_SCHEDULE=alternate: the streams created 1st, 3rd, ... (after the legacy one) run their
// work as soon as it is queued (after what it waits for), the others late: one stream racing
// ahead of another, e.g. a copy stream overwriting a buffer that a late kernel still has to read.
inline bool alternate() {
    static const bool a = getenv("EIR_EMU_SCHEDULE") && strcmp(getenv("EIR_EMU_SCHEDULE"), "alternate") == 0;
    return a;
}
inline int &streams_created() {
    static int n = 0;
    return n;
}
// One lock for every queue and for running queued work: host threads (eir-serve's workers) then
// never run kernels at the same time (__shared__ arrays are static here).
inline std::recursive_mutex &qlock() {
    static std::recursive_mutex m;
    return m;
}
inline std::vector<emu_stream *> &all_streams() {
    static std::vector<emu_stream *> v;
    return v;
}
}  // namespace emu

struct emu_stream {
    std::deque<std::function<void()>> ops;
    uint64_t enq = 0, done = 0;  // ops queued and run so far
    bool blocking = true;        // not cudaStreamNonBlocking: ordered with the legacy stream
    bool running = false;
    bool early = false;          // EIR_EMU_SCHEDULE=alternate: runs its work when queued
};
struct emu_event {
    emu_stream *q = nullptr;  // recorded on q when q had queued `pos` ops
    uint64_t pos = 0;
};

namespace emu {
inline emu_stream *legacy_stream() {
    static emu_stream *q = [] {
        emu_stream *n = new emu_stream;
        all_streams().push_back(n);
        return n;
    }();
    return q;
}
inline emu_stream *queue_of(cudaStream_t s) { return s ? s : legacy_stream(); }
// Runs q's ops until `upto` have run (ops may run other streams' ops: event waits).
inline void flush(emu_stream *q, uint64_t upto) {
    std::lock_guard<std::recursive_mutex> g(qlock());
    if (q->done >= upto) return;
    if (q->running) fail("a stream waits for its own later work (a cycle of event waits)");
    while (q->done < upto) {
        std::function<void()> f = std::move(q->ops.front());
        q->ops.pop_front();
        q->running = true;
        f();
        q->running = false;
        q->done++;
    }
}
inline void drain(emu_stream *q) { flush(q, q->enq); }
inline void drain_all() {
    std::lock_guard<std::recursive_mutex> g(qlock());
    for (size_t i = 0; i < all_streams().size(); i++) drain(all_streams()[i]);
}
// What a synchronous call on the legacy stream waits for: it and the blocking streams.
inline void drain_legacy() {
    std::lock_guard<std::recursive_mutex> g(qlock());
    for (emu_stream *o : all_streams())
        if (o->blocking) drain(o);
}
inline void push(emu_stream *q, std::function<void()> f) {
    q->ops.push_back(std::move(f));
    q->enq++;
}
// Queues f on s (eager: runs it). The legacy stream waits for the blocking streams' earlier work
// and they for its, as in CUDA.
inline void enqueue(cudaStream_t s, std::function<void()> f) {
    if (eager()) {
        f();
        return;
    }
    std::lock_guard<std::recursive_mutex> g(qlock());
    emu_stream *q = queue_of(s), *leg = legacy_stream();
    if (q->blocking)
        for (emu_stream *o : all_streams())
            if (o != q && o->blocking && (q == leg || o == leg) && o->enq > o->done) {
                uint64_t pos = o->enq;
                push(q, [o, pos] { flush(o, pos); });
            }
    push(q, std::move(f));
    if (q->early) drain(q);
}
// Pinned host memory (cudaHostAlloc), for the copy rules of cudaMemcpyAsync.
inline std::map<uintptr_t, size_t> &pinned_ranges() {
    static std::map<uintptr_t, size_t> m;
    return m;
}
inline bool is_pinned(const void *p) {
    std::lock_guard<std::recursive_mutex> g(qlock());
    uintptr_t a = (uintptr_t)p;
    auto it = pinned_ranges().upper_bound(a);
    if (it == pinned_ranges().begin()) return false;
    --it;
    return a < it->first + it->second;
}

template <class F>
struct Launch {
    F kernel;
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    template <class... A>
    void operator()(A... args) {
        if (block.x * block.y * block.z == 0 || block.x * block.y * block.z > 1024) fail("bad block size");
        if (grid.y > 65535 || grid.z > 65535) fail("grid y/z > 65535");
        if (current()) fail("kernel launched from a kernel (not emulated)");
        F k = kernel;
        dim3 g = grid, bl = block;
        size_t sm = smem;
        enqueue(stream, [k, g, bl, sm, args...]() { run(k, g, bl, sm, args...); });
    }
    template <class... A>
    static void run(F kernel, dim3 grid, dim3 block, size_t smem, A... args) {
        const int n = (int)(block.x * block.y * block.z);
        pool_reserve(n);
        Block b;
        b.f.resize(n);
        for (int i = 0; i < n; i++) {
            b.f[i].slot = pool()[i];
            b.f[i].tid = uint3{(unsigned)(i % block.x), (unsigned)((i / block.x) % block.y),
                               (unsigned)(i / (block.x * block.y))};
        }
        b.bdim = block;
        b.gdim = grid;
        b.slots.resize(n);
        F k = kernel;
        b.body = [k, args...]() { k(args...); };
        current() = &b;
        for (unsigned z = 0; z < grid.z; z++)
            for (unsigned y = 0; y < grid.y; y++)
                for (unsigned x = 0; x < grid.x; x++) {
                    b.bid = uint3{x, y, z};
                    b.smem.assign(smem, 0xFF);  // uninitialised shared memory reads as NaN
                    run_block(b);
                }
        current() = nullptr;
    }
};
template <class F>
inline Launch<F> launch(F kernel, dim3 grid, dim3 block, size_t smem = 0, cudaStream_t stream = nullptr) {
    return Launch<F>{kernel, grid, block, smem, stream};
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
inline float emu_rsqrtf(float a) { return 1.0f / sqrtf(a); }
#define rsqrtf emu_rsqrtf  // a macro: C23's libm may declare its own rsqrtf
template <class T>
inline T __ldg(const T *p) {
    return *p;
}
// Atomics: fibers switch only at barriers, so a read-modify-write is atomic here.
template <class T, class U>
inline T atomicAdd(T *p, U v) {
    T old = *p;
    *p = old + (T)v;
    return old;
}
template <class T>
inline T atomicMax(T *p, T v) {
    T old = *p;
    if (v > old) *p = v;
    return old;
}
template <class T>
inline T atomicMin(T *p, T v) {
    T old = *p;
    if (v < old) *p = v;
    return old;
}
template <class T>
inline T atomicCAS(T *p, T cmp, T v) {
    T old = *p;
    if (old == cmp) *p = v;
    return old;
}

// ---- runtime API -----------------------------------------------------------------------------------------
namespace emu {
// The error the next cudaGetLastError / cudaPeekAtLastError returns (one host thread drives a device).
inline cudaError_t &last_error() {
    static thread_local cudaError_t e = cudaSuccess;
    return e;
}
inline cudaError_t fail_call(cudaError_t e) {
    last_error() = e;
    return e;
}
// Emulated devices: EIR_EMU_NO_GPU=1 -> none (cudaGetDeviceCount fails); EIR_EMU_GPUS=N -> N; else 1.
inline int device_count() {
    const char *none = getenv("EIR_EMU_NO_GPU");
    if (none && strcmp(none, "1") == 0) return 0;
    const char *n = getenv("EIR_EMU_GPUS");
    if (n && *n) {
        int k = atoi(n);
        return k > 0 ? k : 0;
    }
    return 1;
}
inline int &current_device() {
    static thread_local int d = 0;
    return d;
}
}  // namespace emu

inline cudaError_t cudaGetDeviceCount(int *n) {
    *n = emu::device_count();
    return *n > 0 ? cudaSuccess : emu::fail_call(cudaErrorNoDevice);  // as the real runtime without a GPU
}
// Each emulated device has its own bus id, as the GPUs of a node do.
inline cudaError_t cudaDeviceGetPCIBusId(char *buf, int len, int device) {
    if (device < 0 || device >= emu::device_count() || len < 13) return emu::fail_call(cudaErrorInvalidValue);
    snprintf(buf, (size_t)len, "0000:%02x:00.0", device + 1);
    return cudaSuccess;
}
inline cudaError_t cudaGetLastError() {
    cudaError_t e = emu::last_error();
    emu::last_error() = cudaSuccess;
    return e;
}
inline cudaError_t cudaPeekAtLastError() { return emu::last_error(); }
inline const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument (emulated)";
    case cudaErrorMemoryAllocation: return "out of memory (emulated)";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected (emulated: EIR_EMU_NO_GPU=1)";
    case cudaErrorInvalidDevice: return "invalid device ordinal (emulated)";
    case cudaErrorNotReady: return "device not ready (emulated)";
    default: return "emulated error";
    }
}
inline const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    default: return "cudaErrorUnknown";
    }
}
inline cudaError_t cudaSetDevice(int d) {
    if (d < 0 || d >= emu::device_count()) return emu::fail_call(cudaErrorInvalidDevice);
    emu::current_device() = d;
    return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int *d) {
    *d = emu::current_device();
    return cudaSuccess;
}
inline cudaError_t cudaDeviceReset() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) {
    if (d < 0 || d >= emu::device_count()) return emu::fail_call(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CPU emulation (tests/gpu/emu)");
    p->totalGlobalMem = (size_t)80 << 30;
    p->sharedMemPerBlock = 48 * 1024;
    p->sharedMemPerBlockOptin = 227 * 1024;
    p->multiProcessorCount = 1;
    p->major = 9;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d) {
    if (d < 0 || d >= emu::device_count()) return emu::fail_call(cudaErrorInvalidDevice);
    *v = a == cudaDevAttrMaxSharedMemoryPerBlockOptin ? 227 * 1024 : a == cudaDevAttrClockRate ? 1000000 : 1;
    return cudaSuccess;
}
inline cudaError_t cudaFuncSetAttribute(const void *, cudaFuncAttribute, int) { return cudaSuccess; }
// Free and total device memory: fixed, large numbers (80 GiB of which 79 free).
inline cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    *total_bytes = (size_t)80 << 30;
    *free_bytes = (size_t)79 << 30;
    return cudaSuccess;
}
inline cudaError_t cudaMalloc(void **p, size_t bytes) {
    // exact size: ASan sees overruns
    if (posix_memalign(p, 256, bytes ? bytes : 1) != 0) return emu::fail_call(cudaErrorMemoryAllocation);
    memset(*p, 0xFF, bytes);  // uninitialised device memory reads as NaN
    return cudaSuccess;
}
template <class T>
inline cudaError_t cudaMalloc(T **p, size_t bytes) {
    return cudaMalloc((void **)p, bytes);
}
inline cudaError_t cudaFree(void *p) {
    emu::drain_all();  // as CUDA: cudaFree waits for the device
    free(p);
    return cudaSuccess;
}
// Page-locked host memory: plain host memory here (poisoned like device memory: it is not zeroed
// by the real calls either).
inline cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned flags) {
    if (flags & ~(unsigned)(cudaHostAllocPortable | cudaHostAllocMapped | cudaHostAllocWriteCombined))
        return emu::fail_call(cudaErrorInvalidValue);
    *p = malloc(bytes ? bytes : 1);
    if (!*p) return emu::fail_call(cudaErrorMemoryAllocation);
    memset(*p, 0xFF, bytes);
    std::lock_guard<std::recursive_mutex> g(emu::qlock());
    emu::pinned_ranges()[(uintptr_t)*p] = bytes ? bytes : 1;
    return cudaSuccess;
}
template <class T>
inline cudaError_t cudaHostAlloc(T **p, size_t bytes, unsigned flags) {
    return cudaHostAlloc((void **)p, bytes, flags);
}
inline cudaError_t cudaMallocHost(void **p, size_t bytes) { return cudaHostAlloc(p, bytes, cudaHostAllocDefault); }
template <class T>
inline cudaError_t cudaMallocHost(T **p, size_t bytes) {
    return cudaMallocHost((void **)p, bytes);
}
inline cudaError_t cudaFreeHost(void *p) {
    emu::drain_all();
    std::lock_guard<std::recursive_mutex> g(emu::qlock());
    emu::pinned_ranges().erase((uintptr_t)p);
    free(p);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind k) {
    if ((unsigned)k > (unsigned)cudaMemcpyDefault) return emu::fail_call(cudaErrorInvalidValue);
    if (n && (!d || !s)) return emu::fail_call(cudaErrorInvalidValue);
    emu::drain_legacy();  // on the legacy stream: after its work and the blocking streams'
    memmove(d, s, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind k, cudaStream_t stream = nullptr) {
    if ((unsigned)k > (unsigned)cudaMemcpyDefault) return emu::fail_call(cudaErrorInvalidValue);
    if (n && (!d || !s)) return emu::fail_call(cudaErrorInvalidValue);
    if (n == 0) return cudaSuccess;
    if (k == cudaMemcpyHostToDevice && !emu::is_pinned(s)) {  // pageable source: taken at the call
        std::shared_ptr<std::vector<char>> tmp = std::make_shared<std::vector<char>>((const char *)s, (const char *)s + n);
        emu::enqueue(stream, [d, tmp, n] { memmove(d, tmp->data(), n); });
        return cudaSuccess;
    }
    if (k == cudaMemcpyDeviceToHost && !emu::is_pinned(d)) {  // pageable destination: returns when done
        if (!emu::eager()) emu::drain(emu::queue_of(stream));
        memmove(d, s, n);
        return cudaSuccess;
    }
    emu::enqueue(stream, [d, s, n] { memmove(d, s, n); });
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void *p, int v, size_t n) {
    emu::drain_legacy();
    memset(p, v, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t stream = nullptr) {
    emu::enqueue(stream, [p, v, n] { memset(p, v, n); });
    return cudaSuccess;
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
    std::lock_guard<std::recursive_mutex> g(emu::qlock());
    emu::legacy_stream();  // registered first
    emu_stream *q = new emu_stream;
    q->blocking = !(flags & cudaStreamNonBlocking);
    q->early = emu::alternate() && (emu::streams_created()++ % 2 == 1);
    emu::all_streams().push_back(q);
    *s = q;
    return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
    if (!s) return emu::fail_call(cudaErrorInvalidValue);
    std::lock_guard<std::recursive_mutex> g(emu::qlock());
    emu::drain(s);  // CUDA finishes a destroyed stream's work
    std::vector<emu_stream *> &v = emu::all_streams();
    for (size_t i = 0; i < v.size(); i++)
        if (v[i] == s) v.erase(v.begin() + (long)i);
    delete s;
    return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    emu::drain(emu::queue_of(s));
    return cudaSuccess;
}
inline cudaError_t cudaStreamQuery(cudaStream_t s) { return cudaStreamSynchronize(s); }  // runs it: then done
inline cudaError_t cudaDeviceSynchronize() {
    emu::drain_all();
    return cudaSuccess;
}
inline cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = new emu_event;
    return cudaSuccess;
}
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned) { return cudaEventCreate(e); }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr) {
    if (!e) return emu::fail_call(cudaErrorInvalidValue);
    std::lock_guard<std::recursive_mutex> g(emu::qlock());
    e->q = emu::queue_of(s);
    e->pos = e->q->enq;
    return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    if (!e) return emu::fail_call(cudaErrorInvalidValue);
    if (e->q) emu::flush(e->q, e->pos);
    return cudaSuccess;
}
inline cudaError_t cudaEventQuery(cudaEvent_t e) { return cudaEventSynchronize(e); }  // runs it: then done
inline cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t, cudaEvent_t) {
    *ms = 0.0f;
    return cudaSuccess;
}
inline cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned = 0) {
    if (!e) return emu::fail_call(cudaErrorInvalidValue);
    emu_stream *q = e->q;  // the event as recorded now: later records do not matter
    uint64_t pos = e->pos;
    if (q) emu::enqueue(s, [q, pos] { emu::flush(q, pos); });
    return cudaSuccess;
}
