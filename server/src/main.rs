/// A model pass allocates dozens of short-lived buffers of up to a few MB. glibc hands the
/// large ones back to the kernel when they are freed, and the next pass faults them in again;
/// mimalloc keeps them for reuse.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    dllm_ls::entry::main()
}
