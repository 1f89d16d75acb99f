/*
 * hll_int.h — private to sketch/hll*.c: the composite estimator's table
 * (hll_tables.c), shared between the estimator code and its data file.
 */
#ifndef LODESTAR_SKETCH_HLL_INT_H
#define LODESTAR_SKETCH_HLL_INT_H

#define SKETCH__HLL_XARR_LEN 257

/* Index lgK - 4: the raw HLL estimates at true cardinalities 0, s, 2s, ...
 * where s is sketch__hll_ystride(lgK) = the y stride of that lgK. */
extern const double sketch__hll_xarrs[18][SKETCH__HLL_XARR_LEN];

#endif
