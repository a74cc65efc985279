/* Fused full-batch training of STSTNet on the CPU (one fold, every epoch in one call).
 *
 * Exact re-statement of the PyTorch model mextk.models.flownets.STSTNet in
 * training mode: three 3x3 convolutions (padding 2) side by side = one
 * 16-channel convolution, ReLU, batch normalisation (batch statistics),
 * 3x3 max-pooling (stride 3, padding 1), dropout, 2x2 average pooling,
 * a linear layer, (weighted) cross-entropy with mean reduction, then Adam
 * or SGD with momentum exactly as torch.optim implements them.
 *
 * Why it is fast: a plain PyTorch step makes about a dozen passes over the
 * 436 x 16 x 30 x 30 first-layer activations (convolution output, ReLU, batch
 * norm statistics and output, pooling, and all their backward passes).  Here
 * one pass computes the convolution, ReLU, the batch statistics and the pooled
 * maxima with their positions; the rest of the network is tiny.  The
 * backward pass reads the stored convolution output once and accumulates
 * the weight gradient.  Batch norm's backward reduces to
 *   dL/dr = a*g_sparse + beta_c*r + kappa_c
 * (g is non-zero only at the pooled maxima), so dL/dz = [z > 0] * dL/dr.
 * Maxima of BN(r) = a*r + d are maxima of sign(a)*r, so pooling runs on r.
 *
 * Channels are the 16 lanes of one vector (AVX-512 intrinsics where the CPU
 * has it, GCC vector extensions elsewhere).  Compiled with -DMEXTK_PROFILE it
 * prints the milliseconds per step of each phase.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define NC 16       /* convolution channels (3 + 5 + 8) */
#define NK 27       /* 3 x 3 x 3 weights per channel */
#define IN 28       /* input side */
#define PADDED 32   /* input side with padding 2 */
#define ROW (PADDED * 3)
#define CS 30       /* convolution output side */
#define NP (CS * CS)
#define PS 10       /* pooled side */
#define NW (PS * PS)
#define AS 5        /* average-pooled side */
#define NF (NC * AS * AS)  /* 400 features */

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));
typedef uint32_t vu16 __attribute__((vector_size(64)));

static inline v16 ld(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }
static inline void st(float *p, v16 v) { memcpy(p, &v, sizeof v); }
static inline vi16 ldi(const int32_t *p) { vi16 v; memcpy(&v, p, sizeof v); return v; }
static inline void sti(int32_t *p, vi16 v) { memcpy(p, &v, sizeof v); }
static inline v16 relu(v16 z) { return (v16)((vi16)z & (z > 0)); }
static inline v16 blend(vi16 m, v16 a, v16 b) { return (v16)((m & (vi16)a) | (~m & (vi16)b)); }

#ifdef MEXTK_PROFILE
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
#define TICK(i) prof[i] += now() - t0; t0 = now();
#else
#define TICK(i)
#endif

static inline uint64_t splitmix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static void pool_sample(const float *z, const float *sgn, float *rsel, int32_t *sel);

/* Forward of one sample: z (900 x 16) stored, ReLU statistics added to s1/s2,
 * pooled sign*r maxima and their positions. */
static void forward_sample(const float *x, const float *w, const float *b, const float *sgn, float *z,
                           double *s1, double *s2, float *rsel, int32_t *sel) {
    v16 sum = {0}, sq = {0};
#ifdef __AVX512F__
    __m512 mw[NK], mb = _mm512_loadu_ps(b), msum = _mm512_setzero_ps(), msq = _mm512_setzero_ps();
    for (int k = 0; k < NK; k++) mw[k] = _mm512_loadu_ps(w + k * NC);
    for (int i = 0; i < CS; i++) {
        for (int j = 0; j < CS; j++) {
            const float *r0 = x + i * ROW + j * 3, *r1 = r0 + ROW, *r2 = r1 + ROW;
            __m512 a0 = mb, a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps();
#pragma GCC unroll 9
            for (int t = 0; t < 9; t++) {
                a0 = _mm512_fmadd_ps(mw[t], _mm512_set1_ps(r0[t]), a0);
                a1 = _mm512_fmadd_ps(mw[9 + t], _mm512_set1_ps(r1[t]), a1);
                a2 = _mm512_fmadd_ps(mw[18 + t], _mm512_set1_ps(r2[t]), a2);
            }
            __m512 zz = _mm512_add_ps(_mm512_add_ps(a0, a1), a2);
            _mm512_storeu_ps(z + (i * CS + j) * NC, zz);
            __m512 r = _mm512_max_ps(zz, _mm512_setzero_ps());
            msum = _mm512_add_ps(msum, r);
            msq = _mm512_fmadd_ps(r, r, msq);
        }
    }
    _mm512_storeu_ps((float *)&sum, msum);
    _mm512_storeu_ps((float *)&sq, msq);
#else
    v16 wk[NK];
    for (int k = 0; k < NK; k++) wk[k] = ld(w + k * NC);
    for (int i = 0; i < CS; i++) {
        for (int j = 0; j < CS; j++) {
            const float *r0 = x + i * ROW + j * 3, *r1 = r0 + ROW, *r2 = r1 + ROW;
            v16 a0 = ld(b), a1 = {0}, a2 = {0};
#pragma GCC unroll 9
            for (int t = 0; t < 9; t++) {
                a0 += wk[t] * r0[t];
                a1 += wk[9 + t] * r1[t];
                a2 += wk[18 + t] * r2[t];
            }
            v16 zz = a0 + a1 + a2;
            st(z + (i * CS + j) * NC, zz);
            v16 r = relu(zz);
            sum += r;
            sq += r * r;
        }
    }
#endif
    for (int c = 0; c < NC; c++) {
        s1[c] += sum[c];
        s2[c] += sq[c];
    }
    pool_sample(z, sgn, rsel, sel);
}

/* 3x3 max-pooling (stride 3, padding 1) of one sample's convolution output: the pooled sign*r maxima
 * (r = ReLU(z)) and their positions. */
static void pool_row(const float *const rows[3], const float *sgn, int u, float *rsel, int32_t *sel);

static void pool_sample(const float *z, const float *sgn, float *rsel, int32_t *sel) {
    for (int u = 0; u < PS; u++) {
        const float *rows[3] = {u > 0 ? z + (3 * u - 1) * CS * NC : NULL, z + 3 * u * CS * NC, z + (3 * u + 1) * CS * NC};
        pool_row(rows, sgn, u, rsel, sel);
    }
}

/* Pooling windows (u, 0..9), from z's rows 3u - 1 .. 3u + 1 (rows[0..2], each 30 positions x 16 channels;
 * rows[0] is NULL for u = 0, the padding row). */
