/* A stand-in for the CUDA driver (built as libcuda.so.1 by tests/test_memkind.py) for
 * the interposer's memory-kind check on a machine without CUDA: only
 * cuPointerGetAttribute, which counts its calls and says that no pointer is device
 * memory (CUDA_ERROR_INVALID_VALUE, as the real driver answers for unregistered host
 * memory). */
static long fake_cuda_calls = 0;

int cuPointerGetAttribute(void *data, int attribute, unsigned long long ptr)
{
    (void)data, (void)attribute, (void)ptr;
    ++fake_cuda_calls;
    return 1; /* CUDA_ERROR_INVALID_VALUE */
}

long fake_cuda_pointer_queries(void)
{
    return fake_cuda_calls;
}
