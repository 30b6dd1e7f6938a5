//go:build !linux

package allocator

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