static void pool_row(const float *const rows[3], const float *sgn, int u, float *rsel, int32_t *sel) {
    v16 s = ld(sgn), best[PS];
    vi16 bidx[PS];
    for (int v = 0; v < PS; v++) {
        best[v] = (v16){0} - INFINITY;
        bidx[v] = (vi16){0};
    }
    /* the ten windows side by side (ten independent chains of comparisons, not one after another);
     * each still visits its positions row by row, left to right, so ties go to the same position */
    for (int r = 0; r < 3; r++) {
        const float *zr = rows[r];
        if (!zr) continue;
        int i = 3 * u - 1 + r;
        for (int dj = -1; dj <= 1; dj++)
            for (int v = 0; v < PS; v++) {
                int j = 3 * v + dj;
                if (j < 0 || j >= CS) continue;
                int p = i * CS + j;
                v16 val = s * relu(ld(zr + j * NC));
                vi16 gt = val > best[v];
                best[v] = blend(gt, val, best[v]);
                bidx[v] = (gt & p) | (~gt & bidx[v]);
            }
    }
    for (int v = 0; v < PS; v++) {
        st(rsel + (u * PS + v) * NC, s * best[v]);
        sti(sel + (u * PS + v) * NC, bidx[v]);
    }
}

#ifdef __AVX512F__
/* dL/dz at one position: [z > 0] (beta_c z + kappa_c + g), g the pooled gradient routed here. */
static inline __m512 conv_grad(__m512 zz, __m512 beta, __m512 kappa, __m512 g) {
    __mmask16 pos = _mm512_cmp_ps_mask(zz, _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_maskz_mov_ps(pos, _mm512_add_ps(_mm512_fmadd_ps(beta, zz, kappa), g));
}
#endif

/* Backward of one sample: weight and bias gradient of the convolution. */
static void backward_sample(const float *x, const float *z, const float *gs, const int32_t *sel,
                            const float *bc, const float *kc, float *gbuf, float *dw, float *db) {
    memset(gbuf, 0, sizeof(float) * NP * NC);
    for (int w = 0; w < NW; w++)
        for (int c = 0; c < NC; c++) gbuf[sel[w * NC + c] * NC + c] += gs[w * NC + c];
#ifdef __AVX512F__
    /* d = dL/dz = [z > 0] (beta_c z + kappa_c + sparse part); dW += d x^T */
    __m512 beta = _mm512_loadu_ps(bc), kappa = _mm512_loadu_ps(kc), accb = _mm512_setzero_ps();
    __m512 acc[NK];
    for (int k = 0; k < NK; k++) acc[k] = _mm512_setzero_ps();
    for (int i = 0; i < CS; i++) {
        const float *zr = z + i * CS * NC, *gr = gbuf + i * CS * NC, *r0 = x + i * ROW;
#pragma GCC unroll 1
        for (int j = 0; j < CS; j++, zr += NC, gr += NC, r0 += 3) {
            __m512 d = conv_grad(_mm512_loadu_ps(zr), beta, kappa, _mm512_loadu_ps(gr));
            accb = _mm512_add_ps(accb, d);
#pragma GCC unroll 9
            for (int t = 0; t < 9; t++) {
                acc[t] = _mm512_fmadd_ps(d, _mm512_set1_ps(r0[t]), acc[t]);
                acc[9 + t] = _mm512_fmadd_ps(d, _mm512_set1_ps(r0[ROW + t]), acc[9 + t]);
                acc[18 + t] = _mm512_fmadd_ps(d, _mm512_set1_ps(r0[2 * ROW + t]), acc[18 + t]);
            }
        }
    }
    for (int k = 0; k < NK; k++) _mm512_storeu_ps(dw + k * NC, _mm512_add_ps(_mm512_loadu_ps(dw + k * NC), acc[k]));
    _mm512_storeu_ps(db, _mm512_add_ps(_mm512_loadu_ps(db), accb));
#else
    v16 beta = ld(bc), kappa = ld(kc), accb = {0};
    v16 acc[NK];
    for (int k = 0; k < NK; k++) acc[k] = (v16){0};
    for (int i = 0; i < CS; i++) {
        for (int j = 0; j < CS; j++) {
            int p = i * CS + j;
            v16 zz = ld(z + p * NC);
            v16 d = (v16)((zz > 0) & (vi16)(beta * zz + kappa + ld(gbuf + p * NC)));
            accb += d;
            const float *r0 = x + i * ROW + j * 3, *r1 = r0 + ROW, *r2 = r1 + ROW;
#pragma GCC unroll 9
            for (int t = 0; t < 9; t++) {
                acc[t] += d * r0[t];
                acc[9 + t] += d * r1[t];
                acc[18 + t] += d * r2[t];
            }
        }
    }
    for (int k = 0; k < NK; k++) st(dw + k * NC, ld(dw + k * NC) + acc[k]);
    st(db, ld(db) + accb);
#endif
}

/* Samples [0, n) are split into NCH fixed chunks, each with its own accumulators, summed in chunk
 * order afterwards; threads take contiguous runs of chunks.  So the sums, and the training, do not
 * depend on the number of threads. */
#define NCH 32

typedef struct {
    void (*fn)(void *, int, int, int, int);
    void *ctx;
    int n, nt, t;
} job_t;

static void *job_main(void *arg) {
    job_t *j = arg;
    for (int c = NCH * j->t / j->nt; c < NCH * (j->t + 1) / j->nt; c++)
        j->fn(j->ctx, c, (int)((long)j->n * c / NCH), (int)((long)j->n * (c + 1) / NCH), j->t);
    return NULL;
}

static void parallel(int nt, int n, void (*fn)(void *, int, int, int, int), void *ctx) {
    job_t jobs[NCH];
    pthread_t th[NCH];
    int started[NCH] = {0};
    for (int t = 1; t < nt; t++) {
        jobs[t] = (job_t){fn, ctx, n, nt, t};
        started[t] = pthread_create(&th[t], NULL, job_main, &jobs[t]) == 0;
        if (!started[t]) job_main(&jobs[t]);
    }
    jobs[0] = (job_t){fn, ctx, n, nt, 0};
    job_main(&jobs[0]);
    for (int t = 1; t < nt; t++)
        if (started[t]) pthread_join(th[t], NULL);
}

typedef struct {
    const float *img, *w, *b, *sgn, *bc, *kc;
    const int32_t *idx;
    float *z, *rsel, *gsel, *gbuf, *gconv;
    int32_t *sel;                /* the float32 kernel's pooled positions (the bfloat16 kernel keeps none) */
    double *stats;
    const uint16_t *packed, *wb; /* the bfloat16 kernel's packed inputs and weights (NULL: float32) */
    float *zscr;                 /* its per-thread ring of convolution output rows (NR x 32 x 16) */
    uint16_t *dscr;              /* its per-thread D of every sample of a chunk (chunk_max x DV) */
    int chunk_max;               /* the most samples in a chunk */
} pass_t;

static void forward_block(void *arg, int t, int lo, int hi, int thread) {
    (void)thread;
    pass_t *c = arg;
    for (int s = lo; s < hi; s++)
        forward_sample(c->img + (size_t)c->idx[s] * PADDED * ROW, c->w, c->b, c->sgn, c->z + (size_t)s * NP * NC,
                       c->stats + t * 2 * NC, c->stats + t * 2 * NC + NC, c->rsel + (size_t)s * NW * NC,
                       c->sel + (size_t)s * NW * NC);
}

static void backward_block(void *arg, int t, int lo, int hi, int thread) {
    pass_t *c = arg;
    float *acc = c->gconv + (size_t)t * (NK + 1) * NC;
    for (int s = hi - 1; s >= lo; s--) /* newest first: the last forward outputs may still be cached */
        backward_sample(c->img + (size_t)c->idx[s] * PADDED * ROW, c->z + (size_t)s * NP * NC,
                        c->gsel + (size_t)s * NW * NC, c->sel + (size_t)s * NW * NC, c->bc, c->kc,
                        c->gbuf + (size_t)thread * NP * NC, acc, acc + NK * NC);
}


/* ---- bfloat16 convolutions on AMX (ststnet_train_bf16) ----------------------------------------
 *
 * The convolution and its weight gradient as tile matrix products (Intel AMX, TDPBF16PS: bfloat16
 * products summed in float32).
 *
 * A packed sample (ststnet_pack_bf16, once per fold) holds the padded image in bfloat16 twice:
 *  - stacked: record j of output row i is the 9 values x[i + dy][j][ch] (dy, ch = 0..2) and a 1, so
 *    that the 30 values from record j on are the 27 inputs of output position (i, j) and three 1s
 *    (k' = dx*10 + m, m = dy*3 + ch, or m = 9 for the 1s);
 *  - R: for each image row y, 9 rows m = dx*3 + ch holding x[y][j + dx][ch] over the 32 positions j,
 *    and a row of 1s.  Rows 10i .. 10i + 29 are then R_i, the transposed inputs of output row i.
 *
 * Forward, for one output row i and 16 positions j at a time: z[i][j] = A W, where row j of A is the
 * stacked row read from record j on (a stride of 10 values: one tile product per 16 positions, no
 * im2col copy), and W holds the weights, with the bias split into three bfloat16 parts (high, middle,
 * low; their sum is the float32 bias) against the three 1s.  The rows go through a ring of a few rows
 * that stays in the L1 cache: each row's ReLU sums and, once a pooling window row's three rows are
 * done, its pooled values.  Positions are not kept (see pool_max_row).
 *
 * Backward: z is recomputed the same way, bit for bit (cheaper than keeping 25 MB of it and reading it
 * back); d = dL/dz is formed in float32 as backward_sample forms it, the pooled gradient going to the
 * first position of each window whose z equals the pooled value; and dW += R_i D_i for each output row
 * i, where D_i holds the row's 32 positions' d (bfloat16, in AMX's pairs of positions).  R_i's rows of
 * 1s give the bias's gradient.  Batch norm, the head and the optimiser are the float32 kernel's.
 *
 * What bfloat16 changes: the convolution sees its inputs and weights rounded to bfloat16 (8
 * significant bits instead of 24), and the weight and bias gradients see d rounded so; products are
 * summed in float32, and the weights themselves stay float32 between steps.  tests/models/test_fused.py
 * checks the result against PyTorch autograd doing exactly these roundings. */
#define SROW (32 * 10)            /* one stacked row: 32 records of 9 values and a 1 */
#define STK (CS * SROW + 64)      /* the stacked image, then slack for the last row's reads past it */
#define RROW (10 * 32)            /* one image row as R: 9 (dx, channel) rows and a row of ones, 32 positions */
#define PK (STK + PADDED * RROW)  /* bfloat16 values per packed sample (a multiple of 32: 64-byte rows) */
#define NR 8                      /* rows in the ring of convolution outputs (each 32 positions x 16): the
                                   * rows read (pooling: i - 2 .. i) and those computed meanwhile (LAG) */
#define DV (CS * 32 * NC)         /* bfloat16 values of one sample's D: 30 rows of 16 position pairs x 16 */

static inline uint16_t to_bf16(float f) { /* round to nearest even, as the AVX512-BF16 conversions do */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN stays NaN */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* The n samples idx[0..n), in idx's order, packed for ststnet_train_bf16 (n x PK bfloat16 values). */
int ststnet_pack_bf16(const float *img, const int32_t *idx, int n, uint16_t *out) {
    for (int s = 0; s < n; s++) {
        const float *x = img + (size_t)idx[s] * PADDED * ROW;
        uint16_t *o = out + (size_t)s * PK, *rr = o + STK;
        memset(o, 0, sizeof(uint16_t) * PK);
        for (int i = 0; i < CS; i++)
            for (int j = 0; j < PADDED; j++)
                for (int m = 0; m < 10; m++) /* m = dy*3 + ch, then 1 (the bias's input) */
                    o[i * SROW + j * 10 + m] = m < 9 ? to_bf16(x[(i + m / 3) * ROW + j * 3 + m % 3]) : 0x3f80;
        for (int y = 0; y < PADDED; y++) { /* R: row m = dx*3 + ch of image row y holds x[y][j + dx][ch], j = 0..31 */
            for (int m = 0; m < 9; m++)
                for (int j = 0; j + m / 3 < PADDED; j++) rr[y * RROW + m * 32 + j] = to_bf16(x[y * ROW + (j + m / 3) * 3 + m % 3]);
            for (int j = 0; j < 32; j++) rr[y * RROW + 9 * 32 + j] = 0x3f80; /* 1.0: the bias's gradient */
        }
    }
    return 0;
}

int ststnet_packed_size(void) { return PK; }

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512BF16__)
#define HAVE_AMX 1
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed)) tilecfg_t;

