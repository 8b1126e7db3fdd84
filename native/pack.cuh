/* Shared definitions of the tempi pack kernels (native/pack.cu).
 *
 * Compiled at run time by NVRTC through CuPy (tempi/pack/cuda.py), and by nvcc in the
 * unit tests, so only builtin CUDA types are used: no standard headers.
 *
 * With TEMPI_EMULATE defined, the same source compiles as plain C++ (no kernels, only the
 * kernel bodies): tests/unit/test_pack_emulation.py runs every body on the CPU over a
 * whole launch grid, and the emulator's tempi_emu_access checks each load and store
 * (inside the buffers, aligned to its size, every destination byte written once).
 */
#ifndef TEMPI_PACK_CUH
#define TEMPI_PACK_CUH

#define TEMPI_MAX_LEVELS 16

#ifdef TEMPI_EMULATE
#define TEMPI_HD inline
struct alignas(16) uint4 {
    unsigned int x, y, z, w;
};
void tempi_emu_access(const void *ptr, unsigned long long nbytes, int write);
#define TEMPI_I_ACCESS(ptr, nbytes, write) tempi_emu_access((ptr), (nbytes), (write))
#else
#define TEMPI_HD __host__ __device__ __forceinline__
#define TEMPI_I_ACCESS(ptr, nbytes, write) ((void)0)
#endif

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

/* Where a thread stands in its launch: first x and y index and the grid-stride steps
 * (blockIdx * blockDim + threadIdx and gridDim * blockDim on the device). */
struct tempi_i_thread {
    tempi_u64 x0, xstep, y0, ystep;
};

/* Every load and store of typed or packed data goes through these two. */
template <typename T>
TEMPI_HD T tempi_i_load(const T *ptr)
{
    TEMPI_I_ACCESS(ptr, sizeof(T), 0);
    return *ptr;
}

template <typename T>
TEMPI_HD void tempi_i_store(T *ptr, T value)
{
    TEMPI_I_ACCESS(ptr, sizeof(T), 1);
    *ptr = value;
}

/* a / b and a % b; 32-bit hardware division when both fit, as 64-bit division is a
 * long software sequence and index decomposition runs once per block row. */
TEMPI_HD tempi_u64 tempi_i_divmod(tempi_u64 a, tempi_u64 b, tempi_u64 *rem)
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
TEMPI_HD tempi_i64 tempi_i_level_offset(tempi_u64 q, const tempi_levels &lv)
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

/* A run of `len` bytes whose destination starts at address `dst`, cut where `dst` reaches
 * a multiple of `unit` (a power of two): `head` bytes first (fewer than `unit`, at most
 * `len`), then `units` whole units (dst + head is a multiple of `unit`), then the tail,
 * from byte `body_end` to `len`. When `dst` and `len` are multiples of a word that divides
 * `unit`, so are the head and the tail. */
struct tempi_i_split {
    tempi_u64 head, units, body_end;
};

TEMPI_HD tempi_i_split tempi_i_cut(tempi_u64 dst, tempi_u64 len, tempi_u64 unit)
{
    tempi_i_split s;
    tempi_u64 head = (0 - dst) & (unit - 1);
    s.head = head < len ? head : len;
    s.units = (len - s.head) / unit;
    s.body_end = s.head + s.units * unit;
    return s;
}

/* Words of `word` bytes outside the units: the head's, then the tail's. */
TEMPI_HD tempi_u64 tempi_i_edge_words(const tempi_i_split &s, tempi_u64 len, tempi_u64 word)
{
    return (len - (s.body_end - s.head)) / word;
}

/* Byte offset in the run of edge word e (0 <= e < tempi_i_edge_words). */
TEMPI_HD tempi_u64 tempi_i_edge(tempi_u64 e, tempi_u64 word, const tempi_i_split &s)
{
    tempi_u64 b = e * word;
    return b < s.head ? b : s.body_end + (b - s.head);
}

#endif
