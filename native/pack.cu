/* Pack and unpack kernels for tempi's canonical descriptors (tempi/datatype/descriptor.py).
 *
 * Every kernel moves words of type W (1, 2, 4, 8 or 16 bytes; the host picks the largest
 * that divides every address, offset and length involved) between the typed data at
 * `typed` (the MPI origin) and the packed stream at `packed`. `unpack` = 0 packs
 * (packed <- typed), 1 unpacks (typed <- packed). All offsets, counts and lengths are in
 * words and 64-bit; offsets may be negative.
 *
 * Thread mapping (row kernels): the y dimension walks "rows" (one contiguous block or
 * piece each), the x dimension walks the words of a row. Both are grid-stride loops, so
 * any count fits the capped grid (y <= 65535) and index decomposition costs a few
 * divisions per row, not per word. Packed order is MPI typemap order: row q is written
 * at q * block (strided) or at its prefix-sum position (block list).
 *
 * Two strided variants change how a row's bytes are moved, never where they go:
 * - tempi_strided_wide (8-byte words, long rows): each row is cut where its destination
 *   reaches a multiple of 16 bytes; the units between move as 16-byte stores, read as one
 *   16-byte load when the source is 16-aligned there too and as two 8-byte loads when it
 *   is 8 off; the 8-byte words before and after move one per thread.
 * - tempi_strided_tiny (1- or 2-byte words, blocks shorter than 16 bytes): the x
 *   dimension walks the packed stream in 4-byte units (one aligned 32-bit load or store on
 *   the packed side) and each unit's words are gathered from or scattered to their blocks;
 *   the words before the first and after the last whole unit move one per thread.
 *
 * Each kernel is a one-line __global__ wrapper around a body (tempi_i_<name>) that takes
 * its thread coordinates as an argument, so the bodies also compile as host C++ under
 * TEMPI_EMULATE (see pack.cuh) and the unit tests run them on the CPU.
 */
#include "pack.cuh"

/* Offset of block q of a strided layout with N <= 3 levels, counts and strides as
 * scalars (the outermost count is implied by the number of blocks). */
template <int N>
TEMPI_HD tempi_i64 tempi_i_offset(tempi_u64 q, tempi_u64 c0, tempi_u64 c1, tempi_i64 s0,
                                  tempi_i64 s1, tempi_i64 s2)
{
    if (N == 0)
        return 0;
    if (N == 1)
        return (tempi_i64)q * s0;
    tempi_u64 i0, i1;
    tempi_u64 r = tempi_i_divmod(q, c0, &i0);
    if (N == 2)
        return (tempi_i64)i0 * s0 + (tempi_i64)r * s1;
    tempi_u64 i2 = tempi_i_divmod(r, c1, &i1);
    return (tempi_i64)i0 * s0 + (tempi_i64)i1 * s1 + (tempi_i64)i2 * s2;
}

/* Block q of a strided layout with N = 1..3 levels and its offset, stepped to block q + 1
 * by additions (a carry per level) instead of a new decomposition. */
template <int N>
struct tempi_i_cursor {
    tempi_u64 i0, i1;
    tempi_i64 off;

    TEMPI_HD void seek(tempi_u64 q, const tempi_strided_args &a)
    {
        i0 = i1 = 0;
        if (N == 1) {
            off = (tempi_i64)q * a.s0;
            return;
        }
        tempi_u64 r = tempi_i_divmod(q, a.c0, &i0);
        if (N == 3)
            r = tempi_i_divmod(r, a.c1, &i1);
        off = (tempi_i64)i0 * a.s0 + (tempi_i64)i1 * a.s1 + (tempi_i64)r * (N == 2 ? a.s1 : a.s2);
    }

    TEMPI_HD void next(const tempi_strided_args &a)
    {
        if (N == 1 || ++i0 < a.c0) {
            off += a.s0;
            return;
        }
        i0 = 0;
        off -= (tempi_i64)(a.c0 - 1) * a.s0;
        if (N == 2 || ++i1 < a.c1) {
            off += a.s1;
            return;
        }
        i1 = 0;
        off += a.s2 - (tempi_i64)(a.c1 - 1) * a.s1;
    }
};