/* Two tile configurations.  CONV: 0, 1 z of two 16-position blocks (float32); 2, 3 their A (16
 * positions x 30 inputs); 4 W (15 input pairs x 16 channels).  GRAD: 0, 1 dW rows 0..15 and 16..29
 * (float32; row dy*10 + m); 2, 3 and 5, 6 R_i's rows 0..15 and 16..29 (32 positions) for even and odd
 * rows i; 4, 7 D_i (16 position pairs x 16 channels) for even and odd rows.  Loading a configuration zeroes every tile.
 * Consecutive rows use different operand tiles, so that one row's loads need not wait for the products
 * before them to finish reading. */
enum { CONV, GRAD };

static void tiles_on(int which) {
    /* whole configurations in static memory: the compiler may not see that LDTILECFG reads all 64 bytes
     * of a local one, and dropped the zeroing of its unused entries (a SIGILL at the next load) */
    static const tilecfg_t cfg[2] = {
        {.palette = 1, .colsb = {64, 64, 60, 60, 64}, .rows = {16, 16, 16, 16, 15}},
        {.palette = 1, .colsb = {64, 64, 64, 64, 64, 64, 64, 64}, .rows = {16, 14, 16, 14, 16, 16, 14, 16}},
    };
    _tile_loadconfig(&cfg[which]);
}

/* Linux lends a process the AMX registers only when asked (arch_prctl ARCH_REQ_XCOMP_PERM). */
static int amx_permitted(void) {
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
}

/* Rows between computing a row's z and reading it: a vector load of what a tile store has just
 * written waits for the store to finish. */
#define LAG 2

/* z of output row i (32 positions, the last two junk) of one packed sample into out.  Needs the CONV
 * tiles with the weights loaded (load_weights). */
