// model_internal.h: what the model_*.c files share and nobody else needs: the byte vocabulary
// and the random-stream site numbers.
#pragma once
#include "model/model.h"

#define MODEL_BYTE_VOCAB 261  // 256 byte values + 5 specials (spec §2.2)

// Every dropout / stochastic-depth site has its own stream purpose, rng_purpose(kind, site),
// site < 2^20: inputs (i << 16 | (layer+1) << 4 | kind; kinds 1, 2 local layers, 5, 6 global
// layers), fusion blocks (0x80000 | b << 4 | 3),
// head blocks (0x90000 | t << 8 | b << 4 | 3) and the head's final dropout (... | 0xF4).
#define MODEL_SITE_MAX_LAYERS 4094
#define MODEL_SITE_MAX_BLOCKS 4095
#define MODEL_SITE_MAX_HEAD_BLOCKS 14
static inline uint32_t site_position(int i) { return (uint32_t)i << 16; }
static inline uint32_t site_attention(int i, int l) { return (uint32_t)i << 16 | (uint32_t)(l + 1) << 4 | 1u; }
static inline uint32_t site_attention_out(int i, int l) { return (uint32_t)i << 16 | (uint32_t)(l + 1) << 4 | 2u; }
static inline uint32_t site_global_attention(int i, int l) { return (uint32_t)i << 16 | (uint32_t)(l + 1) << 4 | 5u; }
static inline uint32_t site_global_attention_out(int i, int l) { return (uint32_t)i << 16 | (uint32_t)(l + 1) << 4 | 6u; }
static inline uint32_t site_fusion_block(int b) { return 0x80000u | (uint32_t)b << 4 | 3u; }
static inline uint32_t site_head_block(int t, int b) { return 0x90000u | (uint32_t)t << 8 | (uint32_t)b << 4 | 3u; }
static inline uint32_t site_head_final(int t) { return 0x90000u | (uint32_t)t << 8 | 0xF4u; }