template <typename W>
TEMPI_HD void tempi_i_copy_row(const tempi_i_thread &th, W *typed, W *packed, int unpack,
                               tempi_i64 off, tempi_u64 pos, tempi_u64 len)
{
    tempi_u64 step = th.xstep;
    tempi_u64 w = th.x0;
    W *dst = unpack ? typed + off : packed + pos;
    const W *src = unpack ? packed + pos : typed + off;
    /* Four independent loads in flight per thread on long rows, then the remainder. */
    for (; w + 3 * step < len; w += 4 * step) {
        W a = tempi_i_load(src + w), b = tempi_i_load(src + w + step);
        W c = tempi_i_load(src + w + 2 * step), d = tempi_i_load(src + w + 3 * step);
        tempi_i_store(dst + w, a);
        tempi_i_store(dst + w + step, b);
        tempi_i_store(dst + w + 2 * step, c);
        tempi_i_store(dst + w + 3 * step, d);
    }
    for (; w < len; w += step)
        tempi_i_store(dst + w, tempi_i_load(src + w));
}

/* 16 bytes at `src`, which is 16-aligned or (not `aligned`) 8 bytes off. */
TEMPI_HD uint4 tempi_i_load16(const char *src, bool aligned)
{
    if (aligned)
        return tempi_i_load(reinterpret_cast<const uint4 *>(src));
    tempi_u64 lo = tempi_i_load(reinterpret_cast<const tempi_u64 *>(src));
    tempi_u64 hi = tempi_i_load(reinterpret_cast<const tempi_u64 *>(src + 8));
    uint4 v;
    v.x = (unsigned int)lo;
    v.y = (unsigned int)(lo >> 32);
    v.z = (unsigned int)hi;
    v.w = (unsigned int)(hi >> 32);
    return v;
}

/* One row of `len` bytes between 8-aligned `src` and `dst` (len a multiple of 8): 16-byte
 * stores from where `dst` is 16-aligned, 8-byte words at the edges. */
TEMPI_HD void tempi_i_copy_row_wide(const tempi_i_thread &th, char *dst, const char *src,
                                    tempi_u64 len)
{
    tempi_i_split s = tempi_i_cut((tempi_u64)dst, len, 16);
    uint4 *body = reinterpret_cast<uint4 *>(dst + s.head);
    const char *from = src + s.head;
    bool aligned = ((tempi_u64)from & 15) == 0;
    tempi_u64 step = th.xstep, u = th.x0;
    for (; u + 3 * step < s.units; u += 4 * step) {
        uint4 a = tempi_i_load16(from + 16 * u, aligned);
        uint4 b = tempi_i_load16(from + 16 * (u + step), aligned);
        uint4 c = tempi_i_load16(from + 16 * (u + 2 * step), aligned);
        uint4 d = tempi_i_load16(from + 16 * (u + 3 * step), aligned);
        tempi_i_store(body + u, a);
        tempi_i_store(body + u + step, b);
        tempi_i_store(body + u + 2 * step, c);
        tempi_i_store(body + u + 3 * step, d);
    }
    for (; u < s.units; u += step)
        tempi_i_store(body + u, tempi_i_load16(from + 16 * u, aligned));
    tempi_u64 edges = tempi_i_edge_words(s, len, 8);
    for (tempi_u64 e = th.x0; e < edges; e += step) {
        tempi_u64 b = tempi_i_edge(e, 8, s);
        tempi_i_store(reinterpret_cast<tempi_u64 *>(dst + b),
                      tempi_i_load(reinterpret_cast<const tempi_u64 *>(src + b)));
    }
}

/* Strided block with N = 0..3 levels: `nblocks` blocks of `block` words. */
template <typename W, int N>
TEMPI_HD void tempi_i_strided(const tempi_i_thread &th, tempi_u64 typed, tempi_u64 packed,
                              int unpack, const tempi_strided_args &a)
{
    W *t = reinterpret_cast<W *>(typed);
    W *p = reinterpret_cast<W *>(packed);
    for (tempi_u64 q = th.y0; q < a.nblocks; q += th.ystep) {
        tempi_i64 off = a.start + tempi_i_offset<N>(q, a.c0, a.c1, a.s0, a.s1, a.s2);
        tempi_i_copy_row<W>(th, t, p, unpack, off, q * a.block, a.block);
    }
}