static inline void conv_row_bf16(const uint16_t *stacked, int i, float *out) {
    const uint16_t *a = stacked + i * SROW;
    _tile_zero(0);
    _tile_zero(1);
    _tile_loadd(2, a, 10 * sizeof(uint16_t));
    _tile_loadd(3, a + 16 * 10, 10 * sizeof(uint16_t));
    _tile_dpbf16ps(0, 2, 4);
    _tile_dpbf16ps(1, 3, 4);
    _tile_stored(0, out, NC * sizeof(float));
    _tile_stored(1, out + 16 * NC, NC * sizeof(float));
}

static void load_weights(const uint16_t *wb) { _tile_loadd(4, wb, 2 * NC * sizeof(uint16_t)); }

static inline float *ring_row(float *ring, int i) { return ring + (size_t)(i % NR) * 32 * NC; }

/* The pooled values of windows (u, 0..9), from rows[0..2] = z's rows 3u - 1 .. 3u + 1 (rows[0] NULL for
 * u = 0): rsel = ReLU(z) at the maximum of sign*ReLU(z), which is ReLU(z*) at z* = the maximum of sign*z
 * times sign (ReLU is monotonic).  Positions are not kept: the backward pass finds the first z equal
 * to z* in each window (see backward_block_bf16). */
static void pool_max_row(const float *const rows[3], __m512 sgn, int u, float *rsel) {
    __m512 best[PS];
    for (int v = 0; v < PS; v++) best[v] = _mm512_set1_ps(-INFINITY);
    for (int r = 0; r < 3; r++) {
        const float *zr = rows[r];
        if (!zr) continue;
        best[0] = _mm512_max_ps(best[0], _mm512_mul_ps(sgn, _mm512_loadu_ps(zr)));
        best[0] = _mm512_max_ps(best[0], _mm512_mul_ps(sgn, _mm512_loadu_ps(zr + NC)));
        for (int v = 1; v < PS; v++)
            for (int dj = -1; dj <= 1; dj++)
                best[v] = _mm512_max_ps(best[v], _mm512_mul_ps(sgn, _mm512_loadu_ps(zr + (3 * v + dj) * NC)));
    }
    for (int v = 0; v < PS; v++)
        _mm512_storeu_ps(rsel + (u * PS + v) * NC, _mm512_max_ps(_mm512_mul_ps(sgn, best[v]), _mm512_setzero_ps()));
}

/* Each output row's z, its ReLU sums and, once its pooling windows' three rows are done, their maxima,
 * row after row in a ring of rows in the L1 cache. */
static void forward_block_bf16(void *arg, int t, int lo, int hi, int thread) {
    pass_t *c = arg;
    float *ring = c->zscr + (size_t)thread * NR * 32 * NC;
    double *s1 = c->stats + t * 2 * NC, *s2 = s1 + NC;
    __m512 sgn = _mm512_loadu_ps(c->sgn);
    tiles_on(CONV);
    load_weights(c->wb);
    for (int s = lo; s < hi; s++) {
        const uint16_t *xb = c->packed + (size_t)s * PK;
        float *rsel = c->rsel + (size_t)s * NW * NC;
        /* two running sums each: one would wait on its own latency at every position */
        __m512 sum0 = _mm512_setzero_ps(), sum1 = sum0, sq0 = sum0, sq1 = sum0;
        for (int k = 0; k < CS + LAG; k++) {
            if (k < CS) conv_row_bf16(xb, k, ring_row(ring, k));
            int i = k - LAG;
            if (i < 0) continue;
            const float *zr = ring_row(ring, i);
            for (int j = 0; j < CS; j += 2) {
                __m512 r0 = _mm512_max_ps(_mm512_loadu_ps(zr + j * NC), _mm512_setzero_ps());
                __m512 r1 = _mm512_max_ps(_mm512_loadu_ps(zr + (j + 1) * NC), _mm512_setzero_ps());
                sum0 = _mm512_add_ps(sum0, r0);
                sum1 = _mm512_add_ps(sum1, r1);
                sq0 = _mm512_fmadd_ps(r0, r0, sq0);
                sq1 = _mm512_fmadd_ps(r1, r1, sq1);
            }
            if (i % 3 == 1) { /* the last row of window row u = i / 3: rows 3u - 1 .. 3u + 1 are done */
                const float *rows[3] = {i > 1 ? ring_row(ring, i - 2) : NULL, ring_row(ring, i - 1), zr};
                pool_max_row(rows, sgn, i / 3, rsel);
            }
        }
        v16 sum, sq;
        _mm512_storeu_ps((float *)&sum, _mm512_add_ps(sum0, sum1));
        _mm512_storeu_ps((float *)&sq, _mm512_add_ps(sq0, sq1));
        for (int ch = 0; ch < NC; ch++) {
            s1[ch] += sum[ch];
            s2[ch] += sq[ch];
        }
    }
    _tile_release();
}

/* dL/dz at a position that is not its window's maximum: [z > 0] (beta_c z + kappa_c). */
static inline __m512 dense_grad(__m512 zz, __m512 beta, __m512 kappa) {
    return _mm512_maskz_fmadd_ps(_mm512_cmp_ps_mask(zz, _mm512_setzero_ps(), _CMP_GT_OQ), beta, zz, kappa);
}

