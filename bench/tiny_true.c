/* The cheapest possible program to exec: static, no libc, exits 0 at once. The drop and replay
 * benchmarks exec it so that the exec rate is bounded by the kernel's fork/exec path and the
 * tracer, not by the dynamic loader (a dynamically linked /bin/true costs several times more). */
void _start(void)
{
    __asm__ volatile("mov $60, %eax\n\txor %edi, %edi\n\tsyscall");
}
