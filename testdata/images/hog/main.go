// Command hog is berth's memory-hungry test container: it allocates and
// touches $HOG_MB MiB (default: without end) one MiB at a time, reporting
// progress, then sleeps, so a memory limit below that gets it OOM-killed.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	limit := -1
	if v, err := strconv.Atoi(os.Getenv("HOG_MB")); err == nil {
		limit = v
	}
	var held [][]byte
	for i := 1; limit < 0 || i <= limit; i++ {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(j) // touch every page so the memory is really used
		}
		held = append(held, b)
		if i%16 == 0 {
			fmt.Printf("holding %d MiB\n", i)
		}
	}
	fmt.Printf("holding %d MiB, sleeping\n", len(held))
	for {
		time.Sleep(time.Hour)
	}
}