static void backward_block_bf16(void *arg, int t, int lo, int hi, int thread) {
    pass_t *c = arg;
    float *acc = c->gconv + (size_t)t * (NK + 1) * NC, *ring = c->zscr + (size_t)thread * NR * 32 * NC;
    uint16_t *dv = c->dscr + (size_t)thread * c->chunk_max * DV;
    float dw[30 * NC] __attribute__((aligned(64)));
    /* (even, odd) positions interleaved channel by channel, as TDPBF16PS pairs its operands */
    __m512i inter = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                     21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    __m512 beta = _mm512_loadu_ps(c->bc), kappa = _mm512_loadu_ps(c->kc);
    /* each sample, row after row in the ring: z again, d = dL/dz, and d as D (bfloat16 position pairs) */
    tiles_on(CONV);
    load_weights(c->wb);
    for (int s = lo; s < hi; s++) {
        const float *gs = c->gsel + (size_t)s * NW * NC, *rsel = c->rsel + (size_t)s * NW * NC;
        const uint16_t *xb = c->packed + (size_t)s * PK;
        uint16_t *o = dv + (size_t)(s - lo) * DV;
        __mmask16 open[PS]; /* per window of the window row: the channels whose maximum is still to be met */
        for (int k = 0; k < CS + LAG; k++) {
            if (k < CS) conv_row_bf16(xb, k, ring_row(ring, k));
            int i = k - LAG;
            if (i < 0) continue;
            /* d = [z > 0] (beta_c z + kappa_c + the pooled gradient where this position is its window's
             * maximum): backward_sample's d, without its dense scatter buffer, in place of z.  The maximum is
             * the first position of the window, row by row and left to right, whose ReLU(z) equals the
             * pooled one, as in the forward pass's (and PyTorch's) pooling; where that is 0, z <= 0 there
             * and d is 0 wherever the gradient goes. */
            float *zr = ring_row(ring, i);
            int u = (i + 1) / 3, j0 = 0; /* the window row of row i (rows 0..28) */
            if (i < 3 * PS - 1) {
                if (i % 3 == 2 || i == 0) /* the window row's first row: every channel with a positive maximum */
                    for (int v = 0; v < PS; v++)
                        open[v] = _mm512_cmp_ps_mask(_mm512_loadu_ps(rsel + (u * PS + v) * NC), _mm512_setzero_ps(), _CMP_GT_OQ);
                for (int v = 0; v < PS; v++) {
                    __m512 rs = _mm512_loadu_ps(rsel + (u * PS + v) * NC), gw = _mm512_loadu_ps(gs + (u * PS + v) * NC);
                    __mmask16 avail = open[v];
                    for (int j = v ? 3 * v - 1 : 0; j <= 3 * v + 1; j++) {
                        __m512 zz = _mm512_loadu_ps(zr + j * NC);
                        /* + g where z is the maximum (z = rsel > 0, so [z > 0] holds there) */
                        __m512 d = dense_grad(zz, beta, kappa);
                        __mmask16 here = _mm512_mask_cmpeq_ps_mask(avail, zz, rs);
                        avail &= ~here;
                        _mm512_storeu_ps(zr + j * NC, _mm512_mask_add_ps(d, here, d, gw));
                    }
                    open[v] = avail;
                }
                j0 = 3 * PS - 1;
            }
            for (int j = j0; j < CS; j++) /* positions in no window */
                _mm512_storeu_ps(zr + j * NC, dense_grad(_mm512_loadu_ps(zr + j * NC), beta, kappa));
            /* D: positions 2q, 2q + 1 */
            for (int q = 0; q < 15; q++) {
                __m512i both = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(zr + (2 * q + 1) * NC), _mm512_loadu_ps(zr + 2 * q * NC));
                _mm512_store_si512(o + (i * 16 + q) * 2 * NC, _mm512_permutexvar_epi16(inter, both));
            }
            _mm512_store_si512(o + (i * 16 + 15) * 2 * NC, _mm512_setzero_si512()); /* positions 30, 31 */
        }
    }
    /* then dW += R_i D_i over every output row of every sample */
    tiles_on(GRAD);
    for (int s = lo; s < hi; s++) {
        const uint16_t *o = dv + (size_t)(s - lo) * DV;
        const uint16_t *r = c->packed + (size_t)s * PK + STK;
        for (int i = 0; i < CS; i += 2) {
            _tile_loadd(2, r + i * RROW, 64);
            _tile_loadd(3, r + i * RROW + 16 * 32, 64);
            _tile_loadd(4, o + i * 32 * NC, 64);
            _tile_dpbf16ps(0, 2, 4);
            _tile_dpbf16ps(1, 3, 4);
            _tile_loadd(5, r + (i + 1) * RROW, 64);
            _tile_loadd(6, r + (i + 1) * RROW + 16 * 32, 64);
            _tile_loadd(7, o + (i + 1) * 32 * NC, 64);
            _tile_dpbf16ps(0, 5, 7);
            _tile_dpbf16ps(1, 6, 7);
        }
    }
    _tile_stored(0, dw, NC * sizeof(float));
    _tile_stored(1, dw + 16 * NC, NC * sizeof(float));
    _tile_release();
    /* row dy*10 + m of dw: weight row dy*9 + m (m < 9), or the bias (m = 9: the same sum thrice) */
    for (int k = 0; k < NK; k++)
        _mm512_storeu_ps(acc + k * NC, _mm512_add_ps(_mm512_loadu_ps(acc + k * NC), _mm512_loadu_ps(dw + (k / 9 * 10 + k % 9) * NC)));
    _mm512_storeu_ps(acc + NK * NC, _mm512_add_ps(_mm512_loadu_ps(acc + NK * NC), _mm512_loadu_ps(dw + 9 * NC)));
}
#endif

typedef struct {
    const float *rsel, *fwt, *fb, *class_w;
    const int32_t *y;
    float *gsel, *hacc;
    double *hbn, *hloss;
    int n, n_classes, epoch;
    uint64_t seed;
    uint32_t thr;
    float keep_scale;
    float a[NC], d[NC], mean[NC];
} head_t;

/* Per sample: BN output at the maxima, dropout, 2x2 average pooling, the linear layer and the loss;
 * then the gradient back to the BN output at the maxima (stored times a_c in gsel), the linear
 * layer's gradient, and the sums that batch norm's backward needs.  Features are laid out
 * (25 positions, 16 channels) here; fwt and the gradient in hacc are the linear weights in that
 * order, (n_classes, 25, 16). */
static void head_block(void *arg, int t, int lo, int hi, int thread) {
    (void)thread;
    head_t *h = arg;
    int K = h->n_classes;
    float *gw = h->hacc + (size_t)t * ((size_t)K * NF + K), *gb = gw + (size_t)K * NF;
    double *dbt = h->hbn + t * 2 * NC, *dg = dbt + NC;
    v16 a = ld(h->a), d = ld(h->d), mean = ld(h->mean), sdbt = {0}, sdg = {0};
    vu16 lane;
    for (int c = 0; c < NC; c++) lane[c] = (uint32_t)c * 0x9E3779B9u;
    for (int s = lo; s < hi; s++) {
        const float *rs = h->rsel + (size_t)s * NW * NC;
        v16 keep[NW], f[AS * AS], dfeat[AS * AS];
        uint64_t base = splitmix(h->seed ^ splitmix(((uint64_t)h->epoch << 32) ^ (uint64_t)s));
        /* feature q averages windows w0, w0 + 1, w0 + 10, w0 + 11 (in that order), summed in a register:
         * an array element would make each window wait for the previous one's store */
        for (int q = 0; q < AS * AS; q++) {
            v16 fq = {0};
            for (int t = 0; t < 4; t++) {
                int w = (q / AS) * 2 * PS + (q % AS) * 2 + (t >> 1) * PS + (t & 1);
                /* dropout: a 32-bit hash per unit (lowbias32 of a per-window key and the channel) */
                vu16 x = lane ^ (uint32_t)splitmix(base + (uint64_t)w);
                x ^= x >> 16;
                x *= 0x7feb352du;
                x ^= x >> 15;
                x *= 0x846ca68bu;
                x ^= x >> 16;
                v16 kp = (v16)((x >= h->thr) & (vi16)((v16){0} + h->keep_scale));
                keep[w] = kp;
                fq += 0.25f * kp * (a * ld(rs + w * NC) + d);
            }
            f[q] = fq;
        }
        double logit[64], mx = -INFINITY, tot = 0;
        for (int k = 0; k < K; k++) {
            const float *wr = h->fwt + (size_t)k * NF;
            v16 acc = {0};
            for (int q = 0; q < AS * AS; q++) acc += ld(wr + q * NC) * f[q];
            float sum = 0;
            for (int c = 0; c < NC; c++) sum += acc[c];
            logit[k] = (double)sum + h->fb[k];
            if (logit[k] > mx) mx = logit[k];
        }
        double e[64];
        for (int k = 0; k < K; k++) tot += e[k] = exp(logit[k] - mx);
        int ys = h->y[s];
        double cw = h->class_w[ys];
        h->hloss[t] += cw * (log(tot) + mx - logit[ys]);
        for (int q = 0; q < AS * AS; q++) dfeat[q] = (v16){0};
        for (int k = 0; k < K; k++) { /* d loss / d logit = w_y (softmax - onehot) / n (mean reduction) */
            float dl = (float)(cw * (e[k] / tot - (k == ys)) / h->n);
            const float *wr = h->fwt + (size_t)k * NF;
            float *gr = gw + (size_t)k * NF;
            gb[k] += dl;
            for (int q = 0; q < AS * AS; q++) {
                st(gr + q * NC, ld(gr + q * NC) + dl * f[q]);
                dfeat[q] += dl * ld(wr + q * NC);
            }
        }
        float *gs = h->gsel + (size_t)s * NW * NC;
        for (int w = 0; w < NW; w++) {
            int q = (w / PS / 2) * AS + (w % PS) / 2;
            v16 g = 0.25f * keep[w] * dfeat[q];
            sdbt += g;
            sdg += g * (ld(rs + w * NC) - mean);
            st(gs + w * NC, a * g);
        }
    }
    for (int c = 0; c < NC; c++) {
        dbt[c] += sdbt[c];
        dg[c] += sdg[c];
    }
}

