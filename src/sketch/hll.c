/*
 * hll.c — DataSketches' HLL sketch (see hll.h): coupons, the LIST / SET /
 * HLL modes and their promotions, HLL_4 with its exception ("aux") table,
 * HLL_6 and HLL_8 registers, the HIP and composite estimators, the bounds,
 * the binary image (both forms) and its validation, the Union, and the
 * toString summary.
 *
 * Everything follows DataSketches' Java implementation step for step where
 * it shows in a result: the order in which coupons are re-inserted when a
 * hash table grows (it decides the updatable image's bytes), the order of
 * floating-point sums in the KxQ registers and the HIP accumulator (they are
 * serialized), and which path the Union takes for each pair of modes and
 * lgKs (it decides the result's lgK and estimator).
 *
 * A coupon is a 32-bit value: the low 26 bits of the hash's first half (the
 * slot address) and, above them, 1 + the number of leading zeros of the
 * second half (capped at 63). Coupon 0 never occurs and marks an empty entry.
 */
#include "sketch/hll.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sketch/hll_int.h"
#include "sketch/sketch.h"

#define KEY_BITS 26
#define KEY_MASK ((1u << KEY_BITS) - 1)
#define AUX_TOKEN 15
#define LG_INIT_LIST 3
#define LG_INIT_SET 5

#define FLAG_EMPTY 4
#define FLAG_COMPACT 8
#define FLAG_OOO 16
#define FLAG_REBUILD 32 /* Java: KxQ and curMin must be recomputed (C++: "full size") */

#define PREINTS_LIST 2
#define PREINTS_SET 3
#define PREINTS_HLL 10
#define HLL_START 40
#define SET_START 12
#define LIST_START 8

/* The initial (and, for DataSketches' size bound, assumed) log2 size of the
 * HLL_4 exception table for each lgK. */
static const uint8_t lg_aux_init[22] = {0, 2, 2, 2, 2, 2, 2, 3,  3,  3,  4,
                                        4, 5, 5, 6, 7, 8, 9, 10, 11, 12, 13};

static const int ystrides[18] = {1,   2,   3,    5,    10,   20,    40,    80,    160,
                                 320, 640, 1280, 2560, 5120, 10240, 20480, 40960, 81920};

/* DataSketches' CouponMapping: true cardinality (y) for a coupon count (x). */
static const double coupon_x[40] = {
    0.0,       1.0,       20.0,      400.0,     8000.0,    160000.0,  300000.0,  600000.0,
    900000.0,  1200000.0, 1500000.0, 1800000.0, 2100000.0, 2400000.0, 2700000.0, 3000000.0,
    3300000.0, 3600000.0, 3900000.0, 4200000.0, 4500000.0, 4800000.0, 5100000.0, 5400000.0,
    5700000.0, 6000000.0, 6300000.0, 6600000.0, 6900000.0, 7200000.0, 7500000.0, 7800000.0,
    8100000.0, 8400000.0, 8700000.0, 9000000.0, 9300000.0, 9600000.0, 9900000.0, 10200000.0};
static const double coupon_y[40] = {
    0.0000000000000000,       1.0000000000000000,       20.0000009437402611,
    400.0003963713384110,     8000.1589294602090376,    160063.6067763759638183,
    300223.7071597663452849,  600895.5933856170158833,  902016.8065120954997838,
    1203588.4983199508860707, 1505611.8245524743106216, 1808087.9449319066479802,
    2111018.0231759352609515, 2414403.2270142501220107, 2718244.7282051891088486,
    3022543.7025524540804327, 3327301.3299219091422856, 3632518.7942584538832307,
    3938197.2836029687896371, 4244337.9901093561202288, 4550942.1100616492331028,
    4858010.8438911894336343, 5165545.3961938973516226, 5473546.9757476449012756,
    5782016.7955296505242586, 6090956.0727340159937739, 6400366.0287892958149314,
    6710247.8893762007355690, 7020602.8844453142955899, 7331432.2482349723577499,
    7642737.2192891482263803, 7954519.0404754765331745, 8266778.9590033423155546,
    8579518.2264420464634895, 8892738.0987390466034412, 9206439.8362383283674717,
    9520624.7036988288164139, 9835293.9703129194676876, 10150448.9097250290215015,
    10466090.8000503256917000};

/* DataSketches' RelativeErrorTables for lgK 4..12, index (lgK-4)*3 + sd-1. */
static const double hip_lb[27] = {
    0.207316195, 0.502865572, 0.882303765, 0.146981579, 0.335426881, 0.557052,    0.104026721,
    0.227683872, 0.365888317, 0.073614601, 0.156781585, 0.245740374, 0.05205248,  0.108783763,
    0.168030442, 0.036770852, 0.075727545, 0.11593785,  0.025990219, 0.053145536, 0.080772263,
    0.018373987, 0.037266176, 0.056271814, 0.012936253, 0.02613829,  0.039387631};
static const double hip_ub[27] = {
    -0.207805347, -0.355574279, -0.475535095, -0.146988328, -0.262390832, -0.360864026,
    -0.103877775, -0.191503663, -0.269311582, -0.073452978, -0.138513438, -0.198487447,
    -0.051982806, -0.099703123, -0.144128618, -0.036768609, -0.07138158,  -0.104430324,
    -0.025991325, -0.050854296, -0.0748143,   -0.01834533,  -0.036121138, -0.05327616,
    -0.012920332, -0.025572893, -0.037896952};
static const double nonhip_lb[27] = {
    0.254409839, 0.682266712, 1.304022158, 0.181817353, 0.443389054, 0.778776219, 0.129432281,
    0.295782195, 0.49252279,  0.091640655, 0.201175925, 0.323664385, 0.064858051, 0.138523393,
    0.218805328, 0.045851855, 0.095925072, 0.148635751, 0.032454144, 0.067009668, 0.102660669,
    0.022921382, 0.046868565, 0.071307398, 0.016155679, 0.032825719, 0.049677541};
static const double nonhip_ub[27] = {
    -0.256980172, -0.411905944, -0.52651057,  -0.182332109, -0.310275547, -0.412660505,
    -0.129314228, -0.230142294, -0.315636197, -0.091584836, -0.16834013,  -0.236346847,
    -0.06487411,  -0.122045231, -0.174112107, -0.04591465,  -0.08784505,  -0.126917615,
    -0.032433119, -0.062897613, -0.091862929, -0.022960633, -0.044875401, -0.065736049,
    -0.016186662, -0.031827816, -0.046973459};

/* Exact harmonic numbers H(0..24); beyond, the asymptotic series. */
static const double harmonic_exact[25] = {0.0,
                                          1.0,
                                          1.5,
                                          11.0 / 6.0,
                                          25.0 / 12.0,
                                          137.0 / 60.0,
                                          49.0 / 20.0,
                                          363.0 / 140.0,
                                          761.0 / 280.0,
                                          7129.0 / 2520.0,
                                          7381.0 / 2520.0,
                                          83711.0 / 27720.0,
                                          86021.0 / 27720.0,
                                          1145993.0 / 360360.0,
                                          1171733.0 / 360360.0,
                                          1195757.0 / 360360.0,
                                          2436559.0 / 720720.0,
                                          42142223.0 / 12252240.0,
                                          14274301.0 / 4084080.0,
                                          275295799.0 / 77597520.0,
                                          55835135.0 / 15519504.0,
                                          18858053.0 / 5173168.0,
                                          19093197.0 / 5173168.0,
                                          444316699.0 / 118982864.0,
                                          1347822955.0 / 356948592.0};

struct sketch_hll {
    uint8_t lgk;
    uint8_t type; /* enum sketch_hll_type */
    uint8_t mode; /* enum sketch_hll_mode */
    bool ooo;     /* out of order: estimate with the composite estimator */
    bool rebuild; /* a union merged registers: KxQ / curMin are stale */
    /* LIST and SET */
    uint8_t lg_arr;    /* the coupon array holds 1 << lg_arr entries */
    uint32_t count;    /* coupons held */
    uint32_t list[8];  /* LIST mode's array */
    uint32_t *coupons; /* SET mode's hash table */
    /* HLL */
    uint8_t *regs;
    uint8_t cur_min;         /* HLL_4: the offset of every nibble; else 0 or rebuilt min */
    uint32_t num_at_cur_min; /* HLL_4: slots at cur_min; HLL_6/8: zero slots */
    double hip, kxq0, kxq1;
    /* HLL_4 exceptions: pairs (value << 26 | slot) for values >= cur_min + 15 */
    uint32_t *aux;
    uint8_t aux_lg;
    uint32_t aux_count;
};

struct sketch_hll_union {
    int lg_max_k;
    struct sketch_hll *gadget; /* always HLL_8 */
};

/* ---- small helpers -------------------------------------------------------- */

