package allocator

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used (user and system, all threads, GC included).
// Benchmarks report it per op beside ns/op: on a shared machine wall time includes waiting for a
// CPU, CPU time does not.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