typedef struct {
    float *p, *m, *v;
    int n;
} param_t;

static void opt_step(param_t *q, const float *g, int optimizer, double lr, double b1, double b2, double eps,
                     double wd, double momentum, long step) {
    if (optimizer == 0) { /* Adam, as torch.optim.Adam (no amsgrad) */
        double bc1 = 1.0 - pow(b1, (double)step), bc2 = 1.0 - pow(b2, (double)step);
        double step_size = lr / bc1, bc2s = sqrt(bc2);
        for (int i = 0; i < q->n; i++) {
            float gi = g[i] + (float)wd * q->p[i];
            q->m[i] = q->m[i] * (float)b1 + gi * (float)(1.0 - b1);
            q->v[i] = q->v[i] * (float)b2 + gi * gi * (float)(1.0 - b2);
            float denom = sqrtf(q->v[i]) / (float)bc2s + (float)eps;
            q->p[i] -= (float)step_size * q->m[i] / denom;
        }
    } else { /* SGD with momentum, dampening 0, as torch.optim.SGD */
        for (int i = 0; i < q->n; i++) {
            float gi = g[i] + (float)wd * q->p[i];
            q->m[i] = step == 1 ? gi : q->m[i] * (float)momentum + gi;
            q->p[i] -= (float)lr * (momentum != 0 ? q->m[i] : gi);
        }
    }
}

/* One epoch's augmented inputs (aug: per sample dx, dy, flip), written in idx's order into out, whose
 * zero borders are set once by the caller: out[i][j] = in[clip(i - dy)][clip(j - dx)], then mirrored,
 * j -> 27 - j, with u negated (1 - u where flip_minmax): mextk.models.augment's shift_flow then flip_flow,
 * said as an index map.  Where packed is not NULL, each sample is packed for the bfloat16 kernel too. */
typedef struct {
    const float *img;
    const int32_t *idx;
    const int8_t *aug;
    int flip_minmax;
    float *out;
    uint16_t *packed;
} aug_t;

int ststnet_pack_bf16(const float *img, const int32_t *idx, int n, uint16_t *out);

static void augment_block(void *arg, int t, int lo, int hi, int thread) {
    (void)t, (void)thread;
    aug_t *c = arg;
    for (int s = lo; s < hi; s++) {
        const float *x = c->img + (size_t)c->idx[s] * PADDED * ROW;
        float *o = c->out + (size_t)s * PADDED * ROW;
        int dx = c->aug[3 * s], dy = c->aug[3 * s + 1], flip = c->aug[3 * s + 2];
        int col[IN]; /* the source column of each output column, padding included */
        for (int j = 0; j < IN; j++) {
            int jj = (flip ? IN - 1 - j : j) - dx;
            col[j] = 3 * ((jj < 0 ? 0 : jj > IN - 1 ? IN - 1 : jj) + 2);
        }
        float a = flip ? (c->flip_minmax ? 1.0f : 0.0f) : 0.0f, m = flip ? -1.0f : 1.0f; /* u -> a + m u */
        for (int i = 0; i < IN; i++) {
            int si = i - dy < 0 ? 0 : i - dy > IN - 1 ? IN - 1 : i - dy;
            const float *src = x + (si + 2) * ROW;
            float *dst = o + (i + 2) * ROW + 6;
            for (int j = 0; j < IN; j++) {
                const float *p = src + col[j];
                dst[3 * j] = a + m * p[0];
                dst[3 * j + 1] = p[1];
                dst[3 * j + 2] = p[2];
            }
        }
        if (c->packed) {
            int32_t self = s;
            ststnet_pack_bf16(c->out, &self, 1, c->packed + (size_t)s * PK);
        }
    }
}

/* Train one fold for epochs [start_epoch, start_epoch + n_epochs).  Returns 0, or -1 when memory runs out.
 *
 * img          all inputs, (n_all, 32, 32, 3) float32: the (28, 28, 3) inputs padded by 2
 * idx, n       the n training samples (indices into img)
 * y            their labels; class_w per-class loss weights (ones: plain cross-entropy)
 * params       in/out, one float32 vector: conv weight (27, 16) with k = dy*9 + dx*3 + input channel,
 *              conv bias (16), BN gamma (16), BN beta (16), fc weight (n_classes, 400), fc bias (n_classes)
 * mom, vel     in/out optimiser state of the same length (Adam's two moments; SGD's buffer in mom)
 * run_mean, run_var  in/out BN running statistics (16 each)
 * optimizer    0 Adam, 1 SGD with momentum; lr_step/lr_gamma: StepLR (0: constant)
 * losses       out, (n_epochs) mean training loss of each epoch
 * aug          NULL, or (n_epochs, n, 3) int8: per epoch and training sample its shift (dx right, dy down,
 *              in pixels, the edge replicated) and whether it is then mirrored (u negated: -u, or 1 - u
 *              where flip_minmax, the min-max normalised input); the augmented inputs are built before
 *              each epoch (see augment_block)
 */
