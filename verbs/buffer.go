package verbs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Buffer is memory for RDMA: mmap'd outside Go's heap, so the device and
// libibverbs may hold its address for as long as it is registered. Register
// it with PD.RegMR.
type Buffer struct {
	life
	mem []byte
}

// BufferOptions tune NewBuffer.
type BufferOptions struct {
	// HugePages maps the buffer with MAP_HUGETLB; its size must then be a
	// multiple of the huge page size and huge pages must be reserved.
	HugePages bool
}

// NewBuffer maps size bytes of zeroed memory.
func NewBuffer(size int, opts *BufferOptions) (*Buffer, error) {
	if size <= 0 {
		return nil, opError("mmap", "buffer", fmt.Errorf("size %d: %w", size, syscall.EINVAL))
	}
	flags := unix.MAP_PRIVATE | unix.MAP_ANONYMOUS
	if opts != nil && opts.HugePages {
		flags |= unix.MAP_HUGETLB
		// The kernel would map whole huge pages and then refuse to unmap
		// a part of one: Close could never succeed.
		if page := hugePageSize(); page > 0 && size%page != 0 {
			return nil, opError("mmap", "buffer", fmt.Errorf("size %d is not a multiple of the huge page size %d: %w", size, page, syscall.EINVAL))
		}
	}
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, flags)
	if err != nil {
		return nil, opError("mmap", "buffer", err)
	}
	return &Buffer{life: born(), mem: mem}, nil
}

// Bytes returns the buffer's memory, or nil once it is closed. The slice must
// not be used after Close.
func (b *Buffer) Bytes() []byte {
	if b == nil || !b.acquire() {
		return nil
	}
	defer b.release()
	return b.mem
}

// Len is the buffer's size in bytes (0 when closed).
func (b *Buffer) Len() int { return len(b.Bytes()) }

// Close unmaps the buffer; EBUSY while a memory region still registers it.
func (b *Buffer) Close() error {
	if b == nil {
		return opError("munmap", "buffer", ErrClosed)
	}
	return opError("munmap", "buffer", b.close(func() error { return unix.Munmap(b.mem) }))
}

// hugePageSize returns the default huge page size (/proc/meminfo's
// Hugepagesize), 0 when it cannot tell.
func hugePageSize() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Hugepagesize:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
