/* Pack and unpack kernels for tempi's canonical descriptors (tempi/datatype/descriptor.py).
 *
 * Every kernel moves words of type W (1, 2, 4, 8 or 16 bytes; the host picks the largest
 * that divides every address, offset and length involved) between the typed data at
 * `typed` (the MPI origin) and the packed stream at `packed`. `unpack` = 0 packs
 * (packed <- typed), 1 unpacks (typed <- packed). All offsets, counts and lengths are in
 * words and 64-bit; offsets may be negative.
 *
 * Thread mapping (both kernel families): the y dimension walks "rows" (one contiguous
 * block or piece each), the x dimension walks the words of a row. Both are grid-stride
 * loops, so any count fits the capped grid (y <= 65535) and index decomposition costs
 * a few divisions per row, not per word. Packed order is MPI typemap order: row q is
 * written at q * block (strided) or at its prefix-sum position (block list).
 */
#include "pack.cuh"

/* Offset of block q of a strided layout with N <= 3 levels, counts and strides as
 * scalars (the outermost count is implied by the number of blocks). */
template <int N>
__device__ __forceinline__ tempi_i64 tempi_i_offset(tempi_u64 q, tempi_u64 c0, tempi_u64 c1,
                                                    tempi_i64 s0, tempi_i64 s1, tempi_i64 s2)
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

template <typename W>
__device__ __forceinline__ void tempi_i_copy_row(W *typed, W *packed, int unpack, tempi_i64 off,
                                                 tempi_u64 pos, tempi_u64 len)
{
    tempi_u64 step = (tempi_u64)gridDim.x * blockDim.x;
    tempi_u64 w = (tempi_u64)blockIdx.x * blockDim.x + threadIdx.x;
    W *dst = unpack ? typed + off : packed + pos;
    const W *src = unpack ? packed + pos : typed + off;
    /* Four independent loads in flight per thread on long rows, then the remainder. */
    for (; w + 3 * step < len; w += 4 * step) {
        W a = src[w], b = src[w + step], c = src[w + 2 * step], d = src[w + 3 * step];
        dst[w] = a;
        dst[w + step] = b;
        dst[w + 2 * step] = c;
        dst[w + 3 * step] = d;
    }
    for (; w < len; w += step)
        dst[w] = src[w];
}

__device__ __forceinline__ tempi_u64 tempi_i_row0()
{
    return (tempi_u64)blockIdx.y * blockDim.y + threadIdx.y;
}

__device__ __forceinline__ tempi_u64 tempi_i_row_step()
{
    return (tempi_u64)gridDim.y * blockDim.y;
}

/* Strided block with N = 0..3 levels: `nblocks` blocks of `block` words. */
template <typename W, int N>
__global__ void tempi_strided(tempi_u64 typed, tempi_u64 packed, int unpack,
                              const tempi_strided_args a)
{
    W *t = reinterpret_cast<W *>(typed);
    W *p = reinterpret_cast<W *>(packed);
    for (tempi_u64 q = tempi_i_row0(); q < a.nblocks; q += tempi_i_row_step()) {
        tempi_i64 off = a.start + tempi_i_offset<N>(q, a.c0, a.c1, a.s0, a.s1, a.s2);
        tempi_i_copy_row<W>(t, p, unpack, off, q * a.block, a.block);
    }
}

/* Strided block with any number of levels (up to TEMPI_MAX_LEVELS), passed by value. */
template <typename W>
__global__ void tempi_strided_n(tempi_u64 typed, tempi_u64 packed, int unpack,
                                const tempi_strided_n_args a)
{
    W *t = reinterpret_cast<W *>(typed);
    W *p = reinterpret_cast<W *>(packed);
    for (tempi_u64 q = tempi_i_row0(); q < a.nblocks; q += tempi_i_row_step()) {
        tempi_i64 off = a.start + tempi_i_level_offset(q, a.lv);
        tempi_i_copy_row<W>(t, p, unpack, off, q * a.block, a.block);
    }
}

/* Row q of a block list: piece j = q % npieces of outer repetition o = q / npieces.
 * `pieces` holds (offset, length, packed position) triples in bytes. */
template <typename W>
__device__ __forceinline__ void tempi_i_piece(const tempi_i64 *pieces, tempi_u64 j,
                                              tempi_i64 *off, tempi_u64 *pos, tempi_u64 *len)
{
    const tempi_i64 *piece = pieces + 3 * j;
    *off = piece[0] / (tempi_i64)sizeof(W);
    *len = (tempi_u64)piece[1] / sizeof(W);
    *pos = (tempi_u64)piece[2] / sizeof(W);
}

/* Block list with N = 0 or 1 outer levels; `list` = packed words of one list. */
template <typename W, int N>
__global__ void tempi_blocklist(tempi_u64 typed, tempi_u64 packed, int unpack,
                                const tempi_blocklist_args a)
{
    W *t = reinterpret_cast<W *>(typed);
    W *p = reinterpret_cast<W *>(packed);
    const tempi_i64 *pc = reinterpret_cast<const tempi_i64 *>(a.pieces);
    for (tempi_u64 q = tempi_i_row0(); q < a.nrows; q += tempi_i_row_step()) {
        tempi_u64 j = q, o = 0;
        if (N == 1)
            o = tempi_i_divmod(q, a.npieces, &j);
        tempi_i64 off;
        tempi_u64 pos, len;
        tempi_i_piece<W>(pc, j, &off, &pos, &len);
        tempi_i_copy_row<W>(t, p, unpack, off + (tempi_i64)o * a.s0, pos + o * a.list, len);
    }
}

/* Block list repeated by any number of outer levels, passed by value. */
template <typename W>
__global__ void tempi_blocklist_n(tempi_u64 typed, tempi_u64 packed, int unpack,
                                  const tempi_blocklist_n_args a)
{
    W *t = reinterpret_cast<W *>(typed);
    W *p = reinterpret_cast<W *>(packed);
    const tempi_i64 *pc = reinterpret_cast<const tempi_i64 *>(a.pieces);
    for (tempi_u64 q = tempi_i_row0(); q < a.nrows; q += tempi_i_row_step()) {
        tempi_u64 j;
        tempi_u64 o = tempi_i_divmod(q, a.npieces, &j);
        tempi_i64 off;
        tempi_u64 pos, len;
        tempi_i_piece<W>(pc, j, &off, &pos, &len);
        tempi_i_copy_row<W>(t, p, unpack, off + tempi_i_level_offset(o, a.lv),
                            pos + o * a.list, len);
    }
}