static int train(const float *img, const int32_t *idx, int n, const int32_t *y, const float *class_w,
                 int n_classes, float *params, float *mom, float *vel, float *run_mean, float *run_var,
                 int start_epoch, int n_epochs, int optimizer, double lr, double b1, double b2, double eps,
                 double wd, double momentum, int lr_step, double lr_gamma, double dropout, double bn_eps,
                 double bn_momentum, uint64_t seed, int n_threads, float *losses, uint16_t *packed,
                 const int8_t *aug, int flip_minmax) {
    int nt = n_threads < 1 ? 1 : n_threads > NCH ? NCH : n_threads;
    if (n_classes < 1 || n_classes > 64 || n < 2) return -2;
    size_t nfc = (size_t)n_classes * NF;
    /* float32: every sample's convolution output, kept from the forward pass to the backward pass;
     * bfloat16: one per thread, recomputed (see ststnet_train_bf16) */
    size_t zlen = packed ? (size_t)nt * NR * 32 * NC : (size_t)n * NP * NC;
    float *z = aligned_alloc(64, sizeof(float) * zlen);
    int chunk_max = n / NCH + 1;
    uint16_t *dscr = packed ? aligned_alloc(64, sizeof(uint16_t) * (size_t)nt * chunk_max * DV) : NULL;
    float *rsel = malloc(sizeof(float) * (size_t)n * NW * NC);
    int32_t *sel = packed ? NULL : malloc(sizeof(int32_t) * (size_t)n * NW * NC); /* the float32 kernel's */
    float *gsel = malloc(sizeof(float) * (size_t)n * NW * NC);
    float *gbuf = packed ? NULL : malloc(sizeof(float) * (size_t)nt * NP * NC); /* the float32 backward's */
    double *stats = calloc((size_t)NCH * 2 * NC, sizeof(double));
    float *gconv = calloc((size_t)NCH * (NK + 1) * NC, sizeof(float));
    int np = NK * NC + NC + 2 * NC + (int)nfc + n_classes;
    float *grad = calloc(np, sizeof(float));
    float *hacc = malloc(sizeof(float) * NCH * (nfc + n_classes)), *fwt = malloc(sizeof(float) * nfc);
    double *hbn = malloc(sizeof(double) * NCH * 2 * NC), *hloss = malloc(sizeof(double) * NCH);
    int ok = z && rsel && gsel && stats && gconv && grad && hacc && hbn && hloss && fwt;
    ok = ok && (packed ? dscr != NULL : gbuf && sel);
    /* augmented epochs: the samples rebuilt in order before each (and packed again for bfloat16) */
    float *aimg = aug ? calloc((size_t)n * PADDED * ROW, sizeof(float)) : NULL; /* borders stay 0 */
    int32_t *iota = aug ? malloc(sizeof(int32_t) * (size_t)n) : NULL;
    ok = ok && (!aug || (aimg && iota));
    if (!ok) {
        free(aimg); free(iota);
        free(dscr);
        free(z); free(rsel); free(sel); free(gsel); free(gbuf); free(stats); free(gconv);
        free(grad); free(hacc); free(hbn); free(hloss); free(fwt);
        return -1;
    }
    float *P_w = params, *P_b = P_w + NK * NC, *P_g = P_b + NC, *P_be = P_g + NC, *P_fw = P_be + NC,
          *P_fb = P_fw + nfc;
    float *G_w = grad, *G_b = G_w + NK * NC, *G_g = G_b + NC, *G_be = G_g + NC, *G_fw = G_be + NC,
          *G_fb = G_fw + nfc;
    param_t all = {params, mom, vel, np};
    double M = (double)n * NP; /* values per channel in the batch statistics */
    float keep_scale = dropout < 1 ? (float)(1.0 / (1.0 - dropout)) : 0.0f;
    uint32_t thr = (uint32_t)fmin(dropout * 4294967296.0, 4294967295.0); /* drop when hash < thr */

#ifdef MEXTK_PROFILE
    double prof[4] = {0}, t0 = now();
#endif
    const float *img0 = img;
    const int32_t *idx0 = idx;
    if (aug) {
        for (int s = 0; s < n; s++) iota[s] = s;
        img = aimg, idx = iota;
    }
    for (int epoch = start_epoch; epoch < start_epoch + n_epochs; epoch++) {
        if (aug) { /* this epoch's inputs; the bfloat16 kernel's packed copy is rewritten from them */
            aug_t a = {img0, idx0, aug + (size_t)(epoch - start_epoch) * n * 3, flip_minmax, aimg, packed};
            parallel(nt, n, augment_block, &a);
        }
        float sgn[NC] __attribute__((aligned(64)));
        for (int c = 0; c < NC; c++) sgn[c] = P_g[c] < 0 ? -1.0f : 1.0f;
        memset(stats, 0, sizeof(double) * NCH * 2 * NC);
        pass_t job = {.img = img, .w = P_w, .b = P_b, .sgn = sgn, .idx = idx, .z = z, .rsel = rsel, .gsel = gsel,
                      .gbuf = gbuf, .gconv = gconv, .sel = sel, .stats = stats};
        void (*fwd)(void *, int, int, int, int) = forward_block, (*bwd)(void *, int, int, int, int) = backward_block;
#ifdef HAVE_AMX
        uint16_t wb[15 * 2 * NC] __attribute__((aligned(64))); /* W */
        if (packed) { /* W in AMX's layout: row q holds (w'[2q][c], w'[2q + 1][c]) for each c, where w'[dx*10 + m]
                       * is weight row dy*9 + dx*3 + ch (m = dy*3 + ch < 9) or, for m = 9 (the inputs that are 1),
                       * one of three bfloat16 parts of the bias (high, middle, low: their sum is the float32 bias) */
            for (int c = 0; c < NC; c++) {
                float part[3], rest = P_b[c];
                for (int dx = 0; dx < 3; dx++) {
                    uint32_t u = (uint32_t)to_bf16(rest) << 16;
                    memcpy(&part[dx], &u, sizeof u);
                    rest -= part[dx]; /* exact: the bias's bits not yet taken */
                }
                for (int kp = 0; kp < 30; kp++) {
                    int dx = kp / 10, m = kp % 10;
                    wb[(kp / 2) * 2 * NC + 2 * c + kp % 2] =
                        m < 9 ? to_bf16(P_w[((m / 3) * 9 + dx * 3 + m % 3) * NC + c]) : to_bf16(part[dx]);
                }
            }
            job.packed = packed, job.wb = wb, job.zscr = z, job.dscr = dscr, job.chunk_max = chunk_max;
            fwd = forward_block_bf16, bwd = backward_block_bf16;
        }
#endif
        parallel(nt, n, fwd, &job);
        TICK(0)
        double mean[NC], var[NC], a[NC], d[NC];
        for (int c = 0; c < NC; c++) {
            double s1 = 0, s2 = 0;
            for (int t = 0; t < NCH; t++) {
                s1 += stats[t * 2 * NC + c];
                s2 += stats[t * 2 * NC + NC + c];
            }
            mean[c] = s1 / M;
            var[c] = fmax(s2 / M - mean[c] * mean[c], 0.0);
            double inv = 1.0 / sqrt(var[c] + bn_eps);
            a[c] = P_g[c] * inv;
            d[c] = P_be[c] - P_g[c] * mean[c] * inv;
            run_mean[c] = (float)((1 - bn_momentum) * run_mean[c] + bn_momentum * mean[c]);
            run_var[c] = (float)((1 - bn_momentum) * run_var[c] + bn_momentum * var[c] * M / (M - 1));
        }
        /* the head: BN of the pooled maxima, dropout, average pooling, linear layer, loss, and back */
        for (int k = 0; k < n_classes; k++) /* linear weights (k, c*25 + q) -> (k, q, c) */
            for (int c = 0; c < NC; c++)
                for (int q = 0; q < AS * AS; q++) fwt[(size_t)k * NF + q * NC + c] = P_fw[(size_t)k * NF + c * AS * AS + q];
        head_t head = {rsel, fwt, P_fb, class_w, y, gsel, hacc, hbn, hloss, n, n_classes, epoch, seed, thr,
                       keep_scale};
        for (int c = 0; c < NC; c++) {
            head.a[c] = (float)a[c];
            head.d[c] = (float)d[c];
            head.mean[c] = (float)mean[c];
        }
        memset(hacc, 0, sizeof(float) * NCH * (nfc + n_classes));
        memset(hbn, 0, sizeof(double) * NCH * 2 * NC);
        memset(hloss, 0, sizeof(double) * NCH);
        parallel(nt, n, head_block, &head);
        TICK(1)
        memset(grad, 0, sizeof(float) * np);
        double loss = 0, dg[NC] = {0}, dbt[NC] = {0};
        for (int t = 0; t < NCH; t++) {
            loss += hloss[t];
            const float *ht = hacc + t * (nfc + n_classes);
            for (int k = 0; k < n_classes; k++) {
                for (int c = 0; c < NC; c++)
                    for (int q = 0; q < AS * AS; q++) G_fw[(size_t)k * NF + c * AS * AS + q] += ht[(size_t)k * NF + q * NC + c];
                G_fb[k] += ht[nfc + k];
            }
            for (int c = 0; c < NC; c++) {
                dbt[c] += hbn[t * 2 * NC + c];
                dg[c] += hbn[t * 2 * NC + NC + c];
            }
        }
        losses[epoch - start_epoch] = (float)(loss / n);
        /* batch norm backward: dgamma, dbeta from the sparse gradient; per-channel beta_c, kappa_c */
        float bcoef[NC] __attribute__((aligned(64))), kcoef[NC] __attribute__((aligned(64)));
        for (int c = 0; c < NC; c++) {
            double inv = 1.0 / sqrt(var[c] + bn_eps);
            dg[c] *= inv; /* sum g * xhat */
            G_g[c] = (float)dg[c];
            G_be[c] = (float)dbt[c];
            bcoef[c] = (float)(-a[c] * dg[c] * inv / M);
            kcoef[c] = (float)(-a[c] * dbt[c] / M + a[c] * mean[c] * dg[c] * inv / M);
        }
        memset(gconv, 0, sizeof(float) * NCH * (NK + 1) * NC);
        job.bc = bcoef;
        job.kc = kcoef;
        TICK(2)
        parallel(nt, n, bwd, &job);
        TICK(3)
        for (int t = 0; t < NCH; t++)
            for (int i = 0; i < (NK + 1) * NC; i++) G_w[i] += gconv[(size_t)t * (NK + 1) * NC + i];
        double lr_now = lr_step > 0 ? lr * pow(lr_gamma, (double)(epoch / lr_step)) : lr;
        opt_step(&all, grad, optimizer, lr_now, b1, b2, eps, wd, momentum, epoch + 1);
    }
#ifdef MEXTK_PROFILE
    fprintf(stderr, "ms/step: forward %.2f small %.2f bn %.2f backward %.2f\n", 1e3 * prof[0] / n_epochs,
            1e3 * prof[1] / n_epochs, 1e3 * prof[2] / n_epochs, 1e3 * prof[3] / n_epochs);
#endif
    free(z); free(dscr); free(rsel); free(sel); free(gsel); free(gbuf); free(stats); free(gconv);
    free(grad); free(hacc); free(hbn); free(hloss); free(fwt); free(aimg); free(iota);
    return 0;
}

