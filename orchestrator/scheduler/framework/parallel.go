package framework

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
)

// Parallel calls fn(i) for each i in [0, n) on up to workers goroutines, in
// chunks of about √n, until done or ctx ends.
func Parallel(ctx context.Context, workers, n int, fn func(i int)) {
	if n <= 0 {
		return
	}
	if workers = min(workers, n); workers <= 1 {
		for i := 0; i < n && ctx.Err() == nil; i++ {
			fn(i)
		}
		return
	}
	chunk := max(1, int(math.Sqrt(float64(n))))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				end := int(next.Add(int64(chunk)))
				start := end - chunk
				if start >= n {
					return
				}
				for i := start; i < min(end, n); i++ {
					fn(i)
				}
			}
		})
	}
	wg.Wait()
}
