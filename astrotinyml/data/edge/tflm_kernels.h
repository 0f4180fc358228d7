/* int8 kernels with TensorFlow Lite Micro's reference semantics (tensorflow/lite/kernels/internal/
 * reference/integer_ops/{conv,fully_connected,pooling}.h, reference/softmax.h, common.h and
 * gemmlowp's fixedpoint.h), in plain C99, for the code astrotinyml.training.edge generates.
 * Loop order and arithmetic follow the reference kernels so that every int8 output is the same.
 * Shipped with astrotinyml (BSD-3-Clause); the arithmetic it ports is Apache-2.0 TensorFlow code. */
#ifndef ASTROTINYML_TFLM_KERNELS_H_
#define ASTROTINYML_TFLM_KERNELS_H_

#include <stdint.h>

static inline int32_t atm_min32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t atm_max32(int32_t a, int32_t b) { return a > b ? a : b; }

/* gemmlowp::SaturatingRoundingDoublingHighMul: (a * b * 2) >> 32, rounded half away from zero
 * (the 64-bit division truncates toward zero, as in C++). */
static inline int32_t atm_srdhm(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  int64_t ab = (int64_t)a * (int64_t)b;
  int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp::RoundingDivideByPOT: arithmetic shift right, rounding half away from zero. */
static inline int32_t atm_rdbpot(int32_t x, int exponent) {
  int32_t mask = (int32_t)((((int64_t)1) << exponent) - 1);
  int32_t remainder = x & mask;
  int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* tflite::MultiplyByQuantizedMultiplier (double rounding, the TFLite/TFLM default build). */
static inline int32_t atm_mbqm(int32_t x, int32_t multiplier, int shift) {
  int left = shift > 0 ? shift : 0;
  int right = shift > 0 ? 0 : -shift;
  return atm_rdbpot(atm_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

/* sum of w[i] * (x[i] + x_offset): the multiply-accumulate loop of the convolution and dense
 * kernels, unrolled by four (the int32 sum is the same in any order). */
static inline int32_t atm_dot_s8(const int8_t *w, const int8_t *x, int n, int32_t x_offset) {
  int32_t acc = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    acc += (int32_t)w[i] * ((int32_t)x[i] + x_offset);
    acc += (int32_t)w[i + 1] * ((int32_t)x[i + 1] + x_offset);
    acc += (int32_t)w[i + 2] * ((int32_t)x[i + 2] + x_offset);
    acc += (int32_t)w[i + 3] * ((int32_t)x[i + 3] + x_offset);
  }
  for (; i < n; ++i) acc += (int32_t)w[i] * ((int32_t)x[i] + x_offset);
  return acc;
}

/* sum of w[i] * x[i]; with the filter sum `wsum` precomputed, sum w * (x + offset) is
 * dot + offset * wsum exactly (integer arithmetic), one addition per MAC less (CMSIS-NN's
 * "kernel sum"). */
static inline int32_t atm_dot0_s8(const int8_t *w, const int8_t *x, int n) {
  int32_t acc = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    acc += (int32_t)w[i] * (int32_t)x[i];
    acc += (int32_t)w[i + 1] * (int32_t)x[i + 1];
    acc += (int32_t)w[i + 2] * (int32_t)x[i + 2];
    acc += (int32_t)w[i + 3] * (int32_t)x[i + 3];
  }
  for (; i < n; ++i) acc += (int32_t)w[i] * (int32_t)x[i];
  return acc;
}

/* reference_integer_ops::ConvPerChannel, NHWC input, OHWI filter, batch 1.  The reference loops
 * skip filter taps outside the input one by one; here the valid tap range is computed once per
 * output position and, with dilation 1, the taps (fx, ic) of one filter row are one contiguous run
 * in both input and filter.  The int32 sums are the same (integer addition is exact), so the
 * outputs are those of the reference kernel. */
static void atm_conv2d_s8(const int8_t *in, int in_h, int in_w, int in_c,
                          const int8_t *filt, const int32_t *wsum, int k_h, int k_w, const int32_t *bias,
                          int8_t *out, int out_h, int out_w, int out_c,
                          int stride_h, int stride_w, int dil_h, int dil_w, int pad_h, int pad_w,
                          int32_t in_offset, int32_t out_offset,
                          const int32_t *mult, const int32_t *shift, int32_t act_min, int32_t act_max) {
  for (int oy = 0; oy < out_h; ++oy) {
    const int iy0 = oy * stride_h - pad_h;
    for (int ox = 0; ox < out_w; ++ox) {
      const int ix0 = ox * stride_w - pad_w;
      int fx0 = 0, fx1 = k_w;
      if (dil_w == 1) {
        fx0 = atm_max32(0, -ix0);
        fx1 = atm_min32(k_w, in_w - ix0);
      }
      /* The whole filter window inside the input: the kernel-sum form. */
      const int inside = wsum && dil_w == 1 && fx0 == 0 && fx1 == k_w && iy0 >= 0 &&
                         iy0 + (k_h - 1) * dil_h < in_h;
      for (int oc = 0; oc < out_c; ++oc) {
        int32_t acc = 0;
        if (inside) {
          for (int fy = 0; fy < k_h; ++fy)
            acc += atm_dot0_s8(filt + (oc * k_h + fy) * k_w * in_c, in + ((iy0 + dil_h * fy) * in_w + ix0) * in_c,
                               k_w * in_c);
          acc += in_offset * wsum[oc];
        } else for (int fy = 0; fy < k_h; ++fy) {
          const int iy = iy0 + dil_h * fy;
          if (iy < 0 || iy >= in_h) continue;
          if (dil_w == 1) {
            const int8_t *x = in + (iy * in_w + ix0 + fx0) * in_c;
            const int8_t *w = filt + ((oc * k_h + fy) * k_w + fx0) * in_c;
            acc += atm_dot_s8(w, x, (fx1 - fx0) * in_c, in_offset);
          } else {
            for (int fx = 0; fx < k_w; ++fx) {
              const int ix = ix0 + dil_w * fx;
              if (ix < 0 || ix >= in_w) continue;
              const int8_t *x = in + (iy * in_w + ix) * in_c;
              const int8_t *w = filt + ((oc * k_h + fy) * k_w + fx) * in_c;
              for (int ic = 0; ic < in_c; ++ic) acc += (int32_t)w[ic] * ((int32_t)x[ic] + in_offset);
            }
          }
        }
        if (bias) acc += bias[oc];
        acc = atm_mbqm(acc, mult[oc], shift[oc]);
        acc += out_offset;
        acc = atm_max32(acc, act_min);
        acc = atm_min32(acc, act_max);
        out[(oy * out_w + ox) * out_c + oc] = (int8_t)acc;
      }
    }
  }
}

/* reference_integer_ops::MaxPool, batch 1. */
static void atm_maxpool_s8(const int8_t *in, int in_h, int in_w, int c, int8_t *out, int out_h, int out_w,
                           int f_h, int f_w, int stride_h, int stride_w, int pad_h, int pad_w,
                           int32_t act_min, int32_t act_max) {
  for (int oy = 0; oy < out_h; ++oy) {
    const int iy0 = oy * stride_h - pad_h;
    const int fy0 = atm_max32(0, -iy0), fy1 = atm_min32(f_h, in_h - iy0);
    for (int ox = 0; ox < out_w; ++ox) {
      const int ix0 = ox * stride_w - pad_w;
      const int fx0 = atm_max32(0, -ix0), fx1 = atm_min32(f_w, in_w - ix0);
      for (int ch = 0; ch < c; ++ch) {
        int32_t m = -128;
        for (int fy = fy0; fy < fy1; ++fy)
          for (int fx = fx0; fx < fx1; ++fx)
            m = atm_max32(m, in[((iy0 + fy) * in_w + ix0 + fx) * c + ch]);
        m = atm_max32(m, act_min);
        m = atm_min32(m, act_max);
        out[(oy * out_w + ox) * c + ch] = (int8_t)m;
      }
    }
  }
}

/* reference_integer_ops::FullyConnected (per-tensor: one multiplier) and FullyConnectedPerChannel. */
static void atm_fc_s8(const int8_t *in, int n_in, const int8_t *w, const int32_t *wsum, const int32_t *bias,
                      int8_t *out, int n_out,
                      int32_t in_offset, int32_t w_offset, int32_t out_offset,
                      const int32_t *mult, const int32_t *shift, int per_channel, int32_t act_min, int32_t act_max) {
  for (int o = 0; o < n_out; ++o) {
    int32_t acc = 0;
    const int8_t *row = w + o * n_in;
    if (w_offset == 0 && wsum) {  /* symmetric int8 weights, as TFLite's converter writes them */
      acc += atm_dot0_s8(row, in, n_in) + in_offset * wsum[o];
    } else {
      for (int i = 0; i < n_in; ++i) acc += ((int32_t)row[i] + w_offset) * ((int32_t)in[i] + in_offset);
    }
    if (bias) acc += bias[o];
    acc = atm_mbqm(acc, mult[per_channel ? o : 0], shift[per_channel ? o : 0]);
    acc += out_offset;
    acc = atm_max32(acc, act_min);
    acc = atm_min32(acc, act_max);
    out[o] = (int8_t)acc;
  }
}

/* gemmlowp fixed point for the softmax: raw int32 values with a stated number of integer bits. */
static inline int32_t atm_sat_shl(int32_t x, int e) {  /* SaturatingRoundingMultiplyByPOT<e>, e > 0 */
  const int32_t threshold = (int32_t)((((int64_t)1) << (31 - e)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << e);
}

/* exp_on_interval_between_negative_one_quarter_and_0_excl, 0 integer bits in and out. */
static int32_t atm_exp_interval(int32_t a) {
  const int32_t constant_term = 1895147668;   /* exp(-1/8) */
  const int32_t constant_1_over_3 = 715827883;
  int32_t x = a + (1 << 28);                  /* a + 1/8 */
  int32_t x2 = atm_srdhm(x, x);
  int32_t x3 = atm_srdhm(x2, x);
  int32_t x4 = atm_srdhm(x2, x2);
  int32_t x4_over_4 = atm_rdbpot(x4, 2);
  int32_t poly = atm_rdbpot(atm_srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1);
  return constant_term + atm_srdhm(constant_term, x + poly);
}

/* gemmlowp::exp_on_negative_values for 5 integer bits in, 0 out. */
static int32_t atm_exp_on_negative_values_5(int32_t a) {
  const int frac = 26;
  const int32_t one_quarter = 1 << (frac - 2);
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod = (a & mask) - one_quarter;
  int32_t result = atm_exp_interval(atm_sat_shl(a_mod, 5));
  const int32_t remainder = a_mod - a;
  static const int32_t mults[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  for (int k = 0; k < 7; ++k)   /* exponents -2 .. +4: all below the 5 integer bits */
    if (remainder & (1 << (frac - 2 + k))) result = atm_srdhm(result, mults[k]);
  if (a == 0) result = INT32_MAX;
  return result;
}

/* gemmlowp::one_over_one_plus_x_for_x_in_0_1, 0 integer bits in and out. */
static int32_t atm_one_over_one_plus_x(int32_t a) {
  int64_t sum = (int64_t)a + (int64_t)INT32_MAX;
  int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  const int32_t c48_17 = 1515870810, cm32_17 = -1010580540;   /* 2 integer bits */
  int32_t x = c48_17 + atm_srdhm(half_denominator, cm32_17);
  for (int i = 0; i < 3; ++i) {
    int32_t hdx = atm_srdhm(half_denominator, x);
    int32_t one_minus = (1 << 29) - hdx;
    x = x + atm_sat_shl(atm_srdhm(x, one_minus), 2);
  }
  return atm_sat_shl(x, 1);
}

static inline int atm_clz32(uint32_t x) {
  int n = 0;
  if (x == 0) return 32;
  while (!(x & 0x80000000u)) { x <<= 1; ++n; }
  return n;
}

/* reference_ops::Softmax<int8_t, int8_t>, output scale 1/256 zero point -128, rows of `depth`. */
static void atm_softmax_s8(const int8_t *in, int8_t *out, int outer, int depth,
                           int32_t in_mult, int in_left_shift, int32_t diff_min) {
  for (int r = 0; r < outer; ++r) {
    const int8_t *x = in + r * depth;
    int8_t *y = out + r * depth;
    int32_t mx = -128;
    for (int c = 0; c < depth; ++c) mx = atm_max32(mx, x[c]);
    int32_t sum = 0;   /* 12 integer bits */
    for (int c = 0; c < depth; ++c) {
      int32_t d = (int32_t)x[c] - mx;
      if (d >= diff_min) {
        int32_t e = atm_exp_on_negative_values_5(atm_srdhm((int32_t)((uint32_t)d << in_left_shift), in_mult));
        sum += atm_rdbpot(e, 12);
      }
    }
    int headroom = atm_clz32((uint32_t)sum);
    int num_bits_over_unit = 12 - headroom;
    int32_t shifted_minus_one = (int32_t)(((uint32_t)sum << headroom) - ((uint32_t)1 << 31));
    int32_t scale = atm_one_over_one_plus_x(shifted_minus_one);
    for (int c = 0; c < depth; ++c) {
      int32_t d = (int32_t)x[c] - mx;
      if (d >= diff_min) {
        int32_t e = atm_exp_on_negative_values_5(atm_srdhm((int32_t)((uint32_t)d << in_left_shift), in_mult));
        int32_t v = atm_rdbpot(atm_srdhm(scale, e), num_bits_over_unit + 31 - 8) - 128;
        y[c] = (int8_t)atm_max32(atm_min32(v, 127), -128);
      } else {
        y[c] = -128;
      }
    }
  }
}

#endif  /* ASTROTINYML_TFLM_KERNELS_H_ */
