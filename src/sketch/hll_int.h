/*
 * hll_int.h — private to sketch/hll*.c (and its unit test): the composite
 * estimator's table (hll_tables.c) and the allocation-failure switch.
 */
#ifndef LODESTAR_SKETCH_HLL_INT_H
#define LODESTAR_SKETCH_HLL_INT_H

#define SKETCH__HLL_XARR_LEN 257

/* Index lgK - 4: the raw HLL estimates at true cardinalities 0, s, 2s, ...
 * where s is sketch__hll_ystride(lgK) = the y stride of that lgK. */
extern const double sketch__hll_xarrs[18][SKETCH__HLL_XARR_LEN];

/* Tests only: when > 0, the allocation that brings it to 0 fails (hll.c
 * counts it down on every allocation). 0, the default, never fails one. */
extern int sketch__hll_fail_alloc_after;

#endif
