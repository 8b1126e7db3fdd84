/* Shared definitions of the tempi pack kernels (native/pack.cu).
 *
 * Compiled at run time by NVRTC through CuPy (tempi/pack/cuda.py), and by nvcc in the
 * unit tests, so only builtin CUDA types are used: no standard headers.
 */
#ifndef TEMPI_PACK_CUH
#define TEMPI_PACK_CUH

#define TEMPI_MAX_LEVELS 16

typedef unsigned long long tempi_u64;
typedef long long tempi_i64;

/* Strided levels passed by value: counts and strides (in words) innermost first.
 * Matches the NumPy structured dtype built in tempi/pack/cuda.py (_LEVELS_DTYPE). */
struct tempi_levels {
    tempi_i64 n;
    tempi_i64 count[TEMPI_MAX_LEVELS];
    tempi_i64 stride[TEMPI_MAX_LEVELS];
};

/* Everything a launch needs besides the two addresses and the direction, one struct per
 * kernel family, passed by value: CuPy converts each kernel argument separately (about
 * half a microsecond each), so a few arguments keep the host cost of a call low. The
 * NumPy structured dtypes in tempi/pack/cuda.py mirror these layouts (all 8-byte fields). */
struct tempi_strided_args {
    tempi_i64 start;
    tempi_u64 block, nblocks, c0, c1;
    tempi_i64 s0, s1, s2;
};

struct tempi_strided_n_args {
    tempi_i64 start;
    tempi_u64 block, nblocks;
    tempi_levels lv;
};

struct tempi_blocklist_args {
    tempi_u64 pieces, npieces, list, nrows;
    tempi_i64 s0;
};

struct tempi_blocklist_n_args {
    tempi_u64 pieces, npieces, list, nrows;
    tempi_levels lv;
};

/* a / b and a % b; 32-bit hardware division when both fit, as 64-bit division is a
 * long software sequence and index decomposition runs once per block row. */
__device__ __forceinline__ tempi_u64 tempi_i_divmod(tempi_u64 a, tempi_u64 b, tempi_u64 *rem)
{
    if (((a | b) >> 32) == 0) {
        unsigned int q = (unsigned int)a / (unsigned int)b;
        *rem = (unsigned int)a - q * (unsigned int)b;
        return q;
    }
    tempi_u64 q = a / b;
    *rem = a - q * b;
    return q;
}

/* Word offset of block q over the levels: level k has count count[k] and stride
 * stride[k]; the outermost count is implied by the number of blocks. */
__device__ __forceinline__ tempi_i64 tempi_i_level_offset(tempi_u64 q, const tempi_levels &lv)
{
    tempi_i64 off = 0;
    for (int k = 0; k + 1 < lv.n; ++k) {
        tempi_u64 i;
        q = tempi_i_divmod(q, (tempi_u64)lv.count[k], &i);
        off += (tempi_i64)i * lv.stride[k];
    }
    if (lv.n > 0)
        off += (tempi_i64)q * lv.stride[lv.n - 1];
    return off;
}

#endif
