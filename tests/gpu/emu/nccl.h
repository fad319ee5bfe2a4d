// tests/gpu/emu/nccl.h: just the NCCL types cuda_common.h names, for the CPU emulation (the NCCL
// communicator itself, src/dist/comm_nccl.cu, is not emulated).
#pragma once
typedef int ncclResult_t;
enum { ncclSuccess = 0 };
inline const char *ncclGetErrorString(ncclResult_t) { return "emulated NCCL error"; }
