//! `dllm-ls` as the end-to-end tests run it: the same entry and allocator as the shipped binary.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    dllm_ls::entry::main()
}
