/*
 * theta.c — the theta sketch family of Apache DataSketches (theta.h):
 * the QuickSelect update sketch, compact sketches and their serial forms
 * (versions 1 to 4; update sketch and union images read as compact ones),
 * BinomialBoundsN error bounds, and the set operations
 * union, intersection and A-not-B with DataSketches' theta and empty rules.
 *
 * Written from DataSketches' Java and C++ code and format descriptions
 * (PreambleUtil, HeapQuickSelectSketch, CompactOperations, UnionImpl,
 * IntersectionImpl, AnotBimpl, BinomialBoundsN; compact_theta_sketch_parser,
 * bit_packing). Facts that matter for compatibility:
 *   - a value's hash is MurmurHash3 x64-128's h1 >> 1 (seed 9001); 0 and
 *     hashes >= theta are never retained; theta 2^63-1 means 1.0;
 *   - the hash table probes with DataSketches' odd stride
 *     (2 * ((h >> lgArr) & 127) + 1), grows by the resize factor while below
 *     2k entries at half load, and at 2k entries rebuilds at 15/16 load:
 *     theta becomes the (k+1)-th smallest hash and only the k below stay;
 *   - serialized integers are little-endian; bytes 0..7 are preamble longs,
 *     serial version, family, (lgNom, lgArr), flags, seed hash.
 *
 * Everything read from bytes is bounds-checked before use and validated
 * (hashes in 1 .. theta-1, ordered hashes strictly ascending), so set
 * operations never see a hash table they could overfill.
 */
#include "sketch/theta.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/num.h"
#include "util/util.h"

#define MAX_THETA SKETCH_THETA_MAX_THETA
#define MIN_LG_ARR 5
#define STRIDE_MASK 127u
/* The largest retained count a compact sketch can have: an update sketch of
 * lgK 26 holds up to 15/16 of 2^27 hashes before it rebuilds. */
#define MAX_ENTRIES (1u << 27)

#define FAMILY_QUICKSELECT 2
#define FAMILY_COMPACT 3
#define FAMILY_UNION 4

#define FLAG_BIG_ENDIAN 0x01
#define FLAG_READ_ONLY 0x02
#define FLAG_EMPTY 0x04
#define FLAG_COMPACT 0x08
#define FLAG_ORDERED 0x10
#define FLAG_SINGLE 0x20

struct sketch_theta {
    uint64_t *table; /* 1 << lg_arr slots, 0 = free */
    uint64_t theta;
    uint64_t seed;
    uint32_t count;
    uint32_t threshold; /* count above which the table grows or rebuilds */
    uint8_t lg_k, lg_arr, lg_rf;
    bool empty;
    uint16_t seed_hash;
    float p;
};

struct sketch_theta_compact {
    uint64_t *entries;
    uint64_t theta;
    uint32_t count;
    uint16_t seed_hash;
    bool empty, ordered;
};

struct sketch_theta_union {
    struct sketch_theta *gadget;
    uint64_t union_theta;
    bool union_empty;
};

struct sketch_theta_intersection {
    uint64_t *table; /* NULL when count is 0 */
    uint64_t theta;
    uint64_t seed;
    uint32_t count;
    uint8_t lg_arr;
    bool has_result, empty;
    uint16_t seed_hash;
};

/* ---- small helpers ----------------------------------------------------------------- */

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static int nomem(struct lerr *err, const char *what, uint64_t n)
{
    return lerr_set(err, LERR_NOMEM, "theta sketch: out of memory allocating %s (%llu bytes)",
                    what, (unsigned long long)n);
}

static void *alloc_hashes(uint64_t n, bool zero, const char *what, struct lerr *err)
{
    if (n == 0)
        n = 1;
    void *p = zero ? calloc((size_t)n, sizeof(uint64_t)) : malloc((size_t)n * sizeof(uint64_t));
    if (!p)
        nomem(err, what, n * sizeof(uint64_t));
    return p;
}

uint16_t sketch_theta_seed_hash(uint64_t seed)
{
    uint64_t h[2];
    sketch_hash_long((int64_t)seed, 0, h);
    return (uint16_t)(h[0] & 0xffff);
}

static int check_seed_hash(uint16_t got, uint16_t want, const char *what, struct lerr *err)
{
    if (got == want)
        return 0;
    return lerr_set(err, LERR_INVALID,
                    "theta sketch: %s has seed hash 0x%04x, expected 0x%04x: it was built with a "
                    "different hash seed; sketches only combine with sketches of the same seed",
                    what, got, want);
}

/* ---- hash table (DataSketches' open addressing with an odd stride) ------------------ */

static inline uint32_t stride_of(uint64_t h, int lg)
{
    return 2u * (uint32_t)((h >> lg) & STRIDE_MASK) + 1u;
}

/* Inserts h unless present: returns its slot, or -1 when it was already there.
 * The table always has a free slot (loads stay at or below 15/16). */
static inline int64_t table_insert(uint64_t *t, int lg, uint64_t h)
{
    uint32_t mask = (1u << lg) - 1, i = (uint32_t)h & mask, stride = stride_of(h, lg);
    for (;;) {
        uint64_t v = t[i];
        if (v == 0) {
            t[i] = h;
            return i;
        }
        if (v == h)
            return -1;
        i = (i + stride) & mask;
    }
}

static bool table_contains(const uint64_t *t, int lg, uint64_t h)
{
    uint32_t mask = (1u << lg) - 1, i = (uint32_t)h & mask, stride = stride_of(h, lg);
    for (uint64_t n = 0; n <= mask; n++) {
        uint64_t v = t[i];
        if (v == 0)
            return false;
        if (v == h)
            return true;
        i = (i + stride) & mask;
    }
    return false;
}

/* The smallest table (at least 2^5) holding count hashes at 15/16 load. */
static int lg_size_for(uint64_t count)
{
    int lg = MIN_LG_ARR;
    while (((uint64_t)1 << lg) * 15 < count * 16)
        lg++;
    return lg;
}

/* ---- quickselect ------------------------------------------------------------------- */