/* 2^-i, exact. */
static const double inv_pow2[64] = {
    0x1p-0,  0x1p-1,  0x1p-2,  0x1p-3,  0x1p-4,  0x1p-5,  0x1p-6,  0x1p-7,  0x1p-8,  0x1p-9,
    0x1p-10, 0x1p-11, 0x1p-12, 0x1p-13, 0x1p-14, 0x1p-15, 0x1p-16, 0x1p-17, 0x1p-18, 0x1p-19,
    0x1p-20, 0x1p-21, 0x1p-22, 0x1p-23, 0x1p-24, 0x1p-25, 0x1p-26, 0x1p-27, 0x1p-28, 0x1p-29,
    0x1p-30, 0x1p-31, 0x1p-32, 0x1p-33, 0x1p-34, 0x1p-35, 0x1p-36, 0x1p-37, 0x1p-38, 0x1p-39,
    0x1p-40, 0x1p-41, 0x1p-42, 0x1p-43, 0x1p-44, 0x1p-45, 0x1p-46, 0x1p-47, 0x1p-48, 0x1p-49,
    0x1p-50, 0x1p-51, 0x1p-52, 0x1p-53, 0x1p-54, 0x1p-55, 0x1p-56, 0x1p-57, 0x1p-58, 0x1p-59,
    0x1p-60, 0x1p-61, 0x1p-62, 0x1p-63};

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static double rddbl(const uint8_t *p)
{
    uint64_t v = (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
    double d;
    memcpy(&d, &v, 8);
    return d;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void wrdbl(uint8_t *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* Every allocation goes through these two, so that tests can make the n-th
 * one fail (sketch__hll_fail_alloc_after, hll_int.h) and check that each
 * failure is an error that leaves its object as it was. */
int sketch__hll_fail_alloc_after;

static bool alloc_fails(void)
{
    if (sketch__hll_fail_alloc_after <= 0)
        return false;
    return --sketch__hll_fail_alloc_after == 0;
}

static void *xmalloc(size_t n) { return alloc_fails() ? NULL : malloc(n); }
static void *xcalloc(size_t n, size_t size) { return alloc_fails() ? NULL : calloc(n, size); }

static int nomem(struct lerr *err, const char *what)
{
    return lerr_set(err, LERR_NOMEM, "out of memory while %s an HLL sketch", what);
}

/* Sets a corrupt-image error at byte `pos` (the first error wins). */
static void corrupt(struct lerr *err, size_t pos, const char *fmt, ...) LS_PRINTF(3, 4);
static void corrupt(struct lerr *err, size_t pos, const char *fmt, ...)
{
    if (!err || err->code != LERR_OK)
        return;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lerr_set(err, LERR_CORRUPT, "corrupt HLL sketch image at byte %zu: %s", pos, msg);
    err->pos = (int64_t)pos;
}

static uint32_t coupon_of(const uint64_t h[2])
{
    uint32_t lz = h[1] ? (uint32_t)__builtin_clzll(h[1]) : 64;
    uint32_t v = (lz > 62 ? 62 : lz) + 1;
    return v << KEY_BITS | (uint32_t)(h[0] & KEY_MASK);
}

static size_t arr_bytes(int type, int lgk)
{
    size_t k = (size_t)1 << lgk;
    switch (type) {
    case SKETCH_HLL_4: return k / 2;
    case SKETCH_HLL_6: return ((k * 3) >> 2) + 1;
    default: return k;
    }
}

/* ---- registers ------------------------------------------------------------ */

static inline unsigned get4(const uint8_t *r, uint32_t slot)
{
    /* Branch-free: odd slots are the high nibble (a branch here would be
     * mispredicted half the time on the update path). */
    return (r[slot >> 1] >> ((slot & 1) << 2)) & 0x0f;
}

static inline void put4(uint8_t *r, uint32_t slot, unsigned v)
{
    uint8_t *b = &r[slot >> 1];
    if (slot & 1)
        *b = (uint8_t)((*b & 0x0f) | ((v << 4) & 0xf0));
    else
        *b = (uint8_t)((*b & 0xf0) | (v & 0x0f));
}

static inline unsigned get6(const uint8_t *r, uint32_t slot)
{
    uint32_t bit = slot * 6;
    unsigned two = (unsigned)r[bit >> 3] | (unsigned)r[(bit >> 3) + 1] << 8;
    return (two >> (bit & 7)) & 0x3f;
}

static inline void put6(uint8_t *r, uint32_t slot, unsigned v)
{
    uint32_t bit = slot * 6, at = bit >> 3, shift = bit & 7;
    unsigned two = (unsigned)r[at] | (unsigned)r[at + 1] << 8;
    two = (two & ~(0x3fu << shift)) | ((v & 0x3f) << shift);
    r[at] = (uint8_t)two;
    r[at + 1] = (uint8_t)(two >> 8);
}

/* ---- the HLL_4 exception table (DataSketches' HeapAuxHashMap) ------------ */

/* Index of slot's entry (>= 0), or ~index of the empty entry where it would
 * go, or INT32_MIN when the table is full without it. */
static int64_t aux_find(const uint32_t *arr, int lg, int lgk, uint32_t slot)
{
    uint32_t mask = (1u << lg) - 1, kmask = (1u << lgk) - 1;
    uint32_t probe = slot & mask, start = probe;
    do {
        uint32_t v = arr[probe];
        if (v == 0)
            return ~(int64_t)probe;
        if ((v & kmask) == slot)
            return probe;
        probe = (probe + ((slot >> lg) | 1)) & mask;
    } while (probe != start);
    return INT32_MIN;
}

static unsigned aux_value(const struct sketch_hll *sk, uint32_t slot)
{
    if (!sk->aux)
        return 0;
    int64_t i = aux_find(sk->aux, sk->aux_lg, sk->lgk, slot);
    return i >= 0 ? sk->aux[i] >> KEY_BITS : 0;
}

/* DataSketches' mustAdd: insert, then grow when more than 3/4 full (the new
 * table is allocated first so that a failure leaves the table unchanged).
 * Returns 0, -1 for no memory, -2 when the slot is already there. */
static int aux_add(struct sketch_hll *sk, uint32_t slot, unsigned value)
{
    if (!sk->aux) {
        sk->aux_lg = lg_aux_init[sk->lgk];
        sk->aux = xcalloc((size_t)1 << sk->aux_lg, 4);
        if (!sk->aux)
            return -1;
        sk->aux_count = 0;
    }
    uint32_t len = 1u << sk->aux_lg;
    uint32_t *grown = NULL;
    if (4ull * (sk->aux_count + 1) > 3ull * len) {
        grown = xcalloc((size_t)len * 2, 4);
        if (!grown)
            return -1;
    }
    int64_t i = aux_find(sk->aux, sk->aux_lg, sk->lgk, slot);
    if (i >= 0 || i == INT32_MIN) {
        free(grown);
        return -2;
    }
    sk->aux[~i] = (uint32_t)value << KEY_BITS | slot;
    sk->aux_count++;
    if (grown) {
        uint32_t kmask = (1u << sk->lgk) - 1;
        for (uint32_t j = 0; j < len; j++) {
            uint32_t v = sk->aux[j];
            if (v) {
                int64_t at = aux_find(grown, sk->aux_lg + 1, sk->lgk, v & kmask);
                grown[~at] = v;
            }
        }
        free(sk->aux);
        sk->aux = grown;
        sk->aux_lg++;
    }
    return 0;
}

/* ---- HLL-mode updates ----------------------------------------------------- */

static inline void hip_kxq_update(struct sketch_hll *sk, unsigned old, unsigned nv)
{
    double kxq0 = sk->kxq0, kxq1 = sk->kxq1;
    /* The sum only reaches 0 by cancellation when every register is
     * near 64 (never with real data); then HIP is +inf, as in DataSketches,
     * and never NaN. */
    double sum = kxq0 + kxq1;
    sk->hip += (double)(1u << sk->lgk) / (sum > 0 ? sum : 0.0);
    if (old < 32)
        kxq0 -= inv_pow2[old];
    else
        kxq1 -= inv_pow2[old];
    if (nv < 32)
        kxq0 += inv_pow2[nv];
    else
        kxq1 += inv_pow2[nv];
    sk->kxq0 = kxq0;
    sk->kxq1 = kxq1;
}

/* The KxQ half of hip_kxq_update, for conversions that overwrite the HIP
 * accumulator afterwards: the same sums in the same order, no division. */
static inline void kxq_update(struct sketch_hll *sk, unsigned old, unsigned nv)
{
    if (old < 32)
        sk->kxq0 -= inv_pow2[old];
    else
        sk->kxq1 -= inv_pow2[old];
    if (nv < 32)
        sk->kxq0 += inv_pow2[nv];
    else
        sk->kxq1 += inv_pow2[nv];
}

/* An HLL_8 / HLL_6 register raised without the HIP step (conversions). */
static void raise_no_hip(struct sketch_hll *sk, uint32_t slot, unsigned v)
{
    unsigned old = sk->type == SKETCH_HLL_8 ? sk->regs[slot] : get6(sk->regs, slot);
    if (v > old) {
        if (sk->type == SKETCH_HLL_8)
            sk->regs[slot] = (uint8_t)v;
        else
            put6(sk->regs, slot, v);
        kxq_update(sk, old, v);
        if (old == 0 && sk->num_at_cur_min)
            sk->num_at_cur_min--;
    }
}

static inline void hll8_update(struct sketch_hll *sk, uint32_t slot, unsigned v)
{
    unsigned old = sk->regs[slot];
    if (v > old) {
        sk->regs[slot] = (uint8_t)v;
        hip_kxq_update(sk, old, v);
        if (old == 0 && sk->num_at_cur_min)
            sk->num_at_cur_min--;
    }
}

static inline void hll6_update(struct sketch_hll *sk, uint32_t slot, unsigned v)
{
    unsigned old = get6(sk->regs, slot);
    if (v > old) {
        put6(sk->regs, slot, v);
        hip_kxq_update(sk, old, v);
        if (old == 0 && sk->num_at_cur_min)
            sk->num_at_cur_min--;
    }
}

/* DataSketches' shiftToBiggerCurMin: every nibble drops by one, exceptions
 * that now fit in a nibble leave the table. -1 for no memory (the caller
 * restores its snapshot). */
static int hll4_shift_cur_min(struct sketch_hll *sk)
{
    unsigned new_min = sk->cur_min + 1u;
    uint32_t k = 1u << sk->lgk, kmask = k - 1, num_new = 0;
    for (uint32_t i = 0; i < k; i++) {
        unsigned nib = get4(sk->regs, i);
        if (nib == 0)
            return -3; /* impossible: num_at_cur_min was 0 */
        if (nib < AUX_TOKEN) {
            put4(sk->regs, i, --nib);
            if (nib == 0)
                num_new++;
        }
    }
    uint32_t *old = sk->aux;
    uint32_t old_len = old ? 1u << sk->aux_lg : 0;
    sk->aux = NULL;
    sk->aux_count = 0;
    for (uint32_t j = 0; j < old_len; j++) {
        uint32_t pair = old[j];
        if (!pair)
            continue;
        uint32_t slot = pair & kmask;
        unsigned val = pair >> KEY_BITS;
        if (val - new_min < AUX_TOKEN) {
            put4(sk->regs, slot, val - new_min);
        } else if (aux_add(sk, slot, val) != 0) {
            free(sk->aux);
            sk->aux = old; /* the caller restores the rest */
            return -1;
        }
    }
    free(old);
    sk->cur_min = (uint8_t)new_min;
    sk->num_at_cur_min = num_new;
    return 0;
}

/* DataSketches' Hll4Update.internalHll4Update without the allocation
 * guarantee: -1 when an allocation failed part way (see hll4_update). */
static int hll4_update_core(struct sketch_hll *sk, uint32_t slot, unsigned v)
{
    unsigned cur_min = sk->cur_min;
    unsigned raw = get4(sk->regs, slot);
    unsigned lb = raw + cur_min, actual_old;
    if (v <= lb)
        return 0;
    if (raw == AUX_TOKEN) {
        actual_old = aux_value(sk, slot);
        if (v <= actual_old)
            return 0;
        hip_kxq_update(sk, actual_old, v);
        if (v - cur_min >= AUX_TOKEN) {
            int64_t i = aux_find(sk->aux, sk->aux_lg, sk->lgk, slot);
            if (i >= 0)
                sk->aux[i] = (uint32_t)v << KEY_BITS | slot;
        }
    } else {
        actual_old = lb;
        hip_kxq_update(sk, actual_old, v);
        if (v - cur_min >= AUX_TOKEN) {
            put4(sk->regs, slot, AUX_TOKEN);
            if (aux_add(sk, slot, v) != 0)
                return -1;
        } else {
            put4(sk->regs, slot, v - cur_min);
        }
    }
    if (actual_old == cur_min) {
        if (sk->num_at_cur_min)
            sk->num_at_cur_min--;
        while (sk->num_at_cur_min == 0) {
            int rc = hll4_shift_cur_min(sk);
            if (rc == -1)
                return -1;
            if (rc != 0)
                break;
        }
    }
    return 0;
}

/* The HLL_4 update with the all-or-nothing guarantee: the rare updates that
 * may allocate (a new exception, a shift of curMin) work on a snapshot. */
static int hll4_update(struct sketch_hll *sk, uint32_t slot, unsigned v)
{
    unsigned raw = get4(sk->regs, slot);
    if (v <= raw + sk->cur_min)
        return 0;
    bool risky = v - sk->cur_min >= AUX_TOKEN ||
                 (raw == 0 && sk->num_at_cur_min == 1); /* will shift curMin */
    if (!risky)
        return hll4_update_core(sk, slot, v);
    size_t nb = arr_bytes(SKETCH_HLL_4, sk->lgk);
    struct sketch_hll saved = *sk;
    uint8_t *regs = xmalloc(nb);
    uint32_t *aux = NULL;
    if (!regs)
        return -1;
    memcpy(regs, sk->regs, nb);
    if (sk->aux) {
        aux = xmalloc((size_t)4 << sk->aux_lg);
        if (!aux) {
            free(regs);
            return -1;
        }
        memcpy(aux, sk->aux, (size_t)4 << sk->aux_lg);
    }
    if (hll4_update_core(sk, slot, v) == 0) {
        free(regs);
        free(aux);
        return 0;
    }
    /* Only the current table is live: every replacement freed its
     * predecessor, saved.aux included. */
    free(sk->aux);
    memcpy(sk->regs, regs, nb);
    free(regs);
    uint8_t *cur_regs = sk->regs;
    *sk = saved;
    sk->regs = cur_regs;
    sk->aux = aux;
    return -1;
}

/* A coupon into an HLL-mode sketch. */
static inline int hll_coupon_update(struct sketch_hll *sk, uint32_t coupon)
{
    uint32_t slot = coupon & ((1u << sk->lgk) - 1);
    unsigned v = coupon >> KEY_BITS;
    switch (sk->type) {
    case SKETCH_HLL_8: hll8_update(sk, slot, v); return 0;
    case SKETCH_HLL_6: hll6_update(sk, slot, v); return 0;
    default: return hll4_update(sk, slot, v);
    }
}

/* The actual value of a register. */
static unsigned slot_value(const struct sketch_hll *sk, uint32_t slot)
{
    switch (sk->type) {
    case SKETCH_HLL_8: return sk->regs[slot] & 0x3f;
    case SKETCH_HLL_6: return get6(sk->regs, slot);
    default: {
        unsigned nib = get4(sk->regs, slot);
        return nib == AUX_TOKEN ? aux_value(sk, slot) : nib + sk->cur_min;
    }
    }
}

/* ---- construction --------------------------------------------------------- */

static struct sketch_hll *alloc_sketch(int lgk, int type)
{
    struct sketch_hll *sk = xcalloc(1, sizeof *sk);
    if (!sk)
        return NULL;
    sk->lgk = (uint8_t)lgk;
    sk->type = (uint8_t)type;
    sk->mode = SKETCH_HLL_LIST;
    sk->lg_arr = LG_INIT_LIST;
    return sk;
}

/* Puts sk in HLL mode with empty registers (the old state is not freed). */
static int init_hll(struct sketch_hll *sk)
{
    uint8_t *regs = xcalloc(arr_bytes(sk->type, sk->lgk), 1);
    if (!regs)
        return -1;
    sk->mode = SKETCH_HLL_HLL;
    sk->regs = regs;
    sk->coupons = NULL;
    sk->count = 0;
    sk->lg_arr = 0;
    sk->cur_min = 0;
    sk->num_at_cur_min = 1u << sk->lgk;
    sk->hip = 0;
    sk->kxq0 = (double)(1u << sk->lgk);
    sk->kxq1 = 0;
    sk->aux = NULL;
    sk->aux_lg = 0;
    sk->aux_count = 0;
    sk->ooo = false;
    sk->rebuild = false;
    return 0;
}

static void free_parts(struct sketch_hll *sk)
{
    free(sk->coupons);
    free(sk->regs);
    free(sk->aux);
    sk->coupons = NULL;
    sk->regs = NULL;
    sk->aux = NULL;
}

static bool valid_lgk(int lgk) { return lgk >= SKETCH_HLL_MIN_LGK && lgk <= SKETCH_HLL_MAX_LGK; }
static bool valid_type(int t) { return t >= SKETCH_HLL_4 && t <= SKETCH_HLL_8; }

struct sketch_hll *sketch_hll_new(int lgk, enum sketch_hll_type type, struct lerr *err)
{
    if (!valid_lgk(lgk)) {
        lerr_set(err, LERR_INVALID,
                 "HLL lgK %d is out of range: use 4 to 21 (Druid's default is 12)", lgk);
        return NULL;
    }
    if (!valid_type((int)type)) {
        lerr_set(err, LERR_INVALID, "unknown HLL target type %d: use HLL_4, HLL_6 or HLL_8",
                 (int)type);
        return NULL;
    }
    struct sketch_hll *sk = alloc_sketch(lgk, (int)type);
    if (!sk)
        nomem(err, "creating");
    return sk;
}

void sketch_hll_free(struct sketch_hll *sk)
{
    if (!sk)
        return;
    free_parts(sk);
    free(sk);
}

static const uint32_t *coupon_arr(const struct sketch_hll *sk)
{
    return sk->mode == SKETCH_HLL_LIST ? sk->list : sk->coupons;
}

/* An exact deep copy. */
static struct sketch_hll *copy_sketch(const struct sketch_hll *src)
{
    struct sketch_hll *sk = xmalloc(sizeof *sk);
    if (!sk)
        return NULL;
    *sk = *src;
    sk->coupons = NULL;
    sk->regs = NULL;
    sk->aux = NULL;
    if (src->coupons) {
        size_t n = (size_t)4 << src->lg_arr;
        if (!(sk->coupons = xmalloc(n)))
            goto fail;
        memcpy(sk->coupons, src->coupons, n);
    }
    if (src->regs) {
        size_t n = arr_bytes(src->type, src->lgk);
        if (!(sk->regs = xmalloc(n)))
            goto fail;
        memcpy(sk->regs, src->regs, n);
    }
    if (src->aux) {
        size_t n = (size_t)4 << src->aux_lg;
        if (!(sk->aux = xmalloc(n)))
            goto fail;
        memcpy(sk->aux, src->aux, n);
    }
    return sk;
fail:
    sketch_hll_free(sk);
    return NULL;
}

/* ---- coupon modes --------------------------------------------------------- */

/* DataSketches' coupon hash-table probe: index of coupon (>= 0), ~index of
 * the empty entry for it, or INT32_MIN when full. */
static int64_t set_find(const uint32_t *arr, int lg, uint32_t coupon)
{
    uint32_t mask = (1u << lg) - 1;
    uint32_t probe = coupon & mask, start = probe;
    do {
        uint32_t v = arr[probe];
        if (v == 0)
            return ~(int64_t)probe;
        if (v == coupon)
            return probe;
        probe = (probe + (((coupon & KEY_MASK) >> lg) | 1)) & mask;
    } while (probe != start);
    return INT32_MIN;
}

static double coupon_estimate_raw(uint32_t count);

/* DataSketches' promoteHeapListOrSetToHll: the coupons, in array order, into
 * fresh registers; the HIP accumulator starts at the coupon estimate. */
static int promote_to_hll(struct sketch_hll *sk)
{
    struct sketch_hll h = *sk;
    if (init_hll(&h) != 0)
        return -1;
    const uint32_t *arr = coupon_arr(sk);
    uint32_t len = 1u << sk->lg_arr;
    for (uint32_t i = 0; i < len; i++) {
        if (arr[i] && hll_coupon_update(&h, arr[i]) != 0) {
            free(h.regs);
            free(h.aux);
            return -1;
        }
    }
    double est = coupon_estimate_raw(sk->count);
    h.hip = est > sk->count ? est : sk->count;
    h.ooo = false;
    free(sk->coupons);
    *sk = h;
    return 0;
}

static int set_insert(struct sketch_hll *sk, uint32_t coupon);

/* DataSketches' promoteHeapListToSet. */
static int promote_list_to_set(struct sketch_hll *sk)
{
    struct sketch_hll s = *sk;
    s.mode = SKETCH_HLL_SET;
    s.lg_arr = LG_INIT_SET;
    s.count = 0;
    s.coupons = xcalloc((size_t)1 << LG_INIT_SET, 4);
    if (!s.coupons)
        return -1;
    for (uint32_t i = 0; i < sk->count; i++)
        set_insert(&s, sk->list[i]); /* 8 coupons: no growth, no failure */
    memset(s.list, 0, sizeof s.list);
    *sk = s;
    return 0;
}

/* Inserts into SET mode, growing or promoting to HLL as DataSketches does.
 * 0, or -1 (no memory: the coupon is not inserted). */
static int set_insert(struct sketch_hll *sk, uint32_t coupon)
{
    int64_t i = set_find(sk->coupons, sk->lg_arr, coupon);
    if (i >= 0 || i == INT32_MIN)
        return 0;
    sk->coupons[~i] = coupon;
    sk->count++;
    uint32_t len = 1u << sk->lg_arr;
    if (4ull * sk->count <= 3ull * len)
        return 0;
    if (sk->lg_arr == sk->lgk - 3) {
        if (promote_to_hll(sk) == 0)
            return 0;
    } else {
        uint32_t *grown = xcalloc((size_t)len * 2, 4);
        if (grown) {
            for (uint32_t j = 0; j < len; j++) {
                uint32_t v = sk->coupons[j];
                if (v)
                    grown[~set_find(grown, sk->lg_arr + 1, v)] = v;
            }
            free(sk->coupons);
            sk->coupons = grown;
            sk->lg_arr++;
            return 0;
        }
    }
    sk->coupons[~i] = 0; /* undo: the last insert is at the end of its chain */
    sk->count--;
    return -1;
}

static int list_insert(struct sketch_hll *sk, uint32_t coupon)
{
    for (uint32_t i = 0; i < 8; i++) {
        if (sk->list[i] == coupon)
            return 0;
        if (sk->list[i] == 0) {
            sk->list[i] = coupon;
            sk->count++;
            if (sk->count < 8)
                return 0;
            int rc = sk->lgk < 8 ? promote_to_hll(sk) : promote_list_to_set(sk);
            if (rc != 0) {
                sk->list[i] = 0;
                sk->count--;
            }
            return rc;
        }
    }
    return 0;
}

static int coupon_update(struct sketch_hll *sk, uint32_t coupon)
{
    switch (sk->mode) {
    case SKETCH_HLL_HLL: return hll_coupon_update(sk, coupon);
    case SKETCH_HLL_SET: return set_insert(sk, coupon);
    default: return list_insert(sk, coupon);
    }
}

/* ---- updates -------------------------------------------------------------- */

static inline int update_coupon_fast(struct sketch_hll *sk, uint32_t c, struct lerr *err);

int sketch_hll_update_hash(struct sketch_hll *sk, const uint64_t h[2], struct lerr *err)
{
    return update_coupon_fast(sk, coupon_of(h), err);
}

/* The HLL-mode fast path shared by the typed updates: most coupons of a
 * full sketch change nothing and leave after one load and compare. */
static inline int update_coupon_fast(struct sketch_hll *sk, uint32_t c, struct lerr *err)
{
    if (sk->mode == SKETCH_HLL_HLL) {
        uint32_t slot = c & ((1u << sk->lgk) - 1);
        unsigned v = c >> KEY_BITS;
        if (sk->type == SKETCH_HLL_8) {
            hll8_update(sk, slot, v);
            return 0;
        }
        if (sk->type == SKETCH_HLL_4) {
            if (v <= sk->cur_min + get4(sk->regs, slot))
                return 0;
            if (hll4_update(sk, slot, v) != 0)
                return nomem(err, "updating");
            return 0;
        }
        hll6_update(sk, slot, v);
        return 0;
    }
    if (coupon_update(sk, c) != 0)
        return nomem(err, "updating");
    return 0;
}

int sketch_hll_update_long(struct sketch_hll *sk, int64_t v, struct lerr *err)
{
    uint64_t h[2];
    sketch_hash_long_inline(v, SKETCH_DEFAULT_SEED, h);
    return update_coupon_fast(sk, coupon_of(h), err);
}

int sketch_hll_update_double(struct sketch_hll *sk, double v, struct lerr *err)
{
    /* As sketch_hash_double: -0.0 is 0.0, every NaN Java's canonical NaN. */
    uint64_t bits;
    if (v == 0.0)
        v = 0.0;
    if (v != v)
        bits = 0x7ff8000000000000ull;
    else
        memcpy(&bits, &v, 8);
    return sketch_hll_update_long(sk, (int64_t)bits, err);
}

int sketch_hll_update_bytes(struct sketch_hll *sk, const void *p, size_t n, struct lerr *err)
{
    if (n == 0)
        return 0;
    uint64_t h[2];
    sketch_hash_bytes(p, n, SKETCH_DEFAULT_SEED, h);
    return sketch_hll_update_hash(sk, h, err);
}

/* ---- accessors ------------------------------------------------------------ */

int sketch_hll_lgk(const struct sketch_hll *sk) { return sk->lgk; }
enum sketch_hll_type sketch_hll_type(const struct sketch_hll *sk)
{
    return (enum sketch_hll_type)sk->type;
}
enum sketch_hll_mode sketch_hll_mode(const struct sketch_hll *sk)
{
    return (enum sketch_hll_mode)sk->mode;
}
/* As DataSketches: an HLL-mode sketch is never empty. */
bool sketch_hll_is_empty(const struct sketch_hll *sk)
{
    return sk->mode != SKETCH_HLL_HLL && sk->count == 0;
}
bool sketch_hll_is_out_of_order(const struct sketch_hll *sk)
{
    return sk->mode == SKETCH_HLL_HLL && sk->ooo;
}
uint32_t sketch_hll_coupon_count(const struct sketch_hll *sk)
{
    return sk->mode == SKETCH_HLL_HLL ? 0 : sk->count;
}

const char *sketch_hll_type_name(enum sketch_hll_type t)
{
    switch (t) {
    case SKETCH_HLL_4: return "HLL_4";
    case SKETCH_HLL_6: return "HLL_6";
    case SKETCH_HLL_8: return "HLL_8";
    }
    return NULL;
}

const char *sketch_hll_mode_name(enum sketch_hll_mode m)
{
    switch (m) {
    case SKETCH_HLL_LIST: return "LIST";
    case SKETCH_HLL_SET: return "SET";
    case SKETCH_HLL_HLL: return "HLL";
    }
    return NULL;
}

/* ---- estimators ----------------------------------------------------------- */

static double cubic(double x0, double y0, double x1, double y1, double x2, double y2, double x3,
                    double y3, double x)
{
    double l0n = (x - x1) * (x - x2) * (x - x3);
    double l1n = (x - x0) * (x - x2) * (x - x3);
    double l2n = (x - x0) * (x - x1) * (x - x3);
    double l3n = (x - x0) * (x - x1) * (x - x2);
    double l0d = (x0 - x1) * (x0 - x2) * (x0 - x3);
    double l1d = (x1 - x0) * (x1 - x2) * (x1 - x3);
    double l2d = (x2 - x0) * (x2 - x1) * (x2 - x3);
    double l3d = (x3 - x0) * (x3 - x1) * (x3 - x2);
    return (y0 * l0n) / l0d + (y1 * l1n) / l1d + (y2 * l2n) / l2d + (y3 * l3n) / l3d;
}

/* The index i with x[i] <= x < x[i+1], by DataSketches' bisection. */
static int straddle(const double *xs, int len, double x)
{
    int left = 0, right = len - 1;
    while (left + 1 < right) {
        int mid = left + (right - left) / 2;
        if (xs[mid] <= x)
            left = mid;
        else
            right = mid;
    }
    return left;
}

static int interp_offset(int off, int len)
{
    if (off == 0)
        return 0;
    if (off == len - 2)
        return off - 2;
    return off - 1;
}

/* CubicInterpolation.usingXAndYTables over the coupon mapping. */
static double coupon_estimate_raw(uint32_t count)
{
    double x = count;
    if (x >= coupon_x[39])
        return coupon_y[39];
    int o = interp_offset(straddle(coupon_x, 40, x), 40);
    return cubic(coupon_x[o], coupon_y[o], coupon_x[o + 1], coupon_y[o + 1], coupon_x[o + 2],
                 coupon_y[o + 2], coupon_x[o + 3], coupon_y[o + 3], x);
}

static double harmonic(uint32_t n)
{
    if (n < 25)
        return harmonic_exact[n];
    double x = n, inv_sq = 1.0 / (x * x);
    double sum = log(x) + 0.577215664901532860606512090082 + (1.0 / (2.0 * x));
    double pw = inv_sq;
    sum -= pw * (1.0 / 12.0);
    pw *= inv_sq;
    sum += pw * (1.0 / 120.0);
    pw *= inv_sq;
    sum -= pw * (1.0 / 252.0);
    pw *= inv_sq;
    sum += pw * (1.0 / 240.0);
    return sum;
}

static double composite_estimate(const struct sketch_hll *sk)
{
    int lgk = sk->lgk;
    uint32_t k = 1u << lgk;
    double cf;
    if (lgk == 4)
        cf = 0.673;
    else if (lgk == 5)
        cf = 0.697;
    else if (lgk == 6)
        cf = 0.709;
    else
        cf = 0.7213 / (1.0 + (1.079 / k));
    double raw = (cf * k * k) / (sk->kxq0 + sk->kxq1);
    const double *xs = sketch__hll_xarrs[lgk - 4];
    double ystride = ystrides[lgk - 4];
    int len = SKETCH__HLL_XARR_LEN;
    if (raw < xs[0])
        return 0;
    if (raw > xs[len - 1]) {
        double final_y = ystride * (len - 1);
        return raw * (final_y / xs[len - 1]);
    }
    double adj;
    if (raw == xs[len - 1]) {
        adj = ystride * (len - 1);
    } else if (raw != raw) {
        return raw; /* NaN KxQ: only a hand-made image has one */
    } else {
        int o = interp_offset(straddle(xs, len, raw), len);
        adj = cubic(xs[o], ystride * o, xs[o + 1], ystride * (o + 1), xs[o + 2], ystride * (o + 2),
                    xs[o + 3], ystride * (o + 3), raw);
    }
    if (adj > (double)(3u << lgk))
        return adj;
    uint32_t unhit = sk->cur_min == 0 ? sk->num_at_cur_min : 0;
    double lin;
    if (unhit == 0)
        lin = k * log(k / 0.5);
    else
        lin = k * (harmonic(k) - harmonic(unhit));
    double avg = (adj + lin) / 2.0;
    double cross = lgk == 4 ? 0.718 : lgk == 5 ? 0.672 : 0.64;
    return avg > cross * k ? adj : lin;
}

double sketch_hll_composite_estimate(const struct sketch_hll *sk)
{
    if (sk->mode != SKETCH_HLL_HLL)
        return sketch_hll_estimate(sk);
    return composite_estimate(sk);
}

double sketch_hll_estimate(const struct sketch_hll *sk)
{
    if (sk->mode != SKETCH_HLL_HLL) {
        double est = coupon_estimate_raw(sk->count);
        return est > sk->count ? est : sk->count;
    }
    return sk->ooo ? composite_estimate(sk) : sk->hip;
}

static double rel_err(bool upper, bool ooo, int lgk, int nsd)
{
    if (lgk > 12) {
        double f = ooo ? sqrt((3.0 * log(2.0)) - 1.0) : sqrt(log(2.0));
        return (nsd * f) / sqrt((double)(1u << lgk));
    }
    int i = (lgk - 4) * 3 + nsd - 1;
    double v = ooo ? (upper ? nonhip_ub[i] : nonhip_lb[i]) : (upper ? hip_ub[i] : hip_lb[i]);
    return fabs(v);
}

int sketch_hll_bounds(const struct sketch_hll *sk, int nsd, double *lower, double *upper,
                      struct lerr *err)
{
    if (nsd < 1 || nsd > 3)
        return lerr_set(err, LERR_INVALID,
                        "HLL bounds: %d standard deviations is out of range: use 1, 2 or 3", nsd);
    double lo, hi;
    if (sk->mode != SKETCH_HLL_HLL) {
        double est = coupon_estimate_raw(sk->count);
        double rse = 0.409 / (1 << 13);
        lo = est / (1.0 + (nsd * rse));
        hi = est / (1.0 - (nsd * rse));
        if (lo < sk->count)
            lo = sk->count;
        if (hi < sk->count)
            hi = sk->count;
    } else {
        uint32_t k = 1u << sk->lgk;
        double nonzero = sk->cur_min == 0 ? (double)(k - sk->num_at_cur_min) : (double)k;
        double est = sketch_hll_estimate(sk);
        lo = est / (1.0 + rel_err(false, sk->ooo, sk->lgk, nsd));
        if (lo < nonzero)
            lo = nonzero;
        hi = est / (1.0 - rel_err(true, sk->ooo, sk->lgk, nsd));
    }
    if (lower)
        *lower = lo;
    if (upper)
        *upper = hi;
    return 0;
}

/* ---- serialization -------------------------------------------------------- */

size_t sketch_hll_max_serialized_size(int lgk, enum sketch_hll_type type)
{
    if (!valid_lgk(lgk) || !valid_type((int)type))
        return 0;
    size_t n = HLL_START + arr_bytes((int)type, lgk);
    if (type == SKETCH_HLL_4)
        n += (size_t)4 << lg_aux_init[lgk];
    return n;
}

size_t sketch_hll_serialized_size(const struct sketch_hll *sk, bool compact)
{
    if (sk->mode != SKETCH_HLL_HLL) {
        size_t start = sk->mode == SKETCH_HLL_LIST ? LIST_START : SET_START;
        return start + (compact ? (size_t)sk->count * 4 : (size_t)4 << sk->lg_arr);
    }
    size_t n = HLL_START + arr_bytes(sk->type, sk->lgk);
    if (sk->type == SKETCH_HLL_4) {
        if (sk->aux)
            n += compact ? (size_t)sk->aux_count * 4 : (size_t)4 << sk->aux_lg;
        else if (!compact)
            n += (size_t)4 << lg_aux_init[sk->lgk];
    }
    return n;
}

size_t sketch_hll_serialize(const struct sketch_hll *sk, bool compact, uint8_t *out, size_t cap,
                            struct lerr *err)
{
    size_t n = sketch_hll_serialized_size(sk, compact);
    if (cap < n) {
        lerr_set(err, LERR_INVALID, "HLL sketch image needs %zu bytes; the buffer has %zu", n,
                 cap);
        return 0;
    }
    memset(out, 0, n);
    out[1] = 1; /* serial version */
    out[2] = 7; /* family: HLL */
    out[3] = sk->lgk;
    out[7] = (uint8_t)(sk->mode | sk->type << 2);
    if (sk->mode != SKETCH_HLL_HLL) {
        bool list = sk->mode == SKETCH_HLL_LIST;
        size_t start = list ? LIST_START : SET_START;
        out[0] = list ? PREINTS_LIST : PREINTS_SET;
        out[4] = sk->lg_arr;
        out[5] = (uint8_t)((sk->count == 0 ? FLAG_EMPTY : 0) | (compact ? FLAG_COMPACT : 0));
        if (list)
            out[6] = (uint8_t)sk->count;
        else
            wr32(out + 8, sk->count);
        const uint32_t *arr = coupon_arr(sk);
        uint32_t len = 1u << sk->lg_arr;
        size_t at = start;
        for (uint32_t i = 0; i < len; i++) {
            if (!compact || arr[i]) {
                wr32(out + at, arr[i]);
                at += 4;
            }
        }
        return n;
    }
    /* DataSketches writes HLL_6 and HLL_8 compact images as updatable ones. */
    bool cflag = compact && sk->type == SKETCH_HLL_4;
    out[0] = PREINTS_HLL;
    out[4] = sk->aux ? sk->aux_lg : 0;
    out[5] = (uint8_t)((cflag ? FLAG_COMPACT : 0) | (sk->ooo ? FLAG_OOO : 0) |
                       (sk->rebuild ? FLAG_REBUILD : 0));
    out[6] = sk->cur_min;
    wrdbl(out + 8, sk->hip);
    wrdbl(out + 16, sk->kxq0);
    wrdbl(out + 24, sk->kxq1);
    wr32(out + 32, sk->num_at_cur_min);
    wr32(out + 36, sk->aux ? sk->aux_count : 0);
    size_t ab = arr_bytes(sk->type, sk->lgk);
    memcpy(out + HLL_START, sk->regs, ab);
    if (sk->aux) {
        size_t at = HLL_START + ab;
        uint32_t len = 1u << sk->aux_lg;
        for (uint32_t i = 0; i < len; i++) {
            if (!compact || sk->aux[i]) {
                wr32(out + at, sk->aux[i]);
                at += 4;
            }
        }
    }
    return n;
}

/* ---- deserialization ------------------------------------------------------ */

static bool valid_coupon(uint32_t c)
{
    unsigned v = c >> KEY_BITS;
    return v >= 1 && v <= 63;
}

static struct sketch_hll *read_list(const uint8_t *p, size_t n, int lgk, int type,
                                    struct lerr *err)
{
    uint32_t count = p[6];
    bool empty = p[5] & FLAG_EMPTY;
    if (empty && count) {
        corrupt(err, 5, "the EMPTY flag is set but the list count (byte 6) is %u", count);
        return NULL;
    }
    if (count >= 8) {
        corrupt(err, 6, "a LIST holds at most 7 coupons; the list count is %u", count);
        return NULL;
    }
    if (n < LIST_START + (size_t)count * 4) {
        corrupt(err, n, "the image ends after %zu bytes; a LIST of %u coupons needs %zu", n, count,
                LIST_START + (size_t)count * 4);
        return NULL;
    }
    struct sketch_hll *sk = alloc_sketch(lgk, type);
    if (!sk) {
        nomem(err, "reading");
        return NULL;
    }
    for (uint32_t i = 0; i < count; i++) {
        size_t at = LIST_START + 4 * (size_t)i;
        uint32_t c = rd32(p + at);
        if (!valid_coupon(c)) {
            corrupt(err, at, "coupon %u is 0x%08x, whose value (top 6 bits) is not 1 to 63", i, c);
            goto fail;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (sk->list[j] == c) {
                corrupt(err, at, "coupon %u (0x%08x) repeats coupon %u", i, c, j);
                goto fail;
            }
        }
        sk->list[i] = c;
    }
    sk->count = count;
    return sk;
fail:
    sketch_hll_free(sk);
    return NULL;
}

static struct sketch_hll *read_set(const uint8_t *p, size_t n, int lgk, int type, struct lerr *err)
{
    if (lgk < 8) {
        corrupt(err, 3, "a SET-mode image needs lgK >= 8; lgK is %d", lgk);
        return NULL;
    }
    if (n < SET_START) {
        corrupt(err, n, "the image ends after %zu bytes; a SET preamble needs %d", n, SET_START);
        return NULL;
    }
    uint32_t count = rd32(p + 8);
    bool compact = p[5] & FLAG_COMPACT;
    int max_lg = lgk - 3;
    uint32_t max_count = (3u << max_lg) / 4; /* more would have been promoted to HLL */
    if (count > max_count) {
        corrupt(err, 8, "the SET count %u exceeds %u, the most a SET of lgK %d holds", count,
                max_count, lgk);
        return NULL;
    }
    int lg = p[4];
    uint32_t slots = compact ? count : 0;
    if (!compact) {
        if (lg < LG_INIT_SET || lg > max_lg) {
            corrupt(err, 4, "the SET table size 2^%d is out of range: 2^%d to 2^%d for lgK %d", lg,
                    LG_INIT_SET, max_lg, lgk);
            return NULL;
        }
        if (4ull * count > 3ull << lg) {
            corrupt(err, 8, "the SET count %u overfills a table of 2^%d entries", count, lg);
            return NULL;
        }
        slots = 1u << lg;
    }
    if (n < SET_START + (size_t)slots * 4) {
        corrupt(err, n, "the image ends after %zu bytes; this SET needs %zu", n,
                SET_START + (size_t)slots * 4);
        return NULL;
    }
    struct sketch_hll *sk = alloc_sketch(lgk, type);
    if (!sk) {
        nomem(err, "reading");
        return NULL;
    }
    sk->mode = SKETCH_HLL_SET;
    sk->lg_arr = (uint8_t)(compact ? LG_INIT_SET : lg);
    sk->coupons = xcalloc((size_t)1 << sk->lg_arr, 4);
    if (!sk->coupons) {
        nomem(err, "reading");
        goto fail;
    }
    uint32_t seen = 0;
    for (uint32_t i = 0; i < slots; i++) {
        size_t at = SET_START + 4 * (size_t)i;
        uint32_t c = rd32(p + at);
        if (c == 0) {
            if (compact) {
                corrupt(err, at, "coupon %u of a compact SET is 0", i);
                goto fail;
            }
            continue;
        }
        if (!valid_coupon(c)) {
            corrupt(err, at, "coupon 0x%08x has value (top 6 bits) %u, not 1 to 63", c,
                    c >> KEY_BITS);
            goto fail;
        }
        if (compact) {
            /* Re-inserted as DataSketches heapifies a compact SET. */
            int64_t f = set_find(sk->coupons, sk->lg_arr, c);
            if (f >= 0) {
                corrupt(err, at, "coupon 0x%08x appears twice", c);
                goto fail;
            }
            if (set_insert(sk, c) != 0) {
                nomem(err, "reading");
                goto fail;
            }
        } else {
            /* Kept where it is (the updatable image is the table itself), once
             * its probe sequence is checked to reach it. */
            int64_t f = set_find(sk->coupons, sk->lg_arr, c);
            if (f >= 0) {
                corrupt(err, at, "coupon 0x%08x appears twice", c);
                goto fail;
            }
            sk->coupons[i] = c;
            seen++;
        }
    }
    if (!compact) {
        if (seen != count) {
            corrupt(err, 8, "the SET count is %u but the table holds %u coupons", count, seen);
            goto fail;
        }
        for (uint32_t i = 0; i < slots; i++) {
            uint32_t c = sk->coupons[i];
            if (c && set_find(sk->coupons, sk->lg_arr, c) != (int64_t)i) {
                corrupt(err, SET_START + 4 * (size_t)i,
                        "coupon 0x%08x is not where its hash probe finds it", c);
                goto fail;
            }
        }
        sk->count = count;
    }
    return sk;
fail:
    sketch_hll_free(sk);
    return NULL;
}

/* DataSketches' checkRebuildCurMinNumKxQ: KxQ and curMin from the registers. */
static void rebuild_kxq(struct sketch_hll *sk)
{
    if (!sk->rebuild || sk->mode != SKETCH_HLL_HLL || sk->type != SKETCH_HLL_8)
        return;
    unsigned cur_min = 64;
    uint32_t num = 0, k = 1u << sk->lgk;
    double kxq0 = k, kxq1 = 0;
    for (uint32_t i = 0; i < k; i++) {
        unsigned v = sk->regs[i] & 0x3f;
        if (v > 0) {
            if (v < 32)
                kxq0 += inv_pow2[v] - 1.0;
            else
                kxq1 += inv_pow2[v] - 1.0;
        }
        if (v > cur_min)
            continue;
        if (v < cur_min) {
            cur_min = v;
            num = 1;
        } else {
            num++;
        }
    }
    sk->kxq0 = kxq0;
    sk->kxq1 = kxq1;
    sk->cur_min = (uint8_t)cur_min;
    sk->num_at_cur_min = num;
    sk->rebuild = false;
}

static struct sketch_hll *read_hll(const uint8_t *p, size_t n, int lgk, int type, struct lerr *err)
{
    uint32_t k = 1u << lgk;
    size_t ab = arr_bytes(type, lgk);
    if (n < HLL_START + ab) {
        corrupt(err, n, "the image ends after %zu bytes; an %s array of lgK %d needs %zu", n,
                sketch_hll_type_name((enum sketch_hll_type)type), lgk, HLL_START + ab);
        return NULL;
    }
    unsigned cur_min = p[6];
    double hip = rddbl(p + 8), kxq0 = rddbl(p + 16), kxq1 = rddbl(p + 24);
    uint32_t num = rd32(p + 32), aux_count = rd32(p + 36);
    bool compact = p[5] & FLAG_COMPACT;
    const char *name = sketch_hll_type_name((enum sketch_hll_type)type);
    if (cur_min > 63) {
        corrupt(err, 6, "curMin is %u; register values stop at 63", cur_min);
        return NULL;
    }
    if (!(hip >= 0)) {
        corrupt(err, 8, "the HIP accumulator is %g, not a number >= 0", hip);
        return NULL;
    }
    /* KxQ0 + KxQ1 is a running sum of 2^-value over the registers, kept
     * with its rounding drift (which can be large when every register is
     * high), so it is taken as written; KxQ1 may even be negative, as
     * DataSketches' rebuild after a union charges registers >= 32 to it as
     * 2^-v - 1. Finite values keep every later update finite. */
    if (!isfinite(kxq0) || !isfinite(kxq1)) {
        corrupt(err, isfinite(kxq0) ? 24 : 16, "the KxQ registers are %g and %g, not finite", kxq0,
                kxq1);
        return NULL;
    }
    if (num > k) {
        corrupt(err, 32, "numAtCurMin is %u, more than the %u registers", num, k);
        return NULL;
    }
    if (type != SKETCH_HLL_4 && aux_count) {
        corrupt(err, 36, "an %s image has %u exceptions; only HLL_4 has any", name, aux_count);
        return NULL;
    }
    struct sketch_hll *sk = alloc_sketch(lgk, type);
    if (!sk || init_hll(sk) != 0) {
        nomem(err, "reading");
        sketch_hll_free(sk);
        return NULL;
    }
    sk->ooo = p[5] & FLAG_OOO;
    sk->rebuild = (p[5] & FLAG_REBUILD) && type == SKETCH_HLL_8;
    sk->cur_min = (uint8_t)cur_min;
    sk->hip = hip;
    sk->kxq0 = kxq0;
    sk->kxq1 = kxq1;
    sk->num_at_cur_min = num;
    memcpy(sk->regs, p + HLL_START, ab);
    uint32_t zeros = 0, tokens = 0, below = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (type == SKETCH_HLL_4) {
            unsigned nib = get4(sk->regs, i);
            if (nib == AUX_TOKEN)
                tokens++;
            else if (nib == 0)
                zeros++;
            else if (nib + cur_min > 63) {
                corrupt(err, HLL_START + i / 2, "register %u is %u + curMin %u, above 63", i, nib,
                        cur_min);
                goto fail;
            }
        } else {
            unsigned v = type == SKETCH_HLL_8 ? sk->regs[i] : get6(sk->regs, i);
            if (v > 63) {
                corrupt(err, HLL_START + i, "register %u is %u, above 63", i, v);
                goto fail;
            }
            if (v == 0)
                zeros++;
            if (v < cur_min)
                below++;
        }
    }
    if (type == SKETCH_HLL_4 && num != zeros) {
        corrupt(err, 32, "numAtCurMin is %u but %u registers are at curMin", num, zeros);
        goto fail;
    }
    if (type != SKETCH_HLL_4 && !sk->rebuild) {
        if (cur_min == 0 && num != zeros) {
            corrupt(err, 32, "numAtCurMin is %u but %u registers are 0", num, zeros);
            goto fail;
        }
        if (cur_min > 0 && below) {
            corrupt(err, 6, "curMin is %u but %u registers are below it", cur_min, below);
            goto fail;
        }
    }
    if (type == SKETCH_HLL_4) {
        if (aux_count != tokens) {
            corrupt(err, 36, "the exception count is %u but %u registers hold the exception mark",
                    aux_count, tokens);
            goto fail;
        }
        size_t start = HLL_START + ab;
        uint32_t entries = aux_count;
        if (!compact && aux_count) {
            int lg = p[4];
            if (lg < 2 || lg >= lgk) {
                corrupt(err, 4, "the exception table size 2^%d is out of range for lgK %d", lg,
                        lgk);
                goto fail;
            }
            entries = 1u << lg;
        }
        if (n < start + (size_t)entries * 4) {
            corrupt(err, n, "the image ends after %zu bytes; its %u exceptions need %zu", n,
                    aux_count, start + (size_t)entries * 4);
            goto fail;
        }
        if (aux_count) {
            /* Rebuilt by insertion, as DataSketches heapifies it, starting
             * from the size computeLgArr gives a compact image. */
            uint32_t c2 = 1;
            while (c2 < aux_count)
                c2 <<= 1;
            if (4ull * aux_count > 3ull * c2)
                c2 <<= 1;
            int lg = 0;
            while ((1u << lg) < c2)
                lg++;
            if (!compact)
                lg = p[4];
            else if (lg < lg_aux_init[lgk])
                lg = lg_aux_init[lgk];
            sk->aux_lg = (uint8_t)lg;
            sk->aux = xcalloc((size_t)1 << lg, 4);
            if (!sk->aux) {
                nomem(err, "reading");
                goto fail;
            }
        }
        uint32_t found = 0;
        for (uint32_t i = 0; i < entries; i++) {
            size_t at = start + 4 * (size_t)i;
            uint32_t pair = rd32(p + at);
            if (pair == 0) {
                if (compact) {
                    corrupt(err, at, "exception %u of a compact image is 0", i);
                    goto fail;
                }
                continue;
            }
            uint32_t slot = pair & KEY_MASK;
            unsigned val = pair >> KEY_BITS;
            if (slot >= k) {
                corrupt(err, at, "exception 0x%08x names register %u; lgK %d has %u", pair, slot,
                        lgk, k);
                goto fail;
            }
            if (val > 63 || val < cur_min + AUX_TOKEN) {
                corrupt(err, at, "exception for register %u has value %u; it must be %u to 63",
                        slot, val, cur_min + AUX_TOKEN);
                goto fail;
            }
            if (get4(sk->regs, slot) != AUX_TOKEN) {
                corrupt(err, at,
                        "exception for register %u, whose nibble is not the exception mark", slot);
                goto fail;
            }
            int rc = aux_add(sk, slot, val);
            if (rc == -2) {
                corrupt(err, at, "a second exception for register %u", slot);
                goto fail;
            }
            if (rc != 0) {
                nomem(err, "reading");
                goto fail;
            }
            found++;
        }
        if (found != aux_count) {
            corrupt(err, 36, "the exception count is %u but the table holds %u", aux_count, found);
            goto fail;
        }
    }
    rebuild_kxq(sk);
    return sk;
fail:
    sketch_hll_free(sk);
    return NULL;
}

struct sketch_hll *sketch_hll_deserialize(const void *data, size_t n, struct lerr *err)
{
    const uint8_t *p = data;
    if (n < 8) {
        corrupt(err, n, "the image is %zu bytes; an HLL preamble needs 8", n);
        return NULL;
    }
    if (p[2] != 7) {
        corrupt(err, 2, "family id is %u, not 7 (HLL)", p[2]);
        return NULL;
    }
    if (p[1] != 1) {
        corrupt(err, 1, "serial version is %u; only 1 exists", p[1]);
        return NULL;
    }
    int lgk = p[3];
    if (!valid_lgk(lgk)) {
        corrupt(err, 3, "lgK is %d, not 4 to 21", lgk);
        return NULL;
    }
    int mode = p[7] & 3, type = (p[7] >> 2) & 3;
    if (mode == 3 || type == 3 || (p[7] >> 4)) {
        corrupt(err, 7,
                "mode byte 0x%02x: the low 2 bits (mode) must be 0-2 and the next 2 "
                "(type) 0-2, the rest 0",
                p[7]);
        return NULL;
    }
    static const uint8_t want_pre[3] = {PREINTS_LIST, PREINTS_SET, PREINTS_HLL};
    if (p[0] != want_pre[mode]) {
        corrupt(err, 0, "preamble ints is %u; %s mode has %u", p[0],
                sketch_hll_mode_name((enum sketch_hll_mode)mode), want_pre[mode]);
        return NULL;
    }
    if (mode == SKETCH_HLL_LIST)
        return read_list(p, n, lgk, type, err);
    if (mode == SKETCH_HLL_SET)
        return read_set(p, n, lgk, type, err);
    return read_hll(p, n, lgk, type, err);
}

/* ---- conversions (DataSketches' copyAs and Conversions) ------------------- */

/* putOutOfOrder: setting the flag zeroes the HIP accumulator. */
static void put_ooo(struct sketch_hll *sk, bool ooo)
{
    if (ooo)
        sk->hip = 0;
    sk->ooo = ooo;
}

static struct sketch_hll *convert_hll(const struct sketch_hll *src, int type)
{
    struct sketch_hll *dst = alloc_sketch(src->lgk, type);
    if (!dst || init_hll(dst) != 0) {
        sketch_hll_free(dst);
        return NULL;
    }
    uint32_t k = 1u << src->lgk;
    put_ooo(dst, src->ooo);
    if (type == SKETCH_HLL_4) {
        unsigned cur_min = 64;
        uint32_t num = 0;
        for (uint32_t i = 0; i < k; i++) {
            unsigned v = slot_value(src, i);
            if (v > cur_min)
                continue;
            if (v < cur_min) {
                cur_min = v;
                num = 1;
            } else {
                num++;
            }
        }
        for (uint32_t i = 0; i < k; i++) {
            unsigned v = slot_value(src, i);
            if (v == 0)
                continue;
            kxq_update(dst, 0, v);
            if (v >= cur_min + 15) {
                put4(dst->regs, i, AUX_TOKEN);
                if (aux_add(dst, i, v) != 0) {
                    sketch_hll_free(dst);
                    return NULL;
                }
            } else {
                put4(dst->regs, i, v - cur_min);
            }
        }
        dst->cur_min = (uint8_t)cur_min;
        dst->num_at_cur_min = num;
    } else {
        uint32_t zeros = k;
        for (uint32_t i = 0; i < k; i++) {
            unsigned v = slot_value(src, i);
            if (v == 0)
                continue;
            zeros--;
            raise_no_hip(dst, i, v);
        }
        dst->num_at_cur_min = zeros;
    }
    dst->hip = src->hip;
    dst->rebuild = false;
    return dst;
}

static struct sketch_hll *copy_as(const struct sketch_hll *src, int type)
{
    if (src->mode != SKETCH_HLL_HLL || src->type == type) {
        struct sketch_hll *sk = copy_sketch(src);
        if (sk)
            sk->type = (uint8_t)type;
        return sk;
    }
    return convert_hll(src, type);
}

struct sketch_hll *sketch_hll_copy_as(const struct sketch_hll *sk, enum sketch_hll_type type,
                                      struct lerr *err)
{
    if (!valid_type((int)type)) {
        lerr_set(err, LERR_INVALID, "unknown HLL target type %d: use HLL_4, HLL_6 or HLL_8",
                 (int)type);
        return NULL;
    }
    struct sketch_hll *c = copy_as(sk, (int)type);
    if (!c)
        nomem(err, "copying");
    return c;
}

/* ---- union (DataSketches' Union) ------------------------------------------ */

struct sketch_hll_union *sketch_hll_union_new(int lg_max_k, struct lerr *err)
{
    if (!valid_lgk(lg_max_k)) {
        lerr_set(err, LERR_INVALID, "HLL union lgMaxK %d is out of range: use 4 to 21", lg_max_k);
        return NULL;
    }
    struct sketch_hll_union *u = xcalloc(1, sizeof *u);
    if (!u || !(u->gadget = alloc_sketch(lg_max_k, SKETCH_HLL_8))) {
        free(u);
        nomem(err, "creating a union of");
        return NULL;
    }
    u->lg_max_k = lg_max_k;
    return u;
}

void sketch_hll_union_free(struct sketch_hll_union *u)
{
    if (!u)
        return;
    sketch_hll_free(u->gadget);
    free(u);
}

int sketch_hll_union_lg_max_k(const struct sketch_hll_union *u) { return u->lg_max_k; }

/* DataSketches' downsample: an HLL_8 copy of an HLL-mode sketch at lgK tgt. */
static struct sketch_hll *downsample(const struct sketch_hll *src, int tgt_lgk)
{
    struct sketch_hll *dst = alloc_sketch(tgt_lgk, SKETCH_HLL_8);
    if (!dst || init_hll(dst) != 0) {
        sketch_hll_free(dst);
        return NULL;
    }
    uint32_t k = 1u << src->lgk, mask = (1u << tgt_lgk) - 1;
    for (uint32_t i = 0; i < k; i++) {
        unsigned v = slot_value(src, i);
        if (v)
            raise_no_hip(dst, i & mask, v);
    }
    dst->hip = src->hip;
    put_ooo(dst, src->ooo);
    dst->rebuild = false;
    return dst;
}

/* DataSketches' mergeTo: a LIST or SET's coupons, in array order, into dst.
 * Allocation-free when dst is in HLL mode (HLL_8 never allocates). */
static int merge_coupons(const struct sketch_hll *src, struct sketch_hll *dst)
{
    const uint32_t *arr = coupon_arr(src);
    uint32_t len = 1u << src->lg_arr;
    for (uint32_t i = 0; i < len; i++)
        if (arr[i] && coupon_update(dst, arr[i]) != 0)
            return -1;
    return 0;
}

/* mergeHlltoHLLmode: registers max'ed into an HLL_8 target of lgK <= the
 * source's, folding slots; the target's KxQ / curMin are then stale. */
static void merge_registers(const struct sketch_hll *src, struct sketch_hll *tgt)
{
    uint32_t k = 1u << src->lgk, mask = (1u << tgt->lgk) - 1;
    uint8_t *t = tgt->regs;
    const uint8_t *r = src->regs;
    /* One loop per source encoding: this runs once per merged sketch. */
    if (src->type == SKETCH_HLL_8) {
        for (uint32_t i = 0; i < k; i++) {
            uint8_t v = r[i] & 0x3f, *d = &t[i & mask];
            *d = v > *d ? v : *d;
        }
    } else if (src->type == SKETCH_HLL_4) {
        unsigned cur_min = src->cur_min;
        for (uint32_t i = 0; i < k; i += 2) {
            unsigned lo = r[i >> 1] & 0x0f, hi = r[i >> 1] >> 4;
            unsigned v0 = lo == AUX_TOKEN ? aux_value(src, i) : lo + cur_min;
            unsigned v1 = hi == AUX_TOKEN ? aux_value(src, i + 1) : hi + cur_min;
            uint8_t *d0 = &t[i & mask], *d1 = &t[(i + 1) & mask];
            if (v0 > *d0)
                *d0 = (uint8_t)v0;
            if (v1 > *d1)
                *d1 = (uint8_t)v1;
        }
    } else {
        for (uint32_t i = 0; i < k; i++) {
            unsigned v = get6(r, i);
            uint8_t *d = &t[i & mask];
            if (v > *d)
                *d = (uint8_t)v;
        }
    }
    tgt->rebuild = true;
}

static int union_impl(struct sketch_hll_union *u, const struct sketch_hll *src)
{
    struct sketch_hll *g = u->gadget, *res = NULL;
    if (sketch_hll_is_empty(src))
        return 0;
    if (src->mode != SKETCH_HLL_HLL) {
        if (src->mode == SKETCH_HLL_SET && sketch_hll_is_empty(g) && src->lgk == g->lgk) {
            res = copy_as(src, SKETCH_HLL_8);
        } else if (g->mode == SKETCH_HLL_HLL) {
            return merge_coupons(src, g); /* cannot fail */
        } else {
            res = copy_sketch(g);
            if (res && merge_coupons(src, res) != 0) {
                sketch_hll_free(res);
                res = NULL;
            }
        }
    } else {
        int src_lgk = src->lgk, g_lgk = g->lgk, max = u->lg_max_k;
        bool g_empty = sketch_hll_is_empty(g);
        if (g_empty) {
            res = src_lgk > max ? downsample(src, max) : copy_as(src, SKETCH_HLL_8);
        } else if (g->mode != SKETCH_HLL_HLL) {
            res = src_lgk > max ? downsample(src, max) : copy_as(src, SKETCH_HLL_8);
            if (res && merge_coupons(g, res) != 0) { /* res is HLL_8: never */
                sketch_hll_free(res);
                res = NULL;
            }
        } else if (src_lgk >= g_lgk) {
            merge_registers(src, g);
            put_ooo(g, true);
            return 0;
        } else {
            res = downsample(g, src_lgk);
            if (res) {
                merge_registers(src, res);
                put_ooo(res, true);
            }
        }
    }
    if (!res)
        return -1;
    sketch_hll_free(u->gadget);
    u->gadget = res;
    return 0;
}

int sketch_hll_union_update(struct sketch_hll_union *u, const struct sketch_hll *sk,
                            struct lerr *err)
{
    if (union_impl(u, sk) != 0)
        return nomem(err, "merging");
    return 0;
}

int sketch_hll_union_update_hash(struct sketch_hll_union *u, const uint64_t h[2], struct lerr *err)
{
    return sketch_hll_update_hash(u->gadget, h, err);
}

void sketch_hll_union_settle(struct sketch_hll_union *u) { rebuild_kxq(u->gadget); }

struct sketch_hll *sketch_hll_union_result(struct sketch_hll_union *u, enum sketch_hll_type type,
                                           struct lerr *err)
{
    rebuild_kxq(u->gadget);
    return sketch_hll_copy_as(u->gadget, type, err);
}

/* ---- toString ------------------------------------------------------------- */

/* Java's Double.toString: the shortest decimal that reads back as d, as
 * "123.0" from 10^-3 up to 10^7 and as "1.234E7" outside. */
static void java_double(double d, char *out, size_t cap)
{
    if (d != d) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(out, cap, d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (d == 0) {
        snprintf(out, cap, signbit(d) ? "-0.0" : "0.0");
        return;
    }
    char sci[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    /* sci is [-]D[.DDD]e[+-]XX */
    char digits[24];
    int nd = 0, exp10;
    const char *s = sci;
    bool neg = *s == '-';
    if (neg)
        s++;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9')
            digits[nd++] = *s;
    exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    char body[64];
    size_t at = 0;
    double ad = fabs(d);
    if (ad >= 1e-3 && ad < 1e7) {
        if (exp10 >= 0) {
            for (int i = 0; i <= exp10; i++)
                body[at++] = i < nd ? digits[i] : '0';
            body[at++] = '.';
            if (nd > exp10 + 1)
                for (int i = exp10 + 1; i < nd; i++)
                    body[at++] = digits[i];
            else
                body[at++] = '0';
        } else {
            body[at++] = '0';
            body[at++] = '.';
            for (int i = 0; i < -exp10 - 1; i++)
                body[at++] = '0';
            for (int i = 0; i < nd; i++)
                body[at++] = digits[i];
        }
        body[at] = 0;
    } else {
        body[at++] = digits[0];
        body[at++] = '.';
        if (nd > 1)
            for (int i = 1; i < nd; i++)
                body[at++] = digits[i];
        else
            body[at++] = '0';
        snprintf(body + at, sizeof body - at, "E%d", exp10);
    }
    snprintf(out, cap, "%s%s", neg ? "-" : "", body);
}

size_t sketch_hll_to_string(const struct sketch_hll *sk, char *buf, size_t cap)
{
    char lb[40], est[40], ub[40];
    double lo = 0, hi = 0;
    sketch_hll_bounds(sk, 1, &lo, &hi, NULL);
    java_double(lo, lb, sizeof lb);
    java_double(sketch_hll_estimate(sk), est, sizeof est);
    java_double(hi, ub, sizeof ub);
    /* The "Memory" line is what DataSketches 6.x (the Java library Druid
     * ships) prints for an on-heap sketch. */
    int n = snprintf(buf, cap,
                     "### HLL SKETCH SUMMARY: \n"
                     "  Log Config K   : %d\n"
                     "  Hll Target     : %s\n"
                     "  Current Mode   : %s\n"
                     "  Memory         : false\n"
                     "  LB             : %s\n"
                     "  Estimate       : %s\n"
                     "  UB             : %s\n"
                     "  OutOfOrder Flag: %s\n",
                     sk->lgk, sketch_hll_type_name((enum sketch_hll_type)sk->type),
                     sketch_hll_mode_name((enum sketch_hll_mode)sk->mode), lb, est, ub,
                     sketch_hll_is_out_of_order(sk) ? "true" : "false");
    if (n < 0)
        return 0;
    size_t used = (size_t)n;
    char *tail = buf && used < cap ? buf + used : NULL;
    size_t room = tail ? cap - used : 0;
    int m;
    if (sk->mode == SKETCH_HLL_HLL) {
        char hip[40], k0[40], k1[40];
        java_double(sk->hip, hip, sizeof hip);
        java_double(sk->kxq0, k0, sizeof k0);
        java_double(sk->kxq1, k1, sizeof k1);
        m = snprintf(tail, room,
                     "  CurMin         : %u\n"
                     "  NumAtCurMin    : %u\n"
                     "  HipAccum       : %s\n"
                     "  KxQ0           : %s\n"
                     "  KxQ1           : %s\n"
                     "  Rebuild KxQ Flg: %s\n",
                     sk->cur_min, sk->num_at_cur_min, hip, k0, k1, sk->rebuild ? "true" : "false");
    } else {
        m = snprintf(tail, room, "  Coupon Count   : %u\n", sk->count);
    }
    return m < 0 ? used : used + (size_t)m;
}
