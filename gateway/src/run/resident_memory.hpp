// Giving back the memory that only the start-up used.
//
// After the start the gateway holds pages it will not touch again: the
// heap's freed pages (the YAML tree, the plans built per bus) and, far
// more, the file pages mapped while starting (the dynamic linker reading
// every library's relocations and symbol tables, the configuration loader,
// SQLite's open and integrity check, CLI11). Those are clean copies of
// files in the page cache, 6 to 9 MB of a gateway's RSS, and they stay
// mapped until memory runs short.
//
// release_startup_memory() trims the heap (malloc_trim) and unmaps, with
// MADV_DONTNEED, the resident pages of read-only private file mappings that
// are still the file's own: what the kernel's reclaim would do to them
// under pressure, done now. Nothing is lost: a page used again is mapped
// again from the page cache on its next access (a minor fault, no I/O
// while the file stays cached). A private copy (the RELRO pages the
// dynamic linker relocated, told apart by /proc/self/pagemap) and writable
// mappings are never touched: there DONTNEED would discard data.
//
// Linux only; elsewhere, wherever /proc/self/smaps cannot be read, and
// where it does not describe this process (under qemu-user it is the
// emulator's), only the heap is trimmed.
#pragma once

#include <cstddef>

namespace fieldbridge::gateway {

struct released_memory {
  std::size_t mappings = 0;  // file mappings with pages unmapped
  std::size_t bytes = 0;     // the resident bytes unmapped
};

released_memory release_startup_memory() noexcept;

// The heap's part alone (malloc_trim): what a reload frees.
void release_freed_heap() noexcept;

}  // namespace fieldbridge::gateway