/* Rearranges a[0..n) and returns the element of rank r (0-based). */
static uint64_t select_rank(uint64_t *a, uint32_t n, uint32_t r)
{
    uint32_t lo = 0, hi = n - 1;
    while (hi > lo) {
        uint32_t mid = lo + (hi - lo) / 2;
        /* median of three as the pivot, moved to hi */
        if (a[mid] < a[lo]) {
            uint64_t t = a[mid];
            a[mid] = a[lo];
            a[lo] = t;
        }
        if (a[hi] < a[lo]) {
            uint64_t t = a[hi];
            a[hi] = a[lo];
            a[lo] = t;
        }
        if (a[mid] < a[hi]) {
            uint64_t t = a[mid];
            a[mid] = a[hi];
            a[hi] = t;
        }
        uint64_t pivot = a[hi];
        uint32_t store = lo;
        for (uint32_t i = lo; i < hi; i++) {
            if (a[i] < pivot) {
                uint64_t t = a[i];
                a[i] = a[store];
                a[store] = t;
                store++;
            }
        }
        uint64_t t = a[store];
        a[store] = a[hi];
        a[hi] = t;
        if (store == r)
            return a[store];
        if (store < r)
            lo = store + 1;
        else
            hi = store - 1;
    }
    return a[lo];
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* Sorts a[0..n) ascending: an LSD radix sort of 11-bit digits (the digits
 * every hash shares skipped) for the thousands of hashes of a compact
 * sketch, where qsort's calls cost most of a query's finalize; qsort for
 * few hashes or when the buffer cannot be had. Same order either way. */
static void sort_u64(uint64_t *a, size_t n)
{
    uint64_t *tmp = n >= 512 ? malloc(n * sizeof *tmp) : NULL;
    if (!tmp) {
        qsort(a, n, sizeof *a, cmp_u64);
        return;
    }
    uint64_t diff = 0;
    for (size_t i = 1; i < n; i++)
        diff |= a[i] ^ a[0];
    for (unsigned shift = 0; shift < 64; shift += 11) {
        if (!((diff >> shift) & 0x7ff))
            continue;
        size_t cnt[2049] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[((a[i] >> shift) & 0x7ff) + 1]++;
        for (size_t b = 0; b < 2048; b++)
            cnt[b + 1] += cnt[b];
        for (size_t i = 0; i < n; i++)
            tmp[cnt[(a[i] >> shift) & 0x7ff]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
    free(tmp);
}

/* ---- BinomialBoundsN (DataSketches' error bounds) ---------------------------------- */

/*
 * For few samples and a very small theta, DataSketches replaces numSDev by
 * these values so that its continuity-corrected Gaussian bounds come close
 * to exact binomial ones (EquivTables; index 3 * samples + numSDev - 1).
 */
// clang-format off
static const double lb_equiv[363] = {
    1.0, 2.0, 3.0, /* 0 */
    0.78733703534118149, 3.14426768537558132, 13.56789685109913535, /* 1 */
    0.94091379266077979, 2.64699271711145911, 6.29302733018320737, /* 2 */
    0.96869128474958188, 2.46531676590527127, 4.97375283467403051, /* 3 */
    0.97933572521046131, 2.37418810664669877, 4.44899975481712318, /* 4 */
    0.98479165917274258, 2.31863116255024693, 4.16712379778553554, /* 5 */
    0.98806033915698777, 2.28075536565225434, 3.99010556144099837, /* 6 */
    0.99021896790580399, 2.25302005857281529, 3.86784477136922078, /* 7 */
    0.99174267079089873, 2.23168103978522936, 3.77784896945266269, /* 8 */
    0.99287147837287648, 2.21465899260871879, 3.70851932988722410, /* 9 */
    0.99373900046805375, 2.20070155496262032, 3.65326029076638292, /* 10 */
    0.99442519013851438, 2.18900651202670815, 3.60803817612955413, /* 11 */
    0.99498066823221620, 2.17903457780744247, 3.57024330407946877, /* 12 */
    0.99543899410224412, 2.17040883161922693, 3.53810982030634591, /* 13 */
    0.99582322541263579, 2.16285726913676513, 3.51039837124298515, /* 14 */
    0.99614973311747690, 2.15617827879603396, 3.48621230377099778, /* 15 */
    0.99643042892560629, 2.15021897666090922, 3.46488605693562590, /* 16 */
    0.99667418783778317, 2.14486114872480016, 3.44591466064832730, /* 17 */
    0.99688774875812669, 2.14001181420209718, 3.42890765690452781, /* 18 */
    0.99707632299691795, 2.13559675336844634, 3.41355809420343803, /* 19 */
    0.99724399084971083, 2.13155592217421486, 3.39962113251016262, /* 20 */
    0.99739400151915447, 2.12784018863251845, 3.38689892877548004, /* 21 */
    0.99752896842633731, 2.12440890875851096, 3.37522975271599535, /* 22 */
    0.99765101725122918, 2.12122815311133195, 3.36448003577621080, /* 23 */
    0.99776189496810730, 2.11826934724291505, 3.35453840911279144, /* 24 */
    0.99786304821586214, 2.11550823850916458, 3.34531123809287578, /* 25 */
    0.99795568665180667, 2.11292409529477254, 3.33671916527694634, /* 26 */
    0.99804083063483517, 2.11049908609763293, 3.32869446834217797, /* 27 */
    0.99811933910984862, 2.10821776918189130, 3.32117898316676019, /* 28 */
    0.99819195457286014, 2.10606671027090897, 3.31412243534683171, /* 29 */
    0.99825930555178388, 2.10403415237001923, 3.30748113008135647, /* 30 */
    0.99832193858154028, 2.10210975877822648, 3.30121691946897045, /* 31 */
    0.99838032666573895, 2.10028440670842542, 3.29529629751144171, /* 32 */
    0.99843488390555990, 2.09855000145353188, 3.28968974413223236, /* 33 */
    0.99848596721417948, 2.09689934193824001, 3.28437111460505093, /* 34 */
    0.99853390005924325, 2.09532599155502908, 3.27931717312372939, /* 35 */
    0.99857895741078551, 2.09382418262592296, 3.27450718840060517, /* 36 */
    0.99862138880970974, 2.09238872751677718, 3.26992261182860489, /* 37 */
    0.99866141580770318, 2.09101494715108061, 3.26554677962434425, /* 38 */
    0.99869923565267982, 2.08969860402822860, 3.26136468165239535, /* 39 */
    0.99873502010169091, 2.08843585627218431, 3.25736275677081721, /* 40 */
    0.99876893292508839, 2.08722321436752623, 3.25352872241415980, /* 41 */
    0.99880111078502409, 2.08605749165553789, 3.24985141664350863, /* 42 */
    0.99883168573342118, 2.08493577529222307, 3.24632068399498053, /* 43 */
    0.99886077231613513, 2.08385540129560809, 3.24292724848112357, /* 44 */
    0.99888847451828155, 2.08281392374021834, 3.23966263299664092, /* 45 */
    0.99891488795844907, 2.08180908991394631, 3.23651906111521726, /* 46 */
    0.99894010085196783, 2.08083882998420222, 3.23348939240611344, /* 47 */
    0.99896419358239541, 2.07990122528650545, 3.23056705515594444, /* 48 */
    0.99898723510594323, 2.07899450946285924, 3.22774598963252402, /* 49 */
    0.99900929266780736, 2.07811704477046533, 3.22502059972006805, /* 50 */
    0.99903043086155208, 2.07726730587160091, 3.22238570890294795, /* 51 */
    0.99905070073845081, 2.07644388314946582, 3.21983651940365689, /* 52 */
    0.99907015770423868, 2.07564546080757850, 3.21736857351049821, /* 53 */
    0.99908884779227947, 2.07487081196367740, 3.21497773796417619, /* 54 */
    0.99910681586905525, 2.07411879634256024, 3.21266015316183484, /* 55 */
    0.99912410177549305, 2.07338834403498140, 3.21041222805715165, /* 56 */
    0.99914074347179849, 2.07267845454973099, 3.20823061166797174, /* 57 */
    0.99915677607464204, 2.07198819052374006, 3.20611216970604573, /* 58 */
    0.99917223149395795, 2.07131667846186929, 3.20405396962596001, /* 59 */
    0.99918714153457699, 2.07066309019154460, 3.20205326110445299, /* 60 */
    0.99920153247185794, 2.07002665203046377, 3.20010746990493544, /* 61 */
    0.99921543193525508, 2.06940663431663552, 3.19821417453343315, /* 62 */
    0.99922886570365677, 2.06880235245998279, 3.19637109973109546, /* 63 */
    0.99924185357357942, 2.06821315729285971, 3.19457610621114441, /* 64 */
    0.99925441845175555, 2.06763843812092318, 3.19282717869864996, /* 65 */
    0.99926658263325407, 2.06707761824370095, 3.19112241228646099, /* 66 */
    0.99927836173816331, 2.06653015295219689, 3.18946001739936946, /* 67 */
    0.99928977431994781, 2.06599552505539918, 3.18783829446098821, /* 68 */
    0.99930083753795884, 2.06547324585920933, 3.18625564538041317, /* 69 */
    0.99931156864562354, 2.06496285191821016, 3.18471055124089730, /* 70 */
    0.99932197985521043, 2.06446390392778767, 3.18320157510865442, /* 71 */
    0.99933208559809827, 2.06397598606787369, 3.18172735837393361, /* 72 */
    0.99934190032416836, 2.06349869971447220, 3.18028661102792398, /* 73 */
    0.99935143390791836, 2.06303166975550312, 3.17887810481605015, /* 74 */
    0.99936070171270330, 2.06257453607466346, 3.17750067581857820, /* 75 */
    0.99936971103502970, 2.06212696042919674, 3.17615321728274580, /* 76 */
    0.99937847392385493, 2.06168861430600714, 3.17483467831510779, /* 77 */
    0.99938700168914352, 2.06125918927764928, 3.17354405480557489, /* 78 */
    0.99939530099953799, 2.06083838987589729, 3.17228039269048168, /* 79 */
    0.99940338278830154, 2.06042593411496000, 3.17104278166036124, /* 80 */
    0.99941125463777780, 2.06002155276328835, 3.16983035274597569, /* 81 */
    0.99941892470027938, 2.05962498741951094, 3.16864227952240185, /* 82 */
    0.99942640059737187, 2.05923599161263837, 3.16747776846497686, /* 83 */
    0.99943368842187397, 2.05885433061945378, 3.16633606416374391, /* 84 */
    0.99944079790603269, 2.05847977868873500, 3.16521644518826406, /* 85 */
    0.99944773295734990, 2.05811212058944193, 3.16411821883858124, /* 86 */
    0.99945450059186669, 2.05775114781260982, 3.16304072400711789, /* 87 */
    0.99946110646314423, 2.05739666442039493, 3.16198332650733960, /* 88 */
    0.99946755770463369, 2.05704847678819647, 3.16094541781455973, /* 89 */
    0.99947385746861528, 2.05670640500335367, 3.15992641851471490, /* 90 */
    0.99948001256305474, 2.05637027420314666, 3.15892576988736096, /* 91 */
    0.99948602689656241, 2.05603991286400856, 3.15794293484717059, /* 92 */
    0.99949190674294641, 2.05571516158917689, 3.15697740043813724, /* 93 */
    0.99949765436329585, 2.05539586490317561, 3.15602867309343083, /* 94 */
    0.99950327557880314, 2.05508187237845164, 3.15509627710042651, /* 95 */
    0.99950877461972709, 2.05477304104951486, 3.15417975753007340, /* 96 */
    0.99951415481862682, 2.05446923022574879, 3.15327867462917766, /* 97 */
    0.99951942042375208, 2.05417030908833453, 3.15239260700215596, /* 98 */
    0.99952457390890004, 2.05387614661762541, 3.15152114915238712, /* 99 */
    0.99952962005008317, 2.05358662050909402, 3.15066390921020911, /* 100 */
    0.99953456216121594, 2.05330161104427589, 3.14982051097524618, /* 101 */
    0.99953940176368405, 2.05302100378725072, 3.14899059183684926, /* 102 */
    0.99954414373920031, 2.05274468493067275, 3.14817379948561893, /* 103 */
    0.99954879047621148, 2.05247255013657082, 3.14736979964868624, /* 104 */
    0.99955334485656522, 2.05220449388099269, 3.14657826610371671, /* 105 */
    0.99955780993869325, 2.05194041831310869, 3.14579888316276879, /* 106 */
    0.99956218652590678, 2.05168022402710903, 3.14503134811607765, /* 107 */
    0.99956647932785359, 2.05142381889103831, 3.14427536967733090, /* 108 */
    0.99957069025060719, 2.05117111251445294, 3.14353066260227365, /* 109 */
    0.99957482032178291, 2.05092201793428330, 3.14279695558593630, /* 110 */
    0.99957887261450651, 2.05067645094720774, 3.14207398336887422, /* 111 */
    0.99958284988383639, 2.05043432833224415, 3.14136149076028914, /* 112 */
    0.99958675435604505, 2.05019557189746138, 3.14065923143530767, /* 113 */
    0.99959058650074439, 2.04996010556124020, 3.13996696426707445, /* 114 */
    0.99959434898201494, 2.04972785368377686, 3.13928445867830419, /* 115 */
    0.99959804437042976, 2.04949874512311681, 3.13861149103462367, /* 116 */
    0.99960167394553423, 2.04927271043337100, 3.13794784369528656, /* 117 */
    0.99960523957651048, 2.04904968140490951, 3.13729330661277572, /* 118 */
    0.99960874253329735, 2.04882959397491504, 3.13664767767019725, /* 119 */
    0.99961218434327748, 2.04861238220240693, 3.13601075688413289, /* 120 */
};
static const double ub_equiv[363] = {
    1.0, 2.0, 3.0, /* 0 */
    0.99067760836669549, 1.75460517119302040, 2.48055626001627161, /* 1 */
    0.99270518097577565, 1.78855957509907171, 2.53863835259832626, /* 2 */
    0.99402032633599902, 1.81047286499563143, 2.57811676180597260, /* 3 */
    0.99492607629539975, 1.82625928017762362, 2.60759550546498531, /* 4 */
    0.99558653966013821, 1.83839160339161367, 2.63086812358551470, /* 5 */
    0.99608981951632813, 1.84812399034444752, 2.64993712523727254, /* 6 */
    0.99648648035983456, 1.85617372053235385, 2.66598485907860550, /* 7 */
    0.99680750790483330, 1.86298655802610824, 2.67976541374471822, /* 8 */
    0.99707292880049181, 1.86885682585270274, 2.69178781407745760, /* 9 */
    0.99729614928489241, 1.87398826101983218, 2.70241106542158604, /* 10 */
    0.99748667952445658, 1.87852708449801753, 2.71189717290596377, /* 11 */
    0.99765127712748836, 1.88258159501103250, 2.72044290303773550, /* 12 */
    0.99779498340305395, 1.88623391878036273, 2.72819957382063194, /* 13 */
    0.99792160418357412, 1.88954778748873764, 2.73528576807902368, /* 14 */
    0.99803398604944960, 1.89257337682371940, 2.74179612106766513, /* 15 */
    0.99813449883217231, 1.89535099316557876, 2.74780718300419835, /* 16 */
    0.99822494122659577, 1.89791339232732525, 2.75338173141955167, /* 17 */
    0.99830679915913834, 1.90028752122407241, 2.75857186416826039, /* 18 */
    0.99838117410831728, 1.90249575897183831, 2.76342117562634826, /* 19 */
    0.99844913407071090, 1.90455689090418900, 2.76796659454200267, /* 20 */
    0.99851147736424650, 1.90648682834171268, 2.77223944710058845, /* 21 */
    0.99856879856019987, 1.90829917277082473, 2.77626682032629901, /* 22 */
    0.99862183849734265, 1.91000561415842185, 2.78007199816156003, /* 23 */
    0.99867096266018507, 1.91161621560812023, 2.78367524259661536, /* 24 */
    0.99871656986212543, 1.91313978579765376, 2.78709435016625662, /* 25 */
    0.99875907577771272, 1.91458400425526065, 2.79034488416175463, /* 26 */
    0.99879885565047744, 1.91595563175945927, 2.79344064132371273, /* 27 */
    0.99883610756373287, 1.91726064301425936, 2.79639384757751941, /* 28 */
    0.99887095169674467, 1.91850441099725799, 2.79921543574803877, /* 29 */
    0.99890379414739527, 1.91969155477030995, 2.80191513182441554, /* 30 */
    0.99893466279047516, 1.92082633358913313, 2.80450167352080371, /* 31 */
    0.99896392088177777, 1.92191254955568525, 2.80698295731653502, /* 32 */
    0.99899147889385631, 1.92295362479495680, 2.80936614404217266, /* 33 */
    0.99901764688726757, 1.92395267400968351, 2.81165765979318394, /* 34 */
    0.99904238606342233, 1.92491244978191389, 2.81386337393604435, /* 35 */
    0.99906590152386343, 1.92583552644848055, 2.81598868034527072, /* 36 */
    0.99908829040739988, 1.92672418013918900, 2.81803841726804194, /* 37 */
    0.99910959420023460, 1.92758051694144683, 2.82001709302821268, /* 38 */
    0.99912996403594434, 1.92840654943159961, 2.82192875763732332, /* 39 */
    0.99914930224576892, 1.92920397044028391, 2.82377730628954282, /* 40 */
    0.99916781270195543, 1.92997447498220254, 2.82556612075063640, /* 41 */
    0.99918553179077207, 1.93071949211818605, 2.82729843191989971, /* 42 */
    0.99920250730914972, 1.93144048613876862, 2.82897728689417249, /* 43 */
    0.99921873345181211, 1.93213870990595638, 2.83060537017752267, /* 44 */
    0.99923435180002684, 1.93281536508689555, 2.83218527795750674, /* 45 */
    0.99924930425362390, 1.93347145882316340, 2.83371938965598247, /* 46 */
    0.99926370394567243, 1.93410820221384938, 2.83520990872793277, /* 47 */
    0.99927750755296074, 1.93472643138986200, 2.83665891945119597, /* 48 */
    0.99929082941537217, 1.93532697329771963, 2.83806833931606661, /* 49 */
    0.99930366295501472, 1.93591074716263734, 2.83943997143404658, /* 50 */
    0.99931598804721489, 1.93647857274021362, 2.84077557836653227, /* 51 */
    0.99932789059798210, 1.93703110239354714, 2.84207662106302905, /* 52 */
    0.99933946180485123, 1.93756904936378760, 2.84334468086129277, /* 53 */
    0.99935053819703512, 1.93809302131219852, 2.84458116874117195, /* 54 */
    0.99936126637970801, 1.93860365411038060, 2.84578731838604426, /* 55 */
    0.99937166229284458, 1.93910149816429112, 2.84696443486512862, /* 56 */
    0.99938169190727422, 1.93958709548454067, 2.84811369085281285, /* 57 */
    0.99939136927613959, 1.94006085573701625, 2.84923617230361970, /* 58 */
    0.99940074328745254, 1.94052339623206649, 2.85033291216254270, /* 59 */
    0.99940993070470086, 1.94097508636855309, 2.85140492437699322, /* 60 */
    0.99941868577388959, 1.94141633372043998, 2.85245314430358121, /* 61 */
    0.99942734443487780, 1.94184757038001976, 2.85347839582286156, /* 62 */
    0.99943556385736088, 1.94226915100517772, 2.85448160365493209, /* 63 */
    0.99944374522542034, 1.94268143723749631, 2.85546346373061510, /* 64 */
    0.99945159955424856, 1.94308482059116727, 2.85642486111805738, /* 65 */
    0.99945915301904620, 1.94347956957849988, 2.85736639994965458, /* 66 */
    0.99946660663832176, 1.94386600964031686, 2.85828887832701639, /* 67 */
    0.99947383703224091, 1.94424436597356021, 2.85919278275500233, /* 68 */
    0.99948075442870277, 1.94461502153473020, 2.86007887186090670, /* 69 */
    0.99948766082269458, 1.94497821937304138, 2.86094774077355396, /* 70 */
    0.99949422748713346, 1.94533411296001191, 2.86179981848076181, /* 71 */
    0.99950070756119658, 1.94568300035135167, 2.86263579405672886, /* 72 */
    0.99950704321753392, 1.94602523449961495, 2.86345610449197352, /* 73 */
    0.99951320334216121, 1.94636083782822311, 2.86426125541271404, /* 74 */
    0.99951920293474927, 1.94669011080745236, 2.86505169255406145, /* 75 */
    0.99952501670378524, 1.94701327348536779, 2.86582788270862920, /* 76 */
    0.99953071209267819, 1.94733044372333097, 2.86659027602854621, /* 77 */
    0.99953632734991515, 1.94764180764266825, 2.86733927778843167, /* 78 */
    0.99954171164873173, 1.94794766430732125, 2.86807526143834934, /* 79 */
    0.99954699274462655, 1.94824807472994621, 2.86879864789403882, /* 80 */
    0.99955216611081710, 1.94854317889829076, 2.86950970901679625, /* 81 */
    0.99955730019613043, 1.94883320227168610, 2.87020887436986527, /* 82 */
    0.99956213770650493, 1.94911826561721568, 2.87089648477021342, /* 83 */
    0.99956704264963037, 1.94939848545763539, 2.87157281693902178, /* 84 */
    0.99957166306481327, 1.94967401618316671, 2.87223821840905202, /* 85 */
    0.99957632713136491, 1.94994497791333288, 2.87289293193450135, /* 86 */
    0.99958087233392234, 1.95021155752212394, 2.87353731228213860, /* 87 */
    0.99958532555996271, 1.95047376805584349, 2.87417154907075201, /* 88 */
    0.99958956246481989, 1.95073180380688882, 2.87479599765507032, /* 89 */
    0.99959389351869277, 1.95098572880579013, 2.87541081987382086, /* 90 */
    0.99959807862052230, 1.95123574036898617, 2.87601637401948551, /* 91 */
    0.99960214057801977, 1.95148186921983324, 2.87661283691068093, /* 92 */
    0.99960607527256684, 1.95172415829728152, 2.87720042968334155, /* 93 */
    0.99960996433179616, 1.95196280898670693, 2.87777936649376898, /* 94 */
    0.99961379137860717, 1.95219787713926962, 2.87834989933620022, /* 95 */
    0.99961756088146103, 1.95242944583677058, 2.87891216133900230, /* 96 */
    0.99962125605327401, 1.95265762420910960, 2.87946647367488140, /* 97 */
    0.99962486179100551, 1.95288245314810638, 2.88001290210658567, /* 98 */
    0.99962843240297161, 1.95310404286672679, 2.88055166523392359, /* 99 */
    0.99963187276145504, 1.95332251980147475, 2.88108300006589957, /* 100 */
    0.99963525453173929, 1.95353785898848287, 2.88160703591438505, /* 101 */
    0.99963855412988778, 1.95375019354571577, 2.88212393551896184, /* 102 */
    0.99964190254169694, 1.95395953472205974, 2.88263389761985422, /* 103 */
    0.99964506565942202, 1.95416607430155409, 2.88313700661564098, /* 104 */
    0.99964834424233118, 1.95436972855640079, 2.88363350163803034, /* 105 */
    0.99965136548857458, 1.95457068540693513, 2.88412349413960101, /* 106 */
    0.99965436594726498, 1.95476896383092935, 2.88460710620208260, /* 107 */
    0.99965736463468602, 1.95496457504532373, 2.88508450078833789, /* 108 */
    0.99966034130443404, 1.95515761150707590, 2.88555580586194083, /* 109 */
    0.99966326130828520, 1.95534810382198998, 2.88602118761679094, /* 110 */
    0.99966601446035952, 1.95553622237747504, 2.88648066384146773, /* 111 */
    0.99966887679593697, 1.95572186728168163, 2.88693444915907094, /* 112 */
    0.99967161286551232, 1.95590523410490391, 2.88738271495714116, /* 113 */
    0.99967435412270333, 1.95608626483223702, 2.88782540459769166, /* 114 */
    0.99967701261934394, 1.95626497627117146, 2.88826277189363623, /* 115 */
    0.99967963265157778, 1.95644153684824573, 2.88869486674335008, /* 116 */
    0.99968216317182623, 1.95661589936000269, 2.88912184353694101, /* 117 */
    0.99968479674396349, 1.95678821614791332, 2.88954376359643561, /* 118 */
    0.99968729031337489, 1.95695842061650183, 2.88996069422501023, /* 119 */
    0.99968963358631413, 1.95712651709766305, 2.89037285320668502, /* 120 */
};
// clang-format on

/* 0.5 * (1 + erf(-n / sqrt(2))) for n = 0..3 standard deviations */
static const double delta_of_sdev[4] = {0.5, 0.1586553191586026479, 0.0227502618904135701,
                                        0.0013498126861731796};

static double cont_classic_lb(double n, double theta, double sdev)
{
    double nhat = (n - 0.5) / theta;
    double b = sdev * sqrt((1.0 - theta) / theta);
    double d = 0.5 * b * sqrt(b * b + 4.0 * nhat);
    double center = nhat + 0.5 * (b * b);
    return center - d;
}

static double cont_classic_ub(double n, double theta, double sdev)
{
    double nhat = (n + 0.5) / theta;
    double b = sdev * sqrt((1.0 - theta) / theta);
    double d = 0.5 * b * sqrt(b * b + 4.0 * nhat);
    double center = nhat + 0.5 * (b * b);
    return center + d;
}

/* Called only for 2 <= n <= 120 and theta >= n / 360: the sums stay short. */
static int64_t special_nstar(int64_t n, double p, double delta)
{
    double q = 1.0 - p, cur = pow(p, (double)n), tot = cur;
    int64_t m = n;
    while (tot <= delta) {
        cur = (cur * q * (double)m) / (double)((m + 1) - n);
        tot += cur;
        m++;
    }
    return m - 1;
}

static int64_t special_nprime_b(int64_t n, double p, double delta)
{
    double q = 1.0 - p, one_minus_delta = 1.0 - delta, cur = pow(p, (double)n), tot = cur;
    int64_t m = n;
    while (tot < one_minus_delta) {
        cur = (cur * q * (double)m) / (double)((m + 1) - n);
        tot += cur;
        m++;
    }
    return m;
}

static double approx_bino_lb(int64_t n, double theta, int sdev)
{
    if (theta == 1.0)
        return (double)n;
    if (n == 0)
        return 0.0;
    if (n == 1)
        return floor(log(1.0 - delta_of_sdev[sdev]) / log(1.0 - theta));
    if (n > 120)
        return cont_classic_lb((double)n, theta, sdev) - 0.5;
    if (theta > 1.0 - 1e-5)
        return (double)n;
    if (theta < (double)n / 360.0)
        return cont_classic_lb((double)n, theta, lb_equiv[3 * n + sdev - 1]) - 0.5;
    return (double)special_nstar(n, theta, delta_of_sdev[sdev]);
}

static double approx_bino_ub(int64_t n, double theta, int sdev)
{
    if (theta == 1.0)
        return (double)n;
    if (n == 0)
        return ceil(log(delta_of_sdev[sdev]) / log(1.0 - theta));
    if (n > 120)
        return cont_classic_ub((double)n, theta, sdev) + 0.5;
    if (theta > 1.0 - 1e-5)
        return (double)(n + 1);
    if (theta < (double)n / 360.0)
        return cont_classic_ub((double)n, theta, ub_equiv[3 * n + sdev - 1]) + 0.5;
    return (double)special_nprime_b(n + 1, theta, delta_of_sdev[sdev]);
}

static int clamp_sdev(int sdev) { return sdev < 1 ? 1 : sdev > 3 ? 3 : sdev; }

static double theta_fraction(uint64_t theta) { return (double)theta / (double)MAX_THETA; }

static double estimate_of(uint64_t theta, uint32_t count)
{
    return (double)count * ((double)MAX_THETA / (double)theta);
}

static double lower_bound_of(uint64_t theta, uint32_t count, bool empty, int sdev)
{
    if (empty || theta >= MAX_THETA)
        return empty ? 0.0 : (double)count;
    double t = theta_fraction(theta), lb = approx_bino_lb(count, t, clamp_sdev(sdev));
    double est = (double)count / t;
    return fmin(est, fmax((double)count, lb));
}

static double upper_bound_of(uint64_t theta, uint32_t count, bool empty, int sdev)
{
    if (empty || theta >= MAX_THETA)
        return empty ? 0.0 : (double)count;
    double t = theta_fraction(theta), ub = approx_bino_ub(count, t, clamp_sdev(sdev));
    return fmax((double)count / t, ub);
}

/* ---- update sketch ----------------------------------------------------------------- */

void sketch_theta_config_default(struct sketch_theta_config *cfg)
{
    cfg->nominal_entries = SKETCH_THETA_DEFAULT_NOMINAL;
    cfg->lg_resize_factor = SKETCH_THETA_DEFAULT_LG_RF;
    cfg->p = 1.0f;
    cfg->seed = SKETCH_DEFAULT_SEED;
}

static int check_config(const struct sketch_theta_config *cfg, int *lg_k, struct lerr *err)
{
    uint32_t k = cfg->nominal_entries;
    if (k < (1u << SKETCH_THETA_MIN_LG_K) || k > (1u << SKETCH_THETA_MAX_LG_K) || (k & (k - 1)))
        return lerr_set(err, LERR_INVALID,
                        "theta sketch: nominal entries %u must be a power of two from %u to %u "
                        "(Druid's default is %u)",
                        k, 1u << SKETCH_THETA_MIN_LG_K, 1u << SKETCH_THETA_MAX_LG_K,
                        SKETCH_THETA_DEFAULT_NOMINAL);
    if (cfg->lg_resize_factor < 0 || cfg->lg_resize_factor > 3)
        return lerr_set(
            err, LERR_INVALID,
            "theta sketch: lg resize factor %d must be 0 (X1), 1 (X2), 2 (X4) or 3 (X8)",
            cfg->lg_resize_factor);
    if (!(cfg->p > 0.0f && cfg->p <= 1.0f))
        return lerr_set(err, LERR_INVALID,
                        "theta sketch: sampling probability p = %g must be above 0 and at most 1",
                        (double)cfg->p);
    if (sketch_theta_seed_hash(cfg->seed) == 0)
        return lerr_set(err, LERR_INVALID,
                        "theta sketch: seed %llu hashes to a seed hash of 0, which DataSketches "
                        "forbids; choose another seed",
                        (unsigned long long)cfg->seed);
    *lg_k = 0;
    while ((1u << *lg_k) < k)
        (*lg_k)++;
    return 0;
}

static uint32_t threshold_for(int lg_k, int lg_arr)
{
    uint32_t size = 1u << lg_arr;
    /* half load while the table may still grow; 15/16 at its final 2k size */
    return lg_arr <= lg_k ? size / 2 : (uint32_t)(size * 15.0 / 16.0);
}

/* DataSketches' first table size: lgK + 1 reduced by whole resize steps to >= 2^5. */
static int starting_lg_arr(int lg_k, int lg_rf)
{
    int target = lg_k + 1;
    if (target <= MIN_LG_ARR)
        return MIN_LG_ARR;
    if (lg_rf == 0)
        return target;
    return (target - MIN_LG_ARR) % lg_rf + MIN_LG_ARR;
}

static uint64_t starting_theta(float p)
{
    if (p >= 1.0f)
        return MAX_THETA;
    return (uint64_t)((double)p * (double)MAX_THETA);
}

struct sketch_theta *sketch_theta_new(const struct sketch_theta_config *cfg, struct lerr *err)
{
    struct sketch_theta_config def;
    if (!cfg) {
        sketch_theta_config_default(&def);
        cfg = &def;
    }
    int lg_k = 0;
    if (check_config(cfg, &lg_k, err))
        return NULL;
    struct sketch_theta *s = calloc(1, sizeof *s);
    if (!s) {
        nomem(err, "a theta sketch", sizeof *s);
        return NULL;
    }
    s->lg_k = (uint8_t)lg_k;
    s->lg_rf = (uint8_t)cfg->lg_resize_factor;
    s->p = cfg->p;
    s->seed = cfg->seed;
    s->seed_hash = sketch_theta_seed_hash(cfg->seed);
    s->lg_arr = (uint8_t)starting_lg_arr(lg_k, s->lg_rf);
    s->table = alloc_hashes((uint64_t)1 << s->lg_arr, true, "a theta sketch's hash table", err);
    if (!s->table) {
        free(s);
        return NULL;
    }
    s->threshold = threshold_for(lg_k, s->lg_arr);
    s->theta = starting_theta(cfg->p);
    s->empty = true;
    return s;
}

void sketch_theta_free(struct sketch_theta *s)
{
    if (!s)
        return;
    free(s->table);
    free(s);
}

void sketch_theta_reset(struct sketch_theta *s)
{
    int lg = starting_lg_arr(s->lg_k, s->lg_rf);
    if (lg != s->lg_arr) {
        uint64_t *t = calloc((size_t)1 << lg, sizeof(uint64_t));
        if (t) {
            free(s->table);
            s->table = t;
            s->lg_arr = (uint8_t)lg;
        }
    }
    /* without memory for the small table, the current one is cleared and kept */
    memset(s->table, 0, ((size_t)1 << s->lg_arr) * sizeof(uint64_t));
    s->threshold = threshold_for(s->lg_k, s->lg_arr);
    s->count = 0;
    s->theta = starting_theta(s->p);
    s->empty = true;
}

/* The table grows by the resize factor (at most up to 2k slots). */
static int grow(struct sketch_theta *s, struct lerr *err)
{
    int lg_max = s->lg_k + 1, delta = lg_max - s->lg_arr;
    int step = s->lg_rf < delta ? s->lg_rf : delta;
    if (step < 1)
        step = 1;
    int lg = s->lg_arr + step;
    uint64_t *t = alloc_hashes((uint64_t)1 << lg, true, "a theta sketch's hash table", err);
    if (!t)
        return LERR_NOMEM;
    size_t n = (size_t)1 << s->lg_arr;
    for (size_t i = 0; i < n; i++)
        if (s->table[i])
            table_insert(t, lg, s->table[i]);
    free(s->table);
    s->table = t;
    s->lg_arr = (uint8_t)lg;
    s->threshold = threshold_for(s->lg_k, lg);
    return 0;
}

/* At full size: theta becomes the (k+1)-th smallest hash, the k below it stay. */
static int rebuild(struct sketch_theta *s, struct lerr *err)
{
    uint64_t *tmp = alloc_hashes(s->count, false, "a theta sketch rebuild", err);
    if (!tmp)
        return LERR_NOMEM;
    size_t n = (size_t)1 << s->lg_arr;
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (s->table[i])
            tmp[c++] = s->table[i];
    uint32_t k = 1u << s->lg_k;
    s->theta = select_rank(tmp, c, k);
    memset(s->table, 0, n * sizeof(uint64_t));
    uint32_t kept = 0;
    for (uint32_t i = 0; i < c; i++) {
        if (tmp[i] < s->theta) {
            table_insert(s->table, s->lg_arr, tmp[i]);
            kept++;
        }
    }
    s->count = kept;
    free(tmp);
    return 0;
}

static inline int hash_update(struct sketch_theta *s, uint64_t h, struct lerr *err)
{
    s->empty = false;
    if (h - 1 >= s->theta - 1) /* h == 0 or h >= theta */
        return 0;
    int64_t slot = table_insert(s->table, s->lg_arr, h);
    if (slot < 0)
        return 0;
    if (++s->count <= s->threshold)
        return 0;
    int rc = s->lg_arr <= s->lg_k ? grow(s, err) : rebuild(s, err);
    if (rc) {
        /* undo the insert: the last one made, so no probe sequence passes through it */
        s->table[slot] = 0;
        s->count--;
    }
    return rc;
}

int sketch_theta_update_hash(struct sketch_theta *s, uint64_t hash, struct lerr *err)
{
    return hash_update(s, hash, err);
}

int sketch_theta_update_long(struct sketch_theta *s, int64_t v, struct lerr *err)
{
    uint64_t h[2];
    sketch_hash_long_inline(v, s->seed, h);
    return hash_update(s, h[0] >> 1, err);
}

int sketch_theta_update_double(struct sketch_theta *s, double v, struct lerr *err)
{
    uint64_t h[2];
    sketch_hash_double(v, s->seed, h);
    return hash_update(s, h[0] >> 1, err);
}

int sketch_theta_update_bytes(struct sketch_theta *s, const void *p, size_t n, struct lerr *err)
{
    if (n == 0)
        return 0;
    uint64_t h[2];
    sketch_hash_bytes(p, n, s->seed, h);
    return hash_update(s, h[0] >> 1, err);
}

/* DataSketches reports theta 1.0 for an empty sketch whatever p is. */
static uint64_t update_theta64(const struct sketch_theta *s)
{
    return s->empty ? MAX_THETA : s->theta;
}

double sketch_theta_estimate(const struct sketch_theta *s)
{
    return estimate_of(s->theta, s->count);
}

double sketch_theta_lower_bound(const struct sketch_theta *s, int num_std_devs)
{
    return lower_bound_of(update_theta64(s), s->count, s->empty, num_std_devs);
}

double sketch_theta_upper_bound(const struct sketch_theta *s, int num_std_devs)
{
    return upper_bound_of(update_theta64(s), s->count, s->empty, num_std_devs);
}

bool sketch_theta_is_empty(const struct sketch_theta *s) { return s->empty; }
uint64_t sketch_theta_theta64(const struct sketch_theta *s) { return update_theta64(s); }
uint32_t sketch_theta_num_retained(const struct sketch_theta *s) { return s->count; }
uint32_t sketch_theta_nominal_entries(const struct sketch_theta *s) { return 1u << s->lg_k; }

/* ---- compact sketch ---------------------------------------------------------------- */

/*
 * Takes entries (malloc'd, count of them, all in 1 .. theta-1, distinct) and
 * applies DataSketches' rules: no entries and theta 1.0 is empty; an empty
 * sketch has theta 1.0; 0 or 1 entries count as ordered; ordered entries are
 * sorted here when the caller has not.
 */
static struct sketch_theta_compact *make_compact(uint64_t *entries, uint32_t count, uint64_t theta,
                                                 uint16_t seed_hash, bool empty, bool ordered,
                                                 bool sorted, struct lerr *err)
{
    struct sketch_theta_compact *c = malloc(sizeof *c);
    if (!c) {
        free(entries);
        nomem(err, "a compact theta sketch", sizeof *c);
        return NULL;
    }
    if (empty || (count == 0 && theta == MAX_THETA)) {
        empty = true;
        count = 0;
        theta = MAX_THETA;
    }
    if (count <= 1)
        ordered = true;
    if (ordered && !sorted && count > 1)
        sort_u64(entries, count);
    c->entries = entries;
    c->count = count;
    c->theta = theta;
    c->seed_hash = seed_hash;
    c->empty = empty;
    c->ordered = ordered;
    return c;
}

struct sketch_theta_compact *sketch_theta_compact(const struct sketch_theta *s, bool ordered,
                                                  struct lerr *err)
{
    uint64_t *e = alloc_hashes(s->count, false, "a compact theta sketch", err);
    if (!e)
        return NULL;
    size_t n = (size_t)1 << s->lg_arr;
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (s->table[i])
            e[c++] = s->table[i];
    return make_compact(e, c, update_theta64(s), s->seed_hash, s->empty, ordered, false, err);
}

struct sketch_theta_compact *sketch_theta_compact_copy(const struct sketch_theta_compact *src,
                                                       struct lerr *err)
{
    uint64_t *e = alloc_hashes(src->count, false, "a compact theta sketch", err);
    if (!e)
        return NULL;
    if (src->count)
        memcpy(e, src->entries, (size_t)src->count * sizeof(uint64_t));
    return make_compact(e, src->count, src->theta, src->seed_hash, src->empty, src->ordered, true,
                        err);
}

void sketch_theta_compact_free(struct sketch_theta_compact *c)
{
    if (!c)
        return;
    free(c->entries);
    free(c);
}

double sketch_theta_compact_estimate(const struct sketch_theta_compact *c)
{
    return estimate_of(c->theta, c->count);
}

double sketch_theta_compact_lower_bound(const struct sketch_theta_compact *c, int num_std_devs)
{
    return lower_bound_of(c->theta, c->count, c->empty, num_std_devs);
}

double sketch_theta_compact_upper_bound(const struct sketch_theta_compact *c, int num_std_devs)
{
    return upper_bound_of(c->theta, c->count, c->empty, num_std_devs);
}

bool sketch_theta_compact_is_empty(const struct sketch_theta_compact *c) { return c->empty; }
bool sketch_theta_compact_is_ordered(const struct sketch_theta_compact *c) { return c->ordered; }
bool sketch_theta_compact_is_estimation_mode(const struct sketch_theta_compact *c)
{
    return c->theta < MAX_THETA && !c->empty;
}
uint64_t sketch_theta_compact_theta64(const struct sketch_theta_compact *c) { return c->theta; }
double sketch_theta_compact_theta(const struct sketch_theta_compact *c)
{
    return theta_fraction(c->theta);
}
uint32_t sketch_theta_compact_num_retained(const struct sketch_theta_compact *c)
{
    return c->count;
}
uint16_t sketch_theta_compact_seed_hash(const struct sketch_theta_compact *c)
{
    return c->seed_hash;
}
const uint64_t *sketch_theta_compact_entries(const struct sketch_theta_compact *c)
{
    return c->entries;
}

/* ---- serialization ----------------------------------------------------------------- */

static bool is_single(const struct sketch_theta_compact *c)
{
    return !c->empty && c->count == 1 && c->theta == MAX_THETA;
}

/* Serial version 4 applies to ordered sketches with entries, except the single-item form. */
static bool v4_suitable(const struct sketch_theta_compact *c)
{
    return c->ordered && c->count > 0 && !is_single(c);
}

/* Bits of the widest delta between consecutive ordered hashes (the first from 0). */
static int v4_entry_bits(const struct sketch_theta_compact *c)
{
    uint64_t prev = 0, ored = 0;
    for (uint32_t i = 0; i < c->count; i++) {
        ored |= c->entries[i] - prev;
        prev = c->entries[i];
    }
    int bits = 0;
    while (bits < 64 && (ored >> bits))
        bits++;
    return bits;
}

static int v4_count_bytes(uint32_t count)
{
    int bits = 0;
    while (bits < 32 && (count >> bits))
        bits++;
    return (bits + 7) / 8;
}

size_t sketch_theta_compact_serialized_size(const struct sketch_theta_compact *c, bool compressed)
{
    if (compressed && v4_suitable(c)) {
        bool est = sketch_theta_compact_is_estimation_mode(c);
        uint64_t bits = (uint64_t)v4_entry_bits(c) * c->count;
        return (est ? 16 : 8) + (size_t)v4_count_bytes(c->count) + (size_t)((bits + 7) / 8);
    }
    if (c->empty)
        return 8;
    if (is_single(c))
        return 16;
    return (c->theta < MAX_THETA ? 24 : 16) + (size_t)c->count * 8;
}

static size_t write_v4(const struct sketch_theta_compact *c, uint8_t *buf)
{
    bool est = sketch_theta_compact_is_estimation_mode(c);
    int bits = v4_entry_bits(c), nbytes = v4_count_bytes(c->count);
    buf[0] = est ? 2 : 1;
    buf[1] = 4;
    buf[2] = FAMILY_COMPACT;
    buf[3] = (uint8_t)bits;
    buf[4] = (uint8_t)nbytes;
    buf[5] = FLAG_READ_ONLY | FLAG_COMPACT | FLAG_ORDERED;
    buf[6] = (uint8_t)c->seed_hash;
    buf[7] = (uint8_t)(c->seed_hash >> 8);
    size_t off = 8;
    if (est) {
        put64(buf + off, c->theta);
        off += 8;
    }
    for (int i = 0; i < nbytes; i++)
        buf[off++] = (uint8_t)(c->count >> (8 * i));
    /* deltas as one big-endian bit stream of `bits` bits each */
    uint8_t *p = buf + off;
    size_t data_bytes = (size_t)(((uint64_t)bits * c->count + 7) / 8);
    memset(p, 0, data_bytes);
    uint64_t prev = 0, bitpos = 0;
    for (uint32_t i = 0; i < c->count; i++) {
        uint64_t delta = c->entries[i] - prev;
        prev = c->entries[i];
        for (int need = bits; need > 0;) {
            int off_in = (int)(bitpos & 7), avail = 8 - off_in, take = avail < need ? avail : need;
            uint8_t chunk = (uint8_t)((delta >> (need - take)) & ((1u << take) - 1));
            p[bitpos >> 3] |= (uint8_t)(chunk << (avail - take));
            need -= take;
            bitpos += (uint64_t)take;
        }
    }
    return off + data_bytes;
}

size_t sketch_theta_compact_serialize_to(const struct sketch_theta_compact *c, bool compressed,
                                         uint8_t *buf, size_t cap)
{
    size_t need = sketch_theta_compact_serialized_size(c, compressed);
    if (cap < need)
        return 0;
    if (compressed && v4_suitable(c))
        return write_v4(c, buf);
    memset(buf, 0, need < 24 ? need : 24);
    buf[1] = 3;
    buf[2] = FAMILY_COMPACT;
    if (c->empty) {
        /* DataSketches Java writes the empty sketch with seed hash 0 */
        buf[0] = 1;
        buf[5] = FLAG_READ_ONLY | FLAG_EMPTY | FLAG_COMPACT | FLAG_ORDERED;
        return 8;
    }
    buf[6] = (uint8_t)c->seed_hash;
    buf[7] = (uint8_t)(c->seed_hash >> 8);
    if (is_single(c)) {
        buf[0] = 1;
        buf[5] = FLAG_READ_ONLY | FLAG_COMPACT | FLAG_ORDERED | FLAG_SINGLE;
        put64(buf + 8, c->entries[0]);
        return 16;
    }
    int pre = c->theta < MAX_THETA ? 3 : 2;
    buf[0] = (uint8_t)pre;
    buf[5] = FLAG_READ_ONLY | FLAG_COMPACT | (c->ordered ? FLAG_ORDERED : 0);
    put32(buf + 8, c->count); /* bytes 12..15: p as a float, 0.0 in compact sketches */
    if (pre == 3)
        put64(buf + 16, c->theta);
    uint8_t *p = buf + pre * 8;
    for (uint32_t i = 0; i < c->count; i++)
        put64(p + (size_t)i * 8, c->entries[i]);
    return need;
}

int sketch_theta_compact_serialize(const struct sketch_theta_compact *c, bool compressed,
                                   uint8_t **out, size_t *len, struct lerr *err)
{
    size_t n = sketch_theta_compact_serialized_size(c, compressed);
    uint8_t *buf = malloc(n);
    if (!buf)
        return nomem(err, "a serialized theta sketch", n);
    *len = sketch_theta_compact_serialize_to(c, compressed, buf, n);
    *out = buf;
    return 0;
}

/* ---- deserialization --------------------------------------------------------------- */

static int corrupt(struct lerr *err, size_t at, const char *fmt, ...) LS_PRINTF(3, 4);
static int corrupt(struct lerr *err, size_t at, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    bool first = err && err->code == LERR_OK; /* the first error wins, with its position */
    int rc = lerr_set(err, LERR_CORRUPT, "theta sketch: %s (at byte %zu)", msg, at);
    if (first)
        err->pos = (int64_t)at;
    return rc;
}

static int need_bytes(size_t n, uint64_t want, const char *what, struct lerr *err)
{
    if ((uint64_t)n >= want)
        return 0;
    return corrupt(err, n, "%zu bytes, but %s needs %llu", n, what, (unsigned long long)want);
}

static int check_theta(uint64_t theta, size_t at, struct lerr *err)
{
    if (theta >= 1 && theta <= MAX_THETA)
        return 0;
    return corrupt(err, at, "theta 0x%016llx is outside 1 .. 2^63-1", (unsigned long long)theta);
}

/* Every hash in 1 .. theta-1; ordered ones strictly ascending. */
static int check_entries(const uint64_t *e, uint32_t count, uint64_t theta, bool ordered,
                         size_t first_at, size_t stride, struct lerr *err)
{
    for (uint32_t i = 0; i < count; i++) {
        size_t at = first_at + (size_t)i * stride;
        if (e[i] == 0 || e[i] >= theta)
            return corrupt(err, at, "hash %u is 0x%016llx, not in 1 .. theta-1 (theta 0x%016llx)",
                           i, (unsigned long long)e[i], (unsigned long long)theta);
        if (ordered && i > 0 && e[i] <= e[i - 1])
            return corrupt(err, at,
                           "hash %u (0x%016llx) is not above the one before it in a sketch "
                           "flagged ordered",
                           i, (unsigned long long)e[i]);
    }
    return 0;
}

/* count hashes of 8 bytes each from p + off (already bounds-checked). */
static struct sketch_theta_compact *read_plain(const uint8_t *p, size_t off, uint32_t count,
                                               uint64_t theta, uint16_t seed_hash, bool ordered,
                                               struct lerr *err)
{
    uint64_t *e = alloc_hashes(count, false, "a compact theta sketch", err);
    if (!e)
        return NULL;
    for (uint32_t i = 0; i < count; i++)
        e[i] = get64(p + off + (size_t)i * 8);
    if (check_entries(e, count, theta, ordered, off, 8, err)) {
        free(e);
        return NULL;
    }
    return make_compact(e, count, theta, seed_hash, false, ordered, true, err);
}

static struct sketch_theta_compact *empty_compact(uint16_t seed_hash, struct lerr *err)
{
    uint64_t *e = alloc_hashes(0, false, "a compact theta sketch", err);
    return e ? make_compact(e, 0, MAX_THETA, seed_hash, true, true, true, err) : NULL;
}

static int check_count(uint32_t count, size_t at, struct lerr *err)
{
    if (count <= MAX_ENTRIES)
        return 0;
    return corrupt(err, at, "retained entries %u exceed the %u a theta sketch can hold", count,
                   MAX_ENTRIES);
}

static struct sketch_theta_compact *read_v1(const uint8_t *p, size_t n, uint64_t seed,
                                            struct lerr *err)
{
    /* version 1: always 3 preamble longs, no seed hash (the caller's seed is assumed) */
    if (need_bytes(n, 24, "a serial version 1 preamble", err))
        return NULL;
    uint16_t sh = sketch_theta_seed_hash(seed);
    uint32_t count = get32(p + 8);
    uint64_t theta = get64(p + 16);
    if (check_count(count, 8, err) || check_theta(theta, 16, err))
        return NULL;
    if (count == 0 && theta == MAX_THETA)
        return empty_compact(sh, err);
    if (need_bytes(n, 24 + (uint64_t)count * 8, "the retained hashes", err))
        return NULL;
    return read_plain(p, 24, count, theta, sh, true, err);
}

static struct sketch_theta_compact *read_v2(const uint8_t *p, size_t n, int pre, uint64_t seed,
                                            struct lerr *err)
{
    uint16_t sh = (uint16_t)(p[6] | p[7] << 8);
    if (check_seed_hash(sh, sketch_theta_seed_hash(seed), "the serialized sketch (bytes 6-7)",
                        err))
        return NULL;
    if (pre == 1)
        return empty_compact(sh, err);
    if (pre != 2 && pre != 3) {
        corrupt(err, 0, "preamble longs %d; a serial version 2 sketch has 1, 2 or 3", pre);
        return NULL;
    }
    if (need_bytes(n, (uint64_t)pre * 8, "the preamble", err))
        return NULL;
    uint32_t count = get32(p + 8);
    uint64_t theta = pre == 3 ? get64(p + 16) : MAX_THETA;
    if (check_count(count, 8, err) || check_theta(theta, 16, err))
        return NULL;
    if (count == 0 && theta == MAX_THETA)
        return empty_compact(sh, err);
    if (need_bytes(n, (uint64_t)pre * 8 + (uint64_t)count * 8, "the retained hashes", err))
        return NULL;
    return read_plain(p, (size_t)pre * 8, count, theta, sh, true, err);
}

static struct sketch_theta_compact *read_v3(const uint8_t *p, size_t n, int pre, uint64_t seed,
                                            struct lerr *err)
{
    uint8_t flags = p[5];
    uint16_t sh = (uint16_t)(p[6] | p[7] << 8);
    if (!(flags & FLAG_COMPACT)) {
        corrupt(
            err, 5,
            "flags 0x%02x lack the compact flag (0x08) a compact sketch sets; an update sketch "
            "image cannot be read here",
            flags);
        return NULL;
    }
    if (flags & FLAG_BIG_ENDIAN) {
        corrupt(err, 5, "flags 0x%02x say big-endian, which DataSketches never writes", flags);
        return NULL;
    }
    if (flags & FLAG_EMPTY)
        return empty_compact(sh, err);
    if (check_seed_hash(sh, sketch_theta_seed_hash(seed), "the serialized sketch (bytes 6-7)",
                        err))
        return NULL;
    if (pre == 1) {
        /* the single-item form: 8 bytes of preamble and one hash */
        if (need_bytes(n, 16, "a single-item sketch", err))
            return NULL;
        return read_plain(p, 8, 1, MAX_THETA, sh, true, err);
    }
    if (pre != 2 && pre != 3) {
        corrupt(err, 0, "preamble longs %d; a compact sketch has 1, 2 or 3", pre);
        return NULL;
    }
    if (need_bytes(n, (uint64_t)pre * 8, "the preamble", err))
        return NULL;
    uint32_t count = get32(p + 8);
    uint64_t theta = pre == 3 ? get64(p + 16) : MAX_THETA;
    if (check_count(count, 8, err) || check_theta(theta, 16, err))
        return NULL;
    if (need_bytes(n, (uint64_t)pre * 8 + (uint64_t)count * 8, "the retained hashes", err))
        return NULL;
    return read_plain(p, (size_t)pre * 8, count, theta, sh, (flags & FLAG_ORDERED) != 0, err);
}

static struct sketch_theta_compact *read_v4(const uint8_t *p, size_t n, int pre, uint64_t seed,
                                            struct lerr *err)
{
    int bits = p[3], nbytes = p[4];
    uint16_t sh = (uint16_t)(p[6] | p[7] << 8);
    if (pre != 1 && pre != 2) {
        corrupt(err, 0, "preamble longs %d; a compressed (version 4) sketch has 1 or 2", pre);
        return NULL;
    }
    if (bits < 1 || bits > 63) {
        corrupt(err, 3, "entry bits %d; a compressed sketch packs 1 to 63 bits per hash", bits);
        return NULL;
    }
    if (nbytes < 1 || nbytes > 4) {
        corrupt(err, 4, "entry count bytes %d; a compressed sketch stores its count in 1 to 4",
                nbytes);
        return NULL;
    }
    if (check_seed_hash(sh, sketch_theta_seed_hash(seed), "the serialized sketch (bytes 6-7)",
                        err))
        return NULL;
    size_t off = (size_t)pre * 8;
    if (need_bytes(n, off + (size_t)nbytes, "the preamble and entry count", err))
        return NULL;
    uint64_t theta = pre == 2 ? get64(p + 8) : MAX_THETA;
    if (check_theta(theta, 8, err))
        return NULL;
    uint32_t count = 0;
    for (int i = 0; i < nbytes; i++)
        count |= (uint32_t)p[off + (size_t)i] << (8 * i);
    if (check_count(count, off, err))
        return NULL;
    if (count == 0) {
        corrupt(err, off,
                "a compressed sketch with no entries (DataSketches writes those as "
                "version 3)");
        return NULL;
    }
    off += (size_t)nbytes;
    uint64_t data_bytes = ((uint64_t)bits * count + 7) / 8;
    if (need_bytes(n, off + data_bytes, "the packed hashes", err))
        return NULL;
    uint64_t *e = alloc_hashes(count, false, "a compact theta sketch", err);
    if (!e)
        return NULL;
    const uint8_t *d = p + off;
    uint64_t bitpos = 0, prev = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t delta = 0;
        size_t at = off + (size_t)(bitpos >> 3);
        for (int need = bits; need > 0;) {
            int off_in = (int)(bitpos & 7), avail = 8 - off_in, take = avail < need ? avail : need;
            uint64_t chunk = ((uint64_t)d[bitpos >> 3] >> (avail - take)) & ((1u << take) - 1);
            delta = delta << take | chunk;
            need -= take;
            bitpos += (uint64_t)take;
        }
        if (delta == 0 || delta >= theta - prev) {
            corrupt(err, at, "packed hash %u: delta 0x%llx %s", i, (unsigned long long)delta,
                    delta == 0 ? "is 0 (hashes must ascend strictly)"
                               : "takes the hash to theta or beyond");
            free(e);
            return NULL;
        }
        prev += delta;
        e[i] = prev;
    }
    return make_compact(e, count, theta, sh, false, true, true, err);
}

/*
 * An update sketch (family 2, QuickSelect) or union (family 4) image, as
 * DataSketches' toByteArray writes them: 3 (4 for a union) preamble longs,
 * lgNom at byte 3, lgArr at byte 4, the count at 8, p at 12, theta at 16,
 * the union's theta at 24, then the hash table of 2^lgArr longs. Read as
 * its compact form, the way DataSketches compacts it (a union image as
 * its result: theta the smaller of the two, at most k hashes).
 */
static struct sketch_theta_compact *read_table_image(const uint8_t *p, size_t n, int fam, int pre,
                                                     uint64_t seed, struct lerr *err)
{
    int want_pre = fam == FAMILY_UNION ? 4 : 3, lg_nom = p[3], lg_arr = p[4];
    uint8_t flags = p[5];
    uint16_t sh = (uint16_t)(p[6] | p[7] << 8);
    const char *what = fam == FAMILY_UNION ? "a union image" : "an update sketch image";
    if (pre != want_pre) {
        corrupt(err, 0, "preamble longs %d; %s has %d", pre, what, want_pre);
        return NULL;
    }
    if (flags & FLAG_COMPACT) {
        corrupt(err, 5, "flags 0x%02x set the compact flag, which %s never has", flags, what);
        return NULL;
    }
    if (lg_nom < SKETCH_THETA_MIN_LG_K || lg_nom > SKETCH_THETA_MAX_LG_K) {
        corrupt(err, 3, "lg nominal entries %d outside %d .. %d", lg_nom, SKETCH_THETA_MIN_LG_K,
                SKETCH_THETA_MAX_LG_K);
        return NULL;
    }
    if (lg_arr < MIN_LG_ARR || lg_arr > lg_nom + 1) {
        corrupt(err, 4, "lg hash table size %d outside %d .. lg nominal entries + 1 (%d)", lg_arr,
                MIN_LG_ARR, lg_nom + 1);
        return NULL;
    }
    if (flags & FLAG_EMPTY)
        return empty_compact(sh, err);
    if (check_seed_hash(sh, sketch_theta_seed_hash(seed), "the serialized sketch (bytes 6-7)",
                        err))
        return NULL;
    size_t off = (size_t)pre * 8;
    uint64_t slots = (uint64_t)1 << lg_arr;
    if (need_bytes(n, off + slots * 8, "the hash table", err))
        return NULL;
    uint32_t count = get32(p + 8);
    uint64_t theta = get64(p + 16);
    if (check_theta(theta, 16, err))
        return NULL;
    if (count >= slots) {
        corrupt(err, 8, "count %u does not fit a hash table of %llu slots", count,
                (unsigned long long)slots);
        return NULL;
    }
    uint64_t *e = alloc_hashes(count, false, "a compact theta sketch", err);
    if (!e)
        return NULL;
    uint32_t got = 0;
    for (uint64_t i = 0; i < slots; i++) {
        uint64_t h = get64(p + off + i * 8);
        if (h == 0 || h >= theta)
            continue; /* free slots and (in alpha sketches) stale hashes */
        if (got == count) {
            corrupt(err, off + i * 8, "more hashes below theta than the count %u at byte 8",
                    count);
            free(e);
            return NULL;
        }
        e[got++] = h;
    }
    if (got != count) {
        free(e);
        corrupt(err, 8, "count %u, but the hash table holds %u hashes below theta", count, got);
        return NULL;
    }
    if (count > 1)
        sort_u64(e, count);
    for (uint32_t i = 1; i < count; i++) {
        if (e[i] == e[i - 1]) {
            corrupt(err, off, "the hash table holds 0x%016llx twice", (unsigned long long)e[i]);
            free(e);
            return NULL;
        }
    }
    if (fam == FAMILY_UNION) {
        uint64_t union_theta = get64(p + 24);
        if (check_theta(union_theta, 24, err)) {
            free(e);
            return NULL;
        }
        uint32_t k = 1u << lg_nom;
        theta = min64(theta, union_theta);
        if (count > k)
            theta = min64(theta, e[k]); /* sorted: the (k+1)-th smallest */
        while (count > 0 && e[count - 1] >= theta)
            count--;
    }
    return make_compact(e, count, theta, sh, false, true, true, err);
}

struct sketch_theta_compact *sketch_theta_compact_deserialize(const void *bytes, size_t n,
                                                              uint64_t seed, struct lerr *err)
{
    const uint8_t *p = bytes;
    if (!p || n < 8) {
        corrupt(err, n, "%zu bytes; the shortest theta sketch (the empty one) has 8", p ? n : 0);
        return NULL;
    }
    int pre = p[0] & 0x3f, ver = p[1], fam = p[2];
    if (fam == FAMILY_QUICKSELECT || fam == FAMILY_UNION) {
        if (ver != 3) {
            corrupt(err, 1, "serial version %d; update sketch and union images are version 3",
                    ver);
            return NULL;
        }
        return read_table_image(p, n, fam, pre, seed, err);
    }
    if (fam != FAMILY_COMPACT) {
        corrupt(err, 2,
                "family %d is not a theta sketch's (compact 3, update sketch 2, union 4; "
                "1 is the alpha sketch, which is not read)",
                fam);
        return NULL;
    }
    switch (ver) {
    case 1: return read_v1(p, n, seed, err);
    case 2: return read_v2(p, n, pre, seed, err);
    case 3: return read_v3(p, n, pre, seed, err);
    case 4: return read_v4(p, n, pre, seed, err);
    default: corrupt(err, 1, "serial version %d; versions 1 to 4 are read", ver); return NULL;
    }
}

/* ---- to-string --------------------------------------------------------------------- */

/* d as Java's Double.toString prints it (DataSketches' toString is Java's):
 * the shortest digits that read back, plain between 10^-3 and 10^7 with at
 * least one digit after the point, else d.dddE<n>. */
static void fmt_double(char *out, size_t cap, double d)
{
    if (!isfinite(d)) {
        snprintf(out, cap, "%s", isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    char dig[24];
    int e10 = 0;
    bool neg = false;
    int nd = util_shortest_digits(d, false, dig, &e10, &neg);
    char tmp[64];
    size_t n = 0;
    if (neg)
        tmp[n++] = '-';
    double a = fabs(d);
    if (a == 0 || (a >= 1e-3 && a < 1e7)) {
        if (a == 0) {
            memcpy(tmp + n, "0.0", 3);
            n += 3;
        } else if (e10 >= 0) {
            for (int i = 0; i <= e10; i++)
                tmp[n++] = i < nd ? dig[i] : '0';
            tmp[n++] = '.';
            if (nd > e10 + 1)
                for (int i = e10 + 1; i < nd; i++)
                    tmp[n++] = dig[i];
            else
                tmp[n++] = '0';
        } else {
            tmp[n++] = '0';
            tmp[n++] = '.';
            for (int i = 0; i < -e10 - 1; i++)
                tmp[n++] = '0';
            for (int i = 0; i < nd; i++)
                tmp[n++] = dig[i];
        }
        tmp[n] = 0;
    } else {
        tmp[n++] = dig[0];
        tmp[n++] = '.';
        if (nd > 1)
            for (int i = 1; i < nd; i++)
                tmp[n++] = dig[i];
        else
            tmp[n++] = '0';
        snprintf(tmp + n, sizeof tmp - n, "E%d", e10);
    }
    snprintf(out, cap, "%s", tmp);
}

size_t sketch_theta_compact_to_string(const struct sketch_theta_compact *c, char *buf, size_t cap)
{
    char est[40], ub[40], lb[40], th[40];
    fmt_double(est, sizeof est, sketch_theta_compact_estimate(c));
    fmt_double(ub, sizeof ub, sketch_theta_compact_upper_bound(c, 2));
    fmt_double(lb, sizeof lb, sketch_theta_compact_lower_bound(c, 2));
    fmt_double(th, sizeof th, theta_fraction(c->theta));
    int n = snprintf(buf, cap,
                     "### CompactSketch SUMMARY:\n"
                     "   Estimate                : %s\n"
                     "   Upper Bound, 95%% conf   : %s\n"
                     "   Lower Bound, 95%% conf   : %s\n"
                     "   Theta (double)          : %s\n"
                     "   Theta (long)            : %llu\n"
                     "   Theta (long) hex        : %016llx\n"
                     "   EstMode?                : %s\n"
                     "   Empty?                  : %s\n"
                     "   Ordered?                : %s\n"
                     "   Retained Entries        : %u\n"
                     "   Seed Hash               : %x | %u\n"
                     "### END SKETCH SUMMARY\n",
                     est, ub, lb, th, (unsigned long long)c->theta, (unsigned long long)c->theta,
                     sketch_theta_compact_is_estimation_mode(c) ? "true" : "false",
                     c->empty ? "true" : "false", c->ordered ? "true" : "false", c->count,
                     c->seed_hash, c->seed_hash);
    return n < 0 ? 0 : (size_t)n;
}

/* ---- union ------------------------------------------------------------------------- */

struct sketch_theta_union *sketch_theta_union_new(const struct sketch_theta_config *cfg,
                                                  struct lerr *err)
{
    struct sketch_theta_union *u = calloc(1, sizeof *u);
    if (!u) {
        nomem(err, "a theta union", sizeof *u);
        return NULL;
    }
    u->gadget = sketch_theta_new(cfg, err);
    if (!u->gadget) {
        free(u);
        return NULL;
    }
    u->union_theta = update_theta64(u->gadget);
    u->union_empty = true;
    return u;
}

void sketch_theta_union_free(struct sketch_theta_union *u)
{
    if (!u)
        return;
    sketch_theta_free(u->gadget);
    free(u);
}

void sketch_theta_union_reset(struct sketch_theta_union *u)
{
    sketch_theta_reset(u->gadget);
    u->union_theta = update_theta64(u->gadget);
    u->union_empty = true;
}

/* DataSketches' union rule: theta is the smallest theta seen (the inputs',
 * the gadget's); hashes below it go through the gadget; empty is the AND of
 * the inputs' empty flags. */
static int union_hashes(struct sketch_theta_union *u, const uint64_t *e, uint32_t count,
                        uint64_t theta, bool ordered, struct lerr *err)
{
    struct sketch_theta *g = u->gadget;
    u->union_theta = min64(min64(u->union_theta, theta), update_theta64(g));
    u->union_empty = false;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t h = e[i];
        if (h < u->union_theta && h < update_theta64(g)) {
            int rc = hash_update(g, h, err);
            if (rc)
                return rc;
        } else if (ordered) {
            break;
        }
    }
    u->union_theta = min64(u->union_theta, update_theta64(g));
    return 0;
}

int sketch_theta_union_add(struct sketch_theta_union *u, const struct sketch_theta_compact *c,
                           struct lerr *err)
{
    if (c->empty)
        return 0;
    if (check_seed_hash(c->seed_hash, u->gadget->seed_hash, "the sketch added to the union", err))
        return LERR_INVALID;
    return union_hashes(u, c->entries, c->count, c->theta, c->ordered, err);
}

int sketch_theta_union_add_sketch(struct sketch_theta_union *u, const struct sketch_theta *s,
                                  struct lerr *err)
{
    if (s->empty)
        return 0;
    if (check_seed_hash(s->seed_hash, u->gadget->seed_hash, "the sketch added to the union", err))
        return LERR_INVALID;
    struct sketch_theta *g = u->gadget;
    u->union_theta = min64(min64(u->union_theta, update_theta64(s)), update_theta64(g));
    u->union_empty = false;
    size_t n = (size_t)1 << s->lg_arr;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = s->table[i];
        if (h && h < u->union_theta && h < update_theta64(g)) {
            int rc = hash_update(g, h, err);
            if (rc)
                return rc;
        }
    }
    u->union_theta = min64(u->union_theta, update_theta64(g));
    return 0;
}

int sketch_theta_union_update_long(struct sketch_theta_union *u, int64_t v, struct lerr *err)
{
    return sketch_theta_update_long(u->gadget, v, err);
}

int sketch_theta_union_update_double(struct sketch_theta_union *u, double v, struct lerr *err)
{
    return sketch_theta_update_double(u->gadget, v, err);
}

int sketch_theta_union_update_bytes(struct sketch_theta_union *u, const void *p, size_t n,
                                    struct lerr *err)
{
    return sketch_theta_update_bytes(u->gadget, p, n, err);
}

struct sketch_theta_compact *sketch_theta_union_result(const struct sketch_theta_union *u,
                                                       bool ordered, struct lerr *err)
{
    const struct sketch_theta *g = u->gadget;
    uint64_t *e = alloc_hashes(g->count, false, "a theta union result", err);
    if (!e)
        return NULL;
    size_t n = (size_t)1 << g->lg_arr;
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (g->table[i])
            e[c++] = g->table[i];
    uint32_t k = 1u << g->lg_k;
    uint64_t gtheta = update_theta64(g);
    /* the gadget may hold up to 15/16 of 2k hashes: the result keeps k */
    uint64_t theta = min64(gtheta, u->union_theta);
    if (c > k)
        theta = min64(theta, select_rank(e, c, k));
    uint32_t kept = 0;
    for (uint32_t i = 0; i < c; i++)
        if (e[i] < theta)
            e[kept++] = e[i];
    return make_compact(e, kept, theta, g->seed_hash, g->empty && u->union_empty, ordered, false,
                        err);
}

/* ---- intersection ------------------------------------------------------------------ */

struct sketch_theta_intersection *sketch_theta_intersection_new(uint64_t seed, struct lerr *err)
{
    if (sketch_theta_seed_hash(seed) == 0) {
        lerr_set(err, LERR_INVALID,
                 "theta sketch: seed %llu hashes to a seed hash of 0, which DataSketches forbids",
                 (unsigned long long)seed);
        return NULL;
    }
    struct sketch_theta_intersection *x = calloc(1, sizeof *x);
    if (!x) {
        nomem(err, "a theta intersection", sizeof *x);
        return NULL;
    }
    x->seed = seed;
    x->seed_hash = sketch_theta_seed_hash(seed);
    x->theta = MAX_THETA;
    return x;
}

void sketch_theta_intersection_free(struct sketch_theta_intersection *x)
{
    if (!x)
        return;
    free(x->table);
    free(x);
}

bool sketch_theta_intersection_has_result(const struct sketch_theta_intersection *x)
{
    return x->has_result;
}

int sketch_theta_intersection_add(struct sketch_theta_intersection *x,
                                  const struct sketch_theta_compact *c, struct lerr *err)
{
    if ((x->has_result && x->empty) || c->empty) {
        /* empty rule: anything intersected with an empty set is empty */
        free(x->table);
        x->table = NULL;
        x->count = 0;
        x->theta = MAX_THETA;
        x->empty = true;
        x->has_result = true;
        return 0;
    }
    if (check_seed_hash(c->seed_hash, x->seed_hash, "the sketch added to the intersection", err))
        return LERR_INVALID;
    uint64_t theta = min64(x->theta, c->theta);
    if ((x->has_result && x->count == 0) || c->count == 0) {
        free(x->table);
        x->table = NULL;
        x->count = 0;
        x->theta = theta;
        x->empty = false;
        x->has_result = true;
        return 0;
    }
    /* a new table of what survives: the first sketch's hashes, or the matches */
    uint32_t max = x->has_result && x->count < c->count ? x->count : c->count;
    int lg = lg_size_for(max);
    uint64_t *t = alloc_hashes((uint64_t)1 << lg, true, "a theta intersection table", err);
    if (!t)
        return LERR_NOMEM;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < c->count; i++) {
        uint64_t h = c->entries[i];
        if (h >= theta) {
            if (c->ordered)
                break;
            continue;
        }
        if (x->has_result && !table_contains(x->table, x->lg_arr, h))
            continue;
        if (kept < max && table_insert(t, lg, h) >= 0)
            kept++;
    }
    free(x->table);
    x->table = t;
    x->lg_arr = (uint8_t)lg;
    x->count = kept;
    x->theta = theta;
    x->empty = kept == 0 && theta == MAX_THETA;
    x->has_result = true;
    if (kept == 0) {
        free(x->table);
        x->table = NULL;
    }
    return 0;
}

struct sketch_theta_compact *
sketch_theta_intersection_result(const struct sketch_theta_intersection *x, bool ordered,
                                 struct lerr *err)
{
    if (!x->has_result) {
        lerr_set(err, LERR_INVALID,
                 "theta sketch: the intersection of no sketches is every value, which no sketch "
                 "can hold; intersect at least one sketch");
        return NULL;
    }
    uint64_t *e = alloc_hashes(x->count, false, "a theta intersection result", err);
    if (!e)
        return NULL;
    uint32_t c = 0;
    if (x->table) {
        size_t n = (size_t)1 << x->lg_arr;
        for (size_t i = 0; i < n; i++)
            if (x->table[i])
                e[c++] = x->table[i];
    }
    return make_compact(e, c, x->theta, x->seed_hash, x->empty, ordered, false, err);
}

/* ---- A not B ----------------------------------------------------------------------- */

struct sketch_theta_compact *sketch_theta_a_not_b(const struct sketch_theta_compact *a,
                                                  const struct sketch_theta_compact *b,
                                                  bool ordered, uint64_t seed, struct lerr *err)
{
    uint16_t sh = sketch_theta_seed_hash(seed);
    if (a->empty)
        return empty_compact(sh, err);
    if (check_seed_hash(a->seed_hash, sh, "sketch A of A-not-B", err))
        return NULL;
    if (b->empty) {
        struct sketch_theta_compact *r = sketch_theta_compact_copy(a, err);
        if (r && ordered && !r->ordered) {
            sort_u64(r->entries, r->count);
            r->ordered = true;
        }
        return r;
    }
    if (check_seed_hash(b->seed_hash, sh, "sketch B of A-not-B", err))
        return NULL;
    uint64_t theta = min64(a->theta, b->theta);
    int lg = lg_size_for(b->count);
    uint64_t *t = alloc_hashes((uint64_t)1 << lg, true, "an A-not-B table", err);
    if (!t)
        return NULL;
    for (uint32_t i = 0; i < b->count; i++) {
        if (b->entries[i] < theta)
            table_insert(t, lg, b->entries[i]);
        else if (b->ordered)
            break;
    }
    uint64_t *e = alloc_hashes(a->count, false, "an A-not-B result", err);
    if (!e) {
        free(t);
        return NULL;
    }
    uint32_t c = 0;
    for (uint32_t i = 0; i < a->count; i++) {
        uint64_t h = a->entries[i];
        if (h >= theta) {
            if (a->ordered)
                break;
            continue;
        }
        if (!table_contains(t, lg, h))
            e[c++] = h;
    }
    free(t);
    bool empty = c == 0 && theta == MAX_THETA;
    return make_compact(e, c, theta, sh, empty, ordered, a->ordered, err);
}