/* As tempi_strided<tempi_u64, N>, each row moved by tempi_i_copy_row_wide. */
template <int N>
TEMPI_HD void tempi_i_strided_wide(const tempi_i_thread &th, tempi_u64 typed,
                                   tempi_u64 packed, int unpack, const tempi_strided_args &a)
{
    char *t = reinterpret_cast<char *>(typed);
    char *p = reinterpret_cast<char *>(packed);
    tempi_u64 len = a.block * 8;
    for (tempi_u64 q = th.y0; q < a.nblocks; q += th.ystep) {
        char *row = t + 8 * (a.start + tempi_i_offset<N>(q, a.c0, a.c1, a.s0, a.s1, a.s2));
        char *stream = p + q * len;
        if (unpack)
            tempi_i_copy_row_wide(th, row, stream, len);
        else
            tempi_i_copy_row_wide(th, stream, row, len);
    }
}

/* Strided block, N = 1..3 levels, walked along the packed stream (x only): thread u
 * moves the 4-byte unit u of the packed side, 4 / sizeof(W) words. */
template <typename W, int N>
TEMPI_HD void tempi_i_strided_tiny(const tempi_i_thread &th, tempi_u64 typed,
                                   tempi_u64 packed, int unpack, const tempi_strided_args &a)
{
    const int K = 4 / (int)sizeof(W);
    W *t = reinterpret_cast<W *>(typed) + a.start;
    W *p = reinterpret_cast<W *>(packed);
    tempi_u64 len = a.nblocks * a.block * sizeof(W);
    tempi_i_split s = tempi_i_cut(packed, len, 4);
    unsigned int *units = reinterpret_cast<unsigned int *>(reinterpret_cast<char *>(p) + s.head);
    tempi_u64 first = s.head / sizeof(W);
    for (tempi_u64 u = th.x0; u < s.units; u += th.xstep) {
        tempi_u64 j;
        tempi_u64 q = tempi_i_divmod(first + u * K, a.block, &j);
        tempi_i_cursor<N> c;
        c.seek(q, a);
        W *at[K];
        for (int m = 0; m < K; ++m) {
            at[m] = t + c.off + (tempi_i64)j;
            if (++j == a.block) {
                j = 0;
                c.next(a);
            }
        }
        if (unpack) {
            unsigned int v = tempi_i_load(units + u);
            for (int m = 0; m < K; ++m)
                tempi_i_store(at[m], (W)(v >> (8 * sizeof(W) * m)));
        } else {
            W w[K];
            for (int m = 0; m < K; ++m)
                w[m] = tempi_i_load(at[m]);
            unsigned int v = 0;
            for (int m = 0; m < K; ++m)
                v |= (unsigned int)w[m] << (8 * sizeof(W) * m);
            tempi_i_store(units + u, v);
        }
    }
    tempi_u64 edges = tempi_i_edge_words(s, len, sizeof(W));
    for (tempi_u64 e = th.x0; e < edges; e += th.xstep) {
        tempi_u64 i = tempi_i_edge(e, sizeof(W), s) / sizeof(W), j;
        tempi_u64 q = tempi_i_divmod(i, a.block, &j);
        W *row = t + tempi_i_offset<N>(q, a.c0, a.c1, a.s0, a.s1, a.s2) + (tempi_i64)j;
        if (unpack)
            tempi_i_store(row, tempi_i_load(p + i));
        else
            tempi_i_store(p + i, tempi_i_load(row));
    }
}

/* Strided block with any number of levels (up to TEMPI_MAX_LEVELS), passed by value. */
template <typename W>
TEMPI_HD void tempi_i_strided_n(const tempi_i_thread &th, tempi_u64 typed, tempi_u64 packed,
                                int unpack, const tempi_strided_n_args &a)
{
    W *t = reinterpret_cast<W *>(typed);
    W *p = reinterpret_cast<W *>(packed);
    for (tempi_u64 q = th.y0; q < a.nblocks; q += th.ystep) {
        tempi_i64 off = a.start + tempi_i_level_offset(q, a.lv);
        tempi_i_copy_row<W>(th, t, p, unpack, off, q * a.block, a.block);
    }
}

/* Row q of a block list: piece j = q % npieces of outer repetition o = q / npieces.
 * `pieces` holds (offset, length, packed position) triples in bytes. */
template <typename W>
TEMPI_HD void tempi_i_piece(const tempi_i64 *pieces, tempi_u64 j, tempi_i64 *off,
                            tempi_u64 *pos, tempi_u64 *len)
{
    const tempi_i64 *piece = pieces + 3 * j;
    *off = piece[0] / (tempi_i64)sizeof(W);
    *len = (tempi_u64)piece[1] / sizeof(W);
    *pos = (tempi_u64)piece[2] / sizeof(W);
}

