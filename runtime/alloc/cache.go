package alloc

import (
	"math"
	"sync"
	"time"
)

// The allocation cache answers a repeated request without a search. Its key
// is everything a placement depends on: the request (logical graph,
// buffer, floor, budget, fragmentation weight, routing), the occupancy
// (Occupancy.Hash: the held qubits and their buffers, maintained
// incrementally), the reserved qubits and the calibration epoch. Equal keys
// give equal answers because the search is deterministic; a cached
// placement is still validated against the current occupancy before use.
// Failures are cached too (a repeated infeasible request costs one lookup),
// except those cut by the wall-clock safety net. Eviction is FIFO.

type cacheKey struct {
	logical  uint64
	k        int
	buffer   int
	budget   int
	floor    uint64
	frag     uint64
	noRoute  bool
	occ      [2]uint64
	reserved uint64
	epoch    uint64
}

func makeCacheKey(req *Request, p *pattern, occ *Occupancy, resHash, epoch uint64) cacheKey {
	k := cacheKey{logical: p.key, k: req.Qubits, buffer: req.Buffer, budget: req.Budget,
		floor: math.Float64bits(req.Floor), frag: math.Float64bits(req.FragWeight), noRoute: req.NoRouting,
		reserved: resHash, epoch: epoch}
	if occ != nil {
		k.occ = occ.hash()
	}
	return k
}

type cacheEntry struct {
	pl  *Placement
	m32 []int32
	err error
	at  time.Time // when it was computed (only with a TTL)
}

type placementCache struct {
	mu    sync.Mutex
	size  int
	m     map[cacheKey]*cacheEntry
	fifo  []cacheKey
	head  int
	epoch uint64
	ttl   time.Duration // 0: entries live until evicted or a new epoch
}

func newPlacementCache(size int, ttl time.Duration) *placementCache {
	return &placementCache{size: size, ttl: ttl, m: make(map[cacheKey]*cacheEntry, size)}
}

func (c *placementCache) get(k cacheKey) (*cacheEntry, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	if ok && c.ttl > 0 && time.Since(e.at) > c.ttl {
		delete(c.m, k) // expired: its FIFO slot is reused when it comes round
		e, ok = nil, false
	}
	c.mu.Unlock()
	return e, ok
}

func (c *placementCache) put(k cacheKey, pl *Placement, err error) {
	e := &cacheEntry{pl: pl, err: err}
	if c.ttl > 0 {
		e.at = time.Now()
	}
	if pl != nil {
		e.m32 = make([]int32, len(pl.Mapping))
		for i, q := range pl.Mapping {
			e.m32[i] = int32(q)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if k.epoch != c.epoch {
		return
	}
	if _, ok := c.m[k]; ok {
		c.m[k] = e
		return
	}
	if len(c.fifo) < c.size {
		c.fifo = append(c.fifo, k)
	} else {
		delete(c.m, c.fifo[c.head])
		c.fifo[c.head] = k
		c.head = (c.head + 1) % c.size
	}
	c.m[k] = e
}

func (c *placementCache) drop(k cacheKey) {
	c.mu.Lock()
	delete(c.m, k) // its FIFO slot is reused when it comes round
	c.mu.Unlock()
}

// keepEpoch drops every entry of another epoch.
func (c *placementCache) keepEpoch(epoch uint64) {
	c.mu.Lock()
	if c.epoch != epoch {
		clear(c.m)
		c.fifo, c.head, c.epoch = c.fifo[:0], 0, epoch
	}
	c.mu.Unlock()
}

// logicalKey fingerprints a request's logical part from its raw fields.
func logicalKey(r *Request) uint64 {
	h := uint64(14695981039346656037)
	put := func(x uint64) {
		for i := 0; i < 8; i++ {
			h ^= x & 0xff
			h *= 1099511628211
			x >>= 8
		}
	}
	put(uint64(r.Qubits))
	put(uint64(r.Shape.Kind))
	put(uint64(r.Shape.Rows))
	put(uint64(r.Shape.Cols))
	if g := r.Graph; g != nil {
		put(uint64(len(g.Pairs)))
		for _, p := range g.Pairs {
			put(uint64(p.A))
			put(uint64(p.B))
			put(uint64(p.Count))
		}
		put(uint64(len(g.OneQ)))
		for _, c := range g.OneQ {
			put(uint64(c))
		}
		if g.Measured == nil {
			put(math.MaxUint64)
		} else {
			put(uint64(len(g.Measured)))
			for _, q := range g.Measured {
				put(uint64(q))
			}
		}
	}
	return h
}
