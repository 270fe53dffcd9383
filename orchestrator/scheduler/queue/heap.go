package queue

import "container/heap"

// podHeap is a heap of queued pods that knows each pod's position, so a pod
// can be removed or re-ordered in O(log n).
type podHeap struct {
	items []*queuedPod
	less  func(a, b *queuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *podHeap) Push(x any) {
	p := x.(*queuedPod)
	p.index = len(h.items)
	h.items = append(h.items, p)
}
func (h *podHeap) Pop() any {
	last := len(h.items) - 1
	p := h.items[last]
	h.items[last] = nil
	h.items = h.items[:last]
	p.index = -1
	return p
}

func (h *podHeap) push(p *queuedPod)   { heap.Push(h, p) }
func (h *podHeap) pop() *queuedPod     { return heap.Pop(h).(*queuedPod) }
func (h *podHeap) peek() *queuedPod    { return h.items[0] }
func (h *podHeap) remove(p *queuedPod) { heap.Remove(h, p.index) }
func (h *podHeap) fix(p *queuedPod)    { heap.Fix(h, p.index) }