/* Block list with N = 0 or 1 outer levels; `list` = packed words of one list. */
template <typename W, int N>
TEMPI_HD void tempi_i_blocklist(const tempi_i_thread &th, tempi_u64 typed, tempi_u64 packed,
                                int unpack, const tempi_blocklist_args &a)
{
    W *t = reinterpret_cast<W *>(typed);
    W *p = reinterpret_cast<W *>(packed);
    const tempi_i64 *pc = reinterpret_cast<const tempi_i64 *>(a.pieces);
    for (tempi_u64 q = th.y0; q < a.nrows; q += th.ystep) {
        tempi_u64 j = q, o = 0;
        if (N == 1)
            o = tempi_i_divmod(q, a.npieces, &j);
        tempi_i64 off;
        tempi_u64 pos, len;
        tempi_i_piece<W>(pc, j, &off, &pos, &len);
        tempi_i_copy_row<W>(th, t, p, unpack, off + (tempi_i64)o * a.s0, pos + o * a.list,
                            len);
    }
}

/* Block list repeated by any number of outer levels, passed by value. */
template <typename W>
TEMPI_HD void tempi_i_blocklist_n(const tempi_i_thread &th, tempi_u64 typed, tempi_u64 packed,
                                  int unpack, const tempi_blocklist_n_args &a)
{
    W *t = reinterpret_cast<W *>(typed);
    W *p = reinterpret_cast<W *>(packed);
    const tempi_i64 *pc = reinterpret_cast<const tempi_i64 *>(a.pieces);
    for (tempi_u64 q = th.y0; q < a.nrows; q += th.ystep) {
        tempi_u64 j;
        tempi_u64 o = tempi_i_divmod(q, a.npieces, &j);
        tempi_i64 off;
        tempi_u64 pos, len;
        tempi_i_piece<W>(pc, j, &off, &pos, &len);
        tempi_i_copy_row<W>(th, t, p, unpack, off + tempi_i_level_offset(o, a.lv),
                            pos + o * a.list, len);
    }
}

#ifndef TEMPI_EMULATE
__device__ __forceinline__ tempi_i_thread tempi_i_here()
{
    tempi_i_thread th;
    th.x0 = (tempi_u64)blockIdx.x * blockDim.x + threadIdx.x;
    th.xstep = (tempi_u64)gridDim.x * blockDim.x;
    th.y0 = (tempi_u64)blockIdx.y * blockDim.y + threadIdx.y;
    th.ystep = (tempi_u64)gridDim.y * blockDim.y;
    return th;
}

template <typename W, int N>
__global__ void tempi_strided(tempi_u64 typed, tempi_u64 packed, int unpack,
                              const tempi_strided_args a)
{
    tempi_i_strided<W, N>(tempi_i_here(), typed, packed, unpack, a);
}

template <int N>
__global__ void tempi_strided_wide(tempi_u64 typed, tempi_u64 packed, int unpack,
                                   const tempi_strided_args a)
{
    tempi_i_strided_wide<N>(tempi_i_here(), typed, packed, unpack, a);
}

template <typename W, int N>
__global__ void tempi_strided_tiny(tempi_u64 typed, tempi_u64 packed, int unpack,
                                   const tempi_strided_args a)
{
    tempi_i_strided_tiny<W, N>(tempi_i_here(), typed, packed, unpack, a);
}

template <typename W>
__global__ void tempi_strided_n(tempi_u64 typed, tempi_u64 packed, int unpack,
                                const tempi_strided_n_args a)
{
    tempi_i_strided_n<W>(tempi_i_here(), typed, packed, unpack, a);
}

template <typename W, int N>
__global__ void tempi_blocklist(tempi_u64 typed, tempi_u64 packed, int unpack,
                                const tempi_blocklist_args a)
{
    tempi_i_blocklist<W, N>(tempi_i_here(), typed, packed, unpack, a);
}

template <typename W>
__global__ void tempi_blocklist_n(tempi_u64 typed, tempi_u64 packed, int unpack,
                                  const tempi_blocklist_n_args a)
{
    tempi_i_blocklist_n<W>(tempi_i_here(), typed, packed, unpack, a);
}
#endif