int ststnet_train(const float *img, const int32_t *idx, int n, const int32_t *y, const float *class_w,
                  int n_classes, float *params, float *mom, float *vel, float *run_mean, float *run_var,
                  int start_epoch, int n_epochs, int optimizer, double lr, double b1, double b2, double eps,
                  double wd, double momentum, int lr_step, double lr_gamma, double dropout, double bn_eps,
                  double bn_momentum, uint64_t seed, int n_threads, float *losses) {
    return train(img, idx, n, y, class_w, n_classes, params, mom, vel, run_mean, run_var, start_epoch, n_epochs,
                 optimizer, lr, b1, b2, eps, wd, momentum, lr_step, lr_gamma, dropout, bn_eps, bn_momentum, seed,
                 n_threads, losses, NULL, NULL, 0);
}

/* Whether ststnet_train_bf16 can run here: 1; 0 where this build has no AMX-BF16 (the CPU or the
 * compiler lacks it); -1 where the operating system does not lend the tiles. */
int ststnet_bf16_available(void) {
#ifdef HAVE_AMX
    return amx_permitted() ? 1 : -1;
#else
    return 0;
#endif
}

/* ststnet_train with the convolutions in bfloat16 on AMX (see conv_bf16); packed: the n training
 * samples from ststnet_pack_bf16, in idx's order.  Returns -3 where AMX is not available. */
int ststnet_train_bf16(const float *img, const int32_t *idx, int n, const int32_t *y, const float *class_w,
                       int n_classes, float *params, float *mom, float *vel, float *run_mean, float *run_var,
                       int start_epoch, int n_epochs, int optimizer, double lr, double b1, double b2, double eps,
                       double wd, double momentum, int lr_step, double lr_gamma, double dropout, double bn_eps,
                       double bn_momentum, uint64_t seed, int n_threads, float *losses, const uint16_t *packed) {
    if (ststnet_bf16_available() != 1) return -3;
    return train(img, idx, n, y, class_w, n_classes, params, mom, vel, run_mean, run_var, start_epoch, n_epochs,
                 optimizer, lr, b1, b2, eps, wd, momentum, lr_step, lr_gamma, dropout, bn_eps, bn_momentum, seed,
                 n_threads, losses, (uint16_t *)packed, NULL, 0);
}

/* ststnet_train with flow augmentation (see train's aug).  With packed (n x PK, rewritten here before each
 * epoch from that epoch's inputs) it trains as ststnet_train_bf16, and returns -3 where AMX is not available. */
int ststnet_train_aug(const float *img, const int32_t *idx, int n, const int32_t *y, const float *class_w,
                      int n_classes, float *params, float *mom, float *vel, float *run_mean, float *run_var,
                      int start_epoch, int n_epochs, int optimizer, double lr, double b1, double b2, double eps,
                      double wd, double momentum, int lr_step, double lr_gamma, double dropout, double bn_eps,
                      double bn_momentum, uint64_t seed, int n_threads, float *losses, uint16_t *packed,
                      const int8_t *aug, int flip_minmax) {
    if (packed && ststnet_bf16_available() != 1) return -3;
    if (!aug) return -2;
    return train(img, idx, n, y, class_w, n_classes, params, mom, vel, run_mean, run_var, start_epoch, n_epochs,
                 optimizer, lr, b1, b2, eps, wd, momentum, lr_step, lr_gamma, dropout, bn_eps, bn_momentum, seed,
                 n_threads, losses, packed, aug, flip_minmax);
}
